"""Parquet files of a sealed segment (insert log) and of deletes (delta log).

Segment file: one column per field present in ``columns`` (in schema order) plus ``$ts``:

- FLOAT_VECTOR -> ``fixed_size_binary(dim * 4)`` holding the row's little-endian float32 values,
  BINARY_VECTOR -> ``fixed_size_binary(dim // 8)``. This is how Milvus's own Parquet binlogs store
  vectors, and it reads back as one flat buffer: a 100k x 128 column decodes in ~20 ms where
  ``FixedSizeList<float32>`` takes ~150-230 ms (nested-level decoding of every float).
- VARCHAR -> ``string``; JSON -> ``binary``; BOOL / INT* / FLOAT / DOUBLE / ``$ts`` (uint64) natively.
- ARRAY -> ``list<element>`` (element ``bool``, ``int8``..``int64``, ``float``, ``double`` or
  ``string``).
- A nullable field is one Arrow column whose nulls are the rows its validity column
  (``x$valid``) marks False; reading gives both columns back.
- Compression: zstd for every column except vectors, which are written uncompressed: float
  vectors barely compress (~9 %) and zstd made reading them 4x slower.

``read_segment_file`` returns exactly the column layout of ``common/schema.py``. It decodes
``READ_BATCH_ROWS`` rows at a time straight into one preallocated NumPy array per fixed-width
column (vectors, numbers), so reading a file needs the file plus the columns and a batch, not a
second whole decoded copy (decoding a 1M x 128 vector column in one piece peaked at the
columns' size again in Arrow buffers, which Arrow's allocator then kept). Types the layout does
not define (FLOAT16/BFLOAT16/SPARSE vectors) raise ``Unimplemented``; unknown column names raise
``FieldNotFound``.

Delta file: columns ``pk`` (int64 or string), ``ts`` (uint64) and ``partition`` (int64; 0 = every
partition).
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from common.errors import FieldNotFound, ParameterInvalid, Unimplemented
from common.schema import CollectionSchema, FieldSchema, valid_column
from common.types import NUMPY_DTYPES, STRING_TYPES, TIMESTAMP_COLUMN, DataType

COMPRESSION = "zstd"
VECTOR_COMPRESSION = "none"
FORMAT_VERSION = b"1"
READ_BATCH_ROWS = 65536
_META_KEY = b"milvuspy.segment"

_ARROW_SCALARS = {
    DataType.BOOL: pa.bool_(), DataType.INT8: pa.int8(), DataType.INT16: pa.int16(),
    DataType.INT32: pa.int32(), DataType.INT64: pa.int64(), DataType.FLOAT: pa.float32(),
    DataType.DOUBLE: pa.float64(),
}


def write_segment_file(columns: Mapping[str, np.ndarray], schema: CollectionSchema) -> bytes:
    """Encode the columns (layout of ``common/schema.py``; only those present) as Parquet."""
    present = [f for f in schema.fields if f.name in columns]
    names = [f.name for f in present]
    if TIMESTAMP_COLUMN in columns:
        names.append(TIMESTAMP_COLUMN)
    valids = {valid_column(f.name): f.name for f in present if f.nullable}
    unknown = set(columns) - set(names) - set(valids)
    if unknown:
        raise FieldNotFound(f"field not found[field={sorted(unknown)[0]}]")
    arrays, fields = [], []
    lengths = set()
    for name in names:
        valid = columns.get(valid_column(name))
        arr = column_to_arrow(columns[name], _field(schema, name), None if valid is None else np.asarray(valid, bool))
        lengths.add(len(arr))
        arrays.append(arr)
        fields.append(pa.field(name, arr.type, nullable=True))
    if len(lengths) > 1:
        raise ParameterInvalid(f"columns have different lengths: {sorted(lengths)}")
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, {_META_KEY: FORMAT_VERSION}))
    vec = {f.name for f in present if f.is_vector}
    return _write(table, vec)


def read_segment_file(data: bytes | memoryview | pa.Buffer, schema: CollectionSchema,
                      fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Decode a segment file; ``fields`` picks columns (default: every column in the file that
    the schema knows, plus ``$ts``). A requested column missing from the file raises
    FieldNotFound."""
    source = pa.BufferReader(data)
    if fields is None:
        available = pq.read_schema(source).names
        wanted = [n for n in available if n == TIMESTAMP_COLUMN or schema.field(n) is not None]
        source = pa.BufferReader(data)
    else:
        wanted = list(fields)
        available = set(pq.read_schema(source).names)
        source = pa.BufferReader(data)
        for name in wanted:
            if name not in available:
                raise FieldNotFound(f"field not found[field={name}]")
    parquet = pq.ParquetFile(source)
    num_rows = parquet.metadata.num_rows
    if num_rows == 0:
        return _decode(parquet.read(columns=wanted, use_threads=True), wanted, schema)
    filled = 0
    out: dict[str, np.ndarray] = {}
    object_parts: dict[str, list[np.ndarray]] = {}
    for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS, columns=wanted, use_threads=True):
        part = _decode(batch, wanted, schema)
        rows = batch.num_rows
        for name, values in part.items():
            if values.dtype == object:
                object_parts.setdefault(name, []).append(values)
                continue
            if name not in out:
                out[name] = np.empty((num_rows, *values.shape[1:]), dtype=values.dtype)
            out[name][filled:filled + rows] = values
        filled += rows
    for name, parts in object_parts.items():
        out[name] = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return {name: out[name] for name in part}  # the layout's column order


