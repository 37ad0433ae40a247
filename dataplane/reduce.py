"""Merging of partial results: top-k search results and query rows, shared by the querynode
(a shard leader's own answer and those of the nodes holding its other segments) and the proxy
(shards of a collection).

- ``merge_search_results(results, nq, topk, ascending)``: per query, the best ``topk`` hits
  over every input (ascending: smaller scores first, as L2/HAMMING/JACCARD; else larger first),
  each primary key at most once (the best hit wins); ties keep the input order. ``fields_data``
  of the inputs (rows aligned with their ids) are gathered along.
- ``merge_query_results(results, pk_name, limit)``: rows of every input sorted by primary key,
  each key once (the first input wins), at most ``limit`` rows after ``offset``.
- ``take_field_data(sources, src, rows)``: the generic row gather both use; it handles every
  ``FieldData`` kind (scalars, JSON, arrays, all vector kinds) and ``valid_data``.
- ``top_distinct(key, pks, valid, topk)``: the vectorised per-query selection under both
  search merges (and the querynode's merge of its segments' hits).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from common.types import DataType
from dataplane.ids import ids_from_proto, ids_to_proto
from proto.milvus import schema_pb2

_NUMERIC_SCALARS = {"bool_data": np.bool_, "int_data": np.int32, "long_data": np.int64,
                    "float_data": np.float32, "double_data": np.float64, "timestamptz_data": np.int64}
_BYTES_VECTORS = {"binary_vector": lambda dim: dim // 8, "float16_vector": lambda dim: dim * 2,
                  "bfloat16_vector": lambda dim: dim * 2, "int8_vector": lambda dim: dim}


# ---------------------------------------------------------------------------------------- ids
def _is_str_ids(results: Sequence[schema_pb2.SearchResultData]) -> bool:
    return any(r.ids.WhichOneof("id_field") == "str_id" for r in results)


def _pk_dtype(str_ids: bool) -> DataType:
    """The primary-key type whose wire IDs are str_id (True) or int_id (False)."""
    return DataType.VARCHAR if str_ids else DataType.INT64


# ------------------------------------------------------------------------------ field gather
def _scalar_kind(fd: schema_pb2.FieldData) -> str | None:
    return fd.scalars.WhichOneof("data") if fd.WhichOneof("field") == "scalars" else None


def _vector_kind(fd: schema_pb2.FieldData) -> str | None:
    return fd.vectors.WhichOneof("data") if fd.WhichOneof("field") == "vectors" else None


def _rows_of(fd: schema_pb2.FieldData) -> tuple[str, np.ndarray]:
    """(kind, rows): the rows of ``fd`` as an array whose first axis is the row."""
    kind = _scalar_kind(fd)
    if kind is not None:
        data = getattr(fd.scalars, kind).data
        if kind in _NUMERIC_SCALARS:
            return kind, np.asarray(data, dtype=_NUMERIC_SCALARS[kind])
        return kind, _objects(data)
    kind = _vector_kind(fd)
    if kind is None:
        return "", np.empty(0, dtype=object)
    dim = int(fd.vectors.dim)
    if kind == "float_vector":
        flat = np.asarray(fd.vectors.float_vector.data, dtype=np.float32)
        return kind, flat.reshape(-1, dim) if dim else flat.reshape(0, 0)
    if kind in _BYTES_VECTORS:
        width = _BYTES_VECTORS[kind](dim)
        raw = np.frombuffer(getattr(fd.vectors, kind), dtype=np.uint8)
        return kind, raw.reshape(-1, width) if width else raw.reshape(0, 0)
    if kind == "sparse_float_vector":
        return kind, _objects(fd.vectors.sparse_float_vector.contents)
    if kind == "vector_array":
        return kind, _objects(fd.vectors.vector_array.data)
    return kind, np.empty(0, dtype=object)


def _objects(items: Any) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def _fill(out: schema_pb2.FieldData, template: schema_pb2.FieldData, kind: str, rows: np.ndarray) -> None:
    if template.WhichOneof("field") == "scalars":
        target = getattr(out.scalars, kind)
        target.SetInParent()
        if kind in _NUMERIC_SCALARS:
            target.data.extend(rows.tolist())
        else:
            target.data.extend(list(rows))
        if kind == "array_data":
            target.element_type = template.scalars.array_data.element_type
        return
    out.vectors.dim = template.vectors.dim
    if kind == "float_vector":
        out.vectors.float_vector.SetInParent()
        out.vectors.float_vector.data.extend(np.asarray(rows, dtype=np.float32).ravel().tolist())
    elif kind in _BYTES_VECTORS:
        setattr(out.vectors, kind, np.ascontiguousarray(rows, dtype=np.uint8).tobytes())
    elif kind == "sparse_float_vector":
        out.vectors.sparse_float_vector.dim = template.vectors.sparse_float_vector.dim
        out.vectors.sparse_float_vector.contents.extend(list(rows))
    elif kind == "vector_array":
        out.vectors.vector_array.dim = template.vectors.vector_array.dim
        out.vectors.vector_array.element_type = template.vectors.vector_array.element_type
        out.vectors.vector_array.data.extend(list(rows))


def take_field_data(sources: Sequence[schema_pb2.FieldData], src: np.ndarray, rows: np.ndarray) -> schema_pb2.FieldData:
    """A FieldData holding, for each i, row ``rows[i]`` of ``sources[src[i]]`` (all sources are
    the same field)."""
    template = sources[0]
    out = schema_pb2.FieldData(type=template.type, field_name=template.field_name, field_id=template.field_id,
                               is_dynamic=template.is_dynamic)
    parts = [_rows_of(fd) for fd in sources]
    kind = next((k for k, _ in parts if k), "")
    if not kind:
        return out
    nonempty = [r for k, r in parts if k == kind]
    sizes = np.array([len(r) if k == kind else 0 for k, r in parts], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    all_rows = np.concatenate(nonempty) if len(nonempty) > 1 else nonempty[0]
    picks = (starts[np.asarray(src, dtype=np.int64)] + np.asarray(rows, dtype=np.int64) if len(src)
             else np.empty(0, np.int64))
    _fill(out, template, kind, all_rows[picks])
    if any(len(fd.valid_data) for fd in sources):
        valid = np.concatenate([np.asarray(fd.valid_data, dtype=bool) if len(fd.valid_data)
                                else np.ones(int(n), dtype=bool) for fd, n in zip(sources, sizes)])
        out.valid_data.extend(valid[picks].tolist())
    return out


def _field_key(fd: schema_pb2.FieldData) -> str:
    return "$meta" if fd.is_dynamic else fd.field_name


# ------------------------------------------------------------------------------------- search
# Selections with at most this many entries (nq × candidates) are made in plain Python: NumPy's
# fixed cost per call (~5 µs here, ~20 calls) is most of the time of a one-query search.
SMALL_SELECTION = 512


def top_distinct(key: np.ndarray, pks: np.ndarray, valid: np.ndarray, topk: int,
                 offset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``key`` (nq, c), smaller first: the entries ranked ``offset`` to ``topk`` among
    the ``valid`` ones whose primary key (``pks``, same shape, any value in invalid slots as
    long as it compares with the others) was not ranked before in that row; ties keep column
    order. Returns ``(rows, cols, topks)`` as int64 arrays: the kept entries in output order
    (row by row, best first) and how many each row kept. Small selections run a loop, large
    ones are vectorised over all rows; both give the same answer."""
    if key.size <= SMALL_SELECTION:
        return _top_distinct_loop(key, pks, valid, topk, offset)
    nq, width = key.shape
    row_of = np.arange(nq)[:, None]
    order = np.argsort(np.where(valid, key, np.inf), axis=1, kind="stable")
    ranked_pks = pks[row_of, order]
    # An entry repeats a key when an entry ranked before it in its row has the same key: a stable
    # sort by key puts the better-ranked one first (invalid entries come last, after the valid).
    by_pk = np.argsort(ranked_pks, axis=1, kind="stable")
    grouped = ranked_pks[row_of, by_pk]
    repeated_grouped = np.zeros((nq, width), dtype=bool)
    repeated_grouped[:, 1:] = grouped[:, 1:] == grouped[:, :-1]
    repeated = np.empty_like(repeated_grouped)
    repeated[row_of, by_pk] = repeated_grouped
    keep = valid[row_of, order] & ~repeated
    rank = np.cumsum(keep, axis=1)
    chosen = keep & (rank > offset) & (rank <= topk)
    rows, positions = np.nonzero(chosen)
    return rows, order[rows, positions], np.count_nonzero(chosen, axis=1)


