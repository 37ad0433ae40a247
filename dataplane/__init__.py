"""The data plane shared by the roles that move rows: the proxy (writes, reads' reduce), the
datanode (flush, compaction), the querynode (segments, search) and the indexnode (reading a
segment's vectors). Every module works on the column layout of ``common/schema.py``:

- ``fielddata``: wire ``schema.FieldData`` ↔ columns (validating inserts, encoding results,
  the columns of an ``InsertMsg``);
- ``ids``: primary keys ↔ wire ``schema.IDs``;
- ``columns``: placeholder columns (buffers, empty results, NULL rows);
- ``segment_file``: the Parquet encoding of a sealed segment (insert log) and of deletes
  (delta log);
- ``delete_record``: the deletes a reader applies, with Milvus's MVCC delete semantics;
- ``reduce``: the merge of partial search / query results (top-k, each primary key once).

What belongs here: formats and algorithms on rows that more than one role must agree on. What
does not: infrastructure without knowledge of rows (config, errors, KV, object-storage
backends and their key layout, the broker, TSO, the expression language, vector indexes and
kernels: ``common/``), and a role's own state machines (``nodes/``, ``proxy/``). Nothing here
does I/O or RPC.
"""