def _decode(table: pa.Table | pa.RecordBatch, wanted: Sequence[str],
            schema: CollectionSchema) -> dict[str, np.ndarray]:
    """The columns ``wanted`` of ``table`` (a whole file or one batch of it) in the layout."""
    out: dict[str, np.ndarray] = {}
    for name in wanted:
        column = table.column(name)
        arr = _single_chunk(column) if isinstance(column, pa.ChunkedArray) else column
        f = _field(schema, name)
        if f is not None and f.nullable:
            out[valid_column(name)] = (np.ones(len(arr), dtype=bool) if arr.null_count == 0
                                       else arr.is_valid().to_numpy(zero_copy_only=False))
        out[name] = column_from_arrow(arr, f)
    return out


def write_delta_file(pks: np.ndarray, timestamps: np.ndarray, partition_ids: np.ndarray | None = None) -> bytes:
    """Encode deletes: primary keys (int64, or object array of str), their timestamps and the
    partition each applies to (0: every partition; all 0 when ``partition_ids`` is None)."""
    pks = np.asarray(pks)
    ts = np.asarray(timestamps, dtype=np.uint64)
    parts = np.zeros(len(ts), dtype=np.int64) if partition_ids is None else np.asarray(partition_ids, np.int64)
    if pks.shape != ts.shape or pks.ndim != 1 or parts.shape != ts.shape:
        raise ParameterInvalid(f"pks {pks.shape}, timestamps {ts.shape} and partition ids {parts.shape} "
                               "must be 1-D and equal")
    if pks.dtype.kind in "iu":
        pk_arr = pa.array(pks.astype(np.int64, copy=False))
    else:
        pk_arr = pa.array(pks, type=pa.string())
    table = pa.table({"pk": pk_arr, "ts": pa.array(ts), "partition": pa.array(parts)})
    return _write(table, set())


def read_delta_file(data: bytes | memoryview | pa.Buffer) -> tuple[np.ndarray, np.ndarray]:
    """Decode a delta file into (pks: int64 or object-of-str, timestamps: uint64)."""
    pks, ts, _ = read_delta_records(data)
    return pks, ts


def read_delta_records(data: bytes | memoryview | pa.Buffer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode a delta file into (pks, timestamps, partition ids: int64, 0 = every partition)."""
    table = pq.read_table(pa.BufferReader(data), use_threads=False)
    pk = _single_chunk(table.column("pk"))
    ts = _single_chunk(table.column("ts")).to_numpy(zero_copy_only=False).astype(np.uint64)
    if "partition" in table.column_names:
        parts = _single_chunk(table.column("partition")).to_numpy(zero_copy_only=False).astype(np.int64)
    else:  # written before deletes carried partitions: they applied to every partition
        parts = np.zeros(len(ts), dtype=np.int64)
    if pa.types.is_integer(pk.type):
        return pk.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), ts, parts
    return pk.to_numpy(zero_copy_only=False).astype(object, copy=False), ts, parts


# ----------------------------------------------------------------------------------------------
def _write(table: pa.Table, vector_names: set[str]) -> bytes:
    names = table.column_names
    sink = io.BytesIO()  # getvalue() hands over its buffer; Arrow's to_pybytes() would copy
    pq.write_table(
        table, sink,
        compression={n: VECTOR_COMPRESSION if n in vector_names else COMPRESSION for n in names},
        use_dictionary=[n for n in names if n not in vector_names],
        write_statistics=[n for n in names if n not in vector_names],
        row_group_size=max(1, table.num_rows),
    )
    return sink.getvalue()


def _field(schema: CollectionSchema, name: str) -> FieldSchema | None:
    """The field of ``name``; None for ``$ts``."""
    if name == TIMESTAMP_COLUMN:
        return None
    f = schema.field(name)
    if f is None:
        raise FieldNotFound(f"field not found[field={name}]")
    return f


def _vector_width(f: FieldSchema) -> int:
    """Bytes per row of a vector field."""
    return f.dim * 4 if f.dtype == DataType.FLOAT_VECTOR else f.dim // 8


def column_to_arrow(col: Any, f: FieldSchema | None, valid: np.ndarray | None = None) -> pa.Array:
    """The Arrow array of a column (of field ``f``; None: ``$ts``) as the segment file stores it
    (see the module doc); ``valid`` (nullable fields) gives its nulls. Also the encoding of an
    InsertMsg's columns (``dataplane/insert_msg.py``)."""
    if f is None:
        return pa.array(np.asarray(col, dtype=np.uint64))
    mask = None if valid is None or valid.all() else ~valid
    dtype = f.dtype
    if dtype == DataType.ARRAY:
        return _list_to_arrow(col, f, mask)
    if dtype in (DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR):
        np_type = np.float32 if dtype == DataType.FLOAT_VECTOR else np.uint8
        per_row = f.dim if dtype == DataType.FLOAT_VECTOR else f.dim // 8
        arr = np.ascontiguousarray(col, dtype=np_type)
        if arr.ndim != 2 or arr.shape[1] != per_row:
            raise ParameterInvalid(
                f"column {f.name} has shape {arr.shape}, expected (n, {per_row})")
        return pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(_vector_width(f)), arr.shape[0], [None, pa.py_buffer(arr)])
    if dtype in STRING_TYPES:
        return pa.array(np.asarray(col, dtype=object), type=pa.string(), mask=mask)
    if dtype == DataType.JSON:
        return pa.array(np.asarray(col, dtype=object), type=pa.binary(), mask=mask)
    if dtype in _ARROW_SCALARS:
        return pa.array(np.asarray(col, dtype=NUMPY_DTYPES[dtype]), type=_ARROW_SCALARS[dtype], mask=mask)
    raise Unimplemented(f"data type {dtype.name} of field {f.name} is not supported in segments")