def _top_distinct_loop(key: np.ndarray, pks: np.ndarray, valid: np.ndarray, topk: int,
                       offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows: list[int] = []
    cols: list[int] = []
    topks: list[int] = []
    for q, (keys, keys_pk, keys_valid) in enumerate(zip(key.tolist(), pks.tolist(), valid.tolist())):
        seen: set[object] = set()
        ranked = 0
        for j in sorted((j for j, ok in enumerate(keys_valid) if ok), key=keys.__getitem__):
            if keys_pk[j] in seen:
                continue
            seen.add(keys_pk[j])
            ranked += 1
            if ranked > offset:
                rows.append(q)
                cols.append(j)
            if ranked == topk:
                break
        topks.append(max(0, min(ranked, topk) - offset))
    return (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), np.asarray(topks, dtype=np.int64))


def empty_search_result(nq: int, topk: int, str_ids: bool = False) -> schema_pb2.SearchResultData:
    """A result with no hits for ``nq`` queries."""
    out = schema_pb2.SearchResultData(num_queries=nq, top_k=topk, topks=[0] * nq)
    out.ids.CopyFrom(ids_to_proto(np.empty(0, dtype=object if str_ids else np.int64), _pk_dtype(str_ids)))
    return out


def merge_search_results(results: Sequence[schema_pb2.SearchResultData], nq: int, topk: int, ascending: bool,
                         *, offset: int = 0) -> schema_pb2.SearchResultData:
    """Per query, the best ``topk`` distinct primary keys over ``results`` (see module doc),
    then without the first ``offset`` hits. ``fields_data`` are gathered for the kept hits; a
    field missing from some input is dropped. A single input that is already a shard's
    reduced answer (sorted, distinct, at most ``topk`` per query) is returned as it is when
    there is no offset: the common one-shard case then costs nothing."""
    results = [r for r in results if r is not None]
    str_ids = _is_str_ids(results)
    if not results:
        return empty_search_result(nq, max(topk - offset, 0), str_ids)
    if len(results) == 1 and offset == 0 and len(results[0].topks) == nq and max(results[0].topks, default=0) <= topk:
        return results[0]
    scores, pks, srcs, rows, qs = [], [], [], [], []
    for i, r in enumerate(results):
        topks = list(r.topks)
        if len(topks) != nq:
            if sum(topks) == 0 and not len(r.scores):
                continue  # an input with no hits at all may carry no topks
            raise ValueError(f"search result {i} has {len(topks)} topks, expected {nq}")
        n = int(sum(topks))
        scores.append(np.asarray(r.scores, dtype=np.float32)[:n])
        pks.append(ids_from_proto(r.ids)[:n])
        srcs.append(np.full(n, i, dtype=np.int64))
        rows.append(np.arange(n, dtype=np.int64))
        qs.append(np.repeat(np.arange(nq, dtype=np.int64), topks))
    if not scores:
        return empty_search_result(nq, max(topk - offset, 0), str_ids)
    score_all = np.concatenate(scores)
    pk_all = np.concatenate(pks) if not str_ids else np.concatenate([p.astype(object) for p in pks])
    src_all, row_all, q_all = np.concatenate(srcs), np.concatenate(rows), np.concatenate(qs)

    # One row per query holding its entries in input order, padded with invalid slots.
    by_query = np.argsort(q_all, kind="stable")
    counts = np.bincount(q_all, minlength=nq)
    columns = np.arange(len(q_all)) - np.repeat(np.cumsum(counts) - counts, counts)
    width = int(counts.max()) if len(counts) else 0
    entry = np.full((nq, width), -1, dtype=np.int64)
    entry[q_all[by_query], columns] = by_query
    valid = entry >= 0
    key = np.where(valid, (score_all if ascending else -score_all)[entry], np.inf)
    pk_rows = np.where(valid, pk_all[entry], "" if str_ids else 0)
    kept_queries, kept_columns, topks_out = top_distinct(key, pk_rows, valid, topk, offset)
    picked = entry[kept_queries, kept_columns]

    out = schema_pb2.SearchResultData(num_queries=nq, top_k=max(topk - offset, 0), topks=topks_out.tolist())
    out.scores.extend(score_all[picked].tolist())
    out.ids.CopyFrom(ids_to_proto(pk_all[picked], _pk_dtype(str_ids)))
    out.output_fields.extend(results[0].output_fields)
    out.primary_field_name = results[0].primary_field_name
    out.all_search_count = sum(r.all_search_count for r in results)
    # Gather fields present in every input that had hits (by name / $meta).
    used = sorted(set(src_all.tolist()))
    if used:
        names = [_field_key(fd) for fd in results[used[0]].fields_data]
        for name in names:
            found = [next((fd for fd in results[i].fields_data if _field_key(fd) == name), None) for i in used]
            sources = [fd for fd in found if fd is not None]
            if len(sources) < len(used):
                continue
            remap = np.zeros(len(results), dtype=np.int64)
            remap[used] = np.arange(len(used))
            out.fields_data.append(take_field_data(sources, remap[src_all[picked]], row_all[picked]))
    elif results[0].fields_data:
        for fd in results[0].fields_data:
            out.fields_data.append(take_field_data([fd], np.empty(0, np.int64), np.empty(0, np.int64)))
    return out