def _element_arrow_type(f: FieldSchema) -> pa.DataType:
    return pa.string() if f.element_type in STRING_TYPES else _ARROW_SCALARS[f.element_type]


def _list_to_arrow(col: Any, f: FieldSchema, mask: np.ndarray | None) -> pa.Array:
    """An Array column (object array of 1-D arrays, None at NULL rows) as ``list<element>``."""
    cells = [() if c is None else c for c in col]
    offsets = np.zeros(len(cells) + 1, dtype=np.int32)
    np.cumsum([len(c) for c in cells], out=offsets[1:])
    element = _element_arrow_type(f)
    if f.element_type in STRING_TYPES:
        flat = pa.array([v for c in cells for v in c], type=element)
    else:
        parts = [np.asarray(c, dtype=NUMPY_DTYPES[f.element_type]) for c in cells if len(c)]
        flat = pa.array(np.concatenate(parts) if parts else np.empty(0, NUMPY_DTYPES[f.element_type]),
                        type=element)
    return pa.ListArray.from_arrays(pa.array(offsets), flat, mask=None if mask is None else pa.array(mask))


def _list_to_numpy(arr: pa.ListArray, f: FieldSchema) -> np.ndarray:
    """``list<element>`` as an object column of 1-D arrays (views of one flat array), None at nulls."""
    n = len(arr)
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    values = arr.values
    if f.element_type in STRING_TYPES:
        flat = values.to_numpy(zero_copy_only=False).astype(object, copy=False)
    else:
        flat = values.to_numpy(zero_copy_only=False).astype(NUMPY_DTYPES[f.element_type], copy=False)
    offsets = arr.offsets.to_numpy(zero_copy_only=False).tolist()
    valid = arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else None
    for i in range(n):
        if valid is None or valid[i]:
            out[i] = flat[offsets[i]:offsets[i + 1]]
    return out


def _single_chunk(col: pa.ChunkedArray) -> pa.Array:
    if col.num_chunks == 1:
        return col.chunk(0)
    if col.num_chunks == 0:
        return pa.array([], type=col.type)
    return col.combine_chunks()


def column_from_arrow(arr: pa.Array, f: FieldSchema | None) -> np.ndarray:
    """The value column (layout of ``common/schema.py``) of an array ``column_to_arrow`` made;
    nulls become placeholders (a nullable field's validity is ``arr.is_valid()``)."""
    if f is None:
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.uint64)
    dtype = f.dtype
    if dtype in (DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR):
        np_type = np.float32 if dtype == DataType.FLOAT_VECTOR else np.uint8
        per_row = f.dim if dtype == DataType.FLOAT_VECTOR else f.dim // 8
        n = len(arr)
        if n == 0:
            return np.empty((0, per_row), dtype=np_type)
        width = _vector_width(f)
        values = np.frombuffer(arr.buffers()[1], dtype=np.uint8, count=n * width,
                               offset=arr.offset * width)
        return values.view(np_type).reshape(n, per_row)
    if dtype == DataType.ARRAY:
        return _list_to_numpy(arr, f)
    if dtype in STRING_TYPES or dtype == DataType.JSON:
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
    if dtype in _ARROW_SCALARS:
        if arr.null_count:
            arr = arr.fill_null(False if dtype == DataType.BOOL else 0)
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=NUMPY_DTYPES[dtype])
    raise Unimplemented(f"data type {dtype.name} of field {f.name} is not supported in segments")