# -------------------------------------------------------------------------------------- query
def row_count(fields_data: Sequence[schema_pb2.FieldData], pk_name: str) -> int:
    """How many rows a query result holds (the length of its primary-key field; 0 without)."""
    pk_fd = next((fd for fd in fields_data if fd.field_name == pk_name and not fd.is_dynamic), None)
    return 0 if pk_fd is None else len(_rows_of(pk_fd)[1])


def merge_query_results(results: Sequence[Sequence[schema_pb2.FieldData]], pk_name: str, limit: int = -1,
                        *, offset: int = 0) -> list[schema_pb2.FieldData]:
    """Rows of every input (each a list of FieldData of equal length, holding the field
    ``pk_name``), sorted by primary key, each key once (the first input's row wins), then
    ``[offset : offset + limit]`` (``limit < 0``: no limit). Inputs without fields are skipped."""
    inputs = [list(r) for r in results if r and len(r)]
    if not inputs:
        return []
    names = [_field_key(fd) for fd in inputs[0]]
    pk_parts, srcs, rows = [], [], []
    for i, fds in enumerate(inputs):
        pk_fd = next((fd for fd in fds if fd.field_name == pk_name and not fd.is_dynamic), None)
        if pk_fd is None:
            raise ValueError(f"query result {i} lacks the primary key field {pk_name}")
        _, pk_rows = _rows_of(pk_fd)
        pk_parts.append(pk_rows)
        srcs.append(np.full(len(pk_rows), i, dtype=np.int64))
        rows.append(np.arange(len(pk_rows), dtype=np.int64))
    str_pk = any(p.dtype == object for p in pk_parts)
    pk_all = np.concatenate([p.astype(object) for p in pk_parts]) if str_pk else np.concatenate(pk_parts)
    src_all, row_all = np.concatenate(srcs), np.concatenate(rows)
    order = np.lexsort((np.arange(len(pk_all)), pk_all)) if not str_pk else np.array(
        sorted(range(len(pk_all)), key=lambda j: pk_all[j]), dtype=np.int64)
    if len(order):
        sorted_pks = pk_all[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_pks[1:] != sorted_pks[:-1]
        order = order[first]
    stop = None if limit is None or limit < 0 else offset + limit
    order = order[offset:stop]
    out = []
    for name in names:
        found = [next((fd for fd in fds if _field_key(fd) == name), None) for fds in inputs]
        sources = [fd for fd in found if fd is not None]
        if len(sources) < len(inputs):
            continue
        out.append(take_field_data(sources, src_all[order], row_all[order]))
    return out
