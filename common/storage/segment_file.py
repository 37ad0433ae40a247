"""Parquet files of a sealed segment (insert log) and of deletes (delta log).

Segment file: one column per field present in ``columns`` (in schema order) plus ``$ts``:

- FLOAT_VECTOR -> ``fixed_size_binary(dim * 4)`` holding the row's little-endian float32 values,
  BINARY_VECTOR -> ``fixed_size_binary(dim // 8)``. This is how Milvus's own Parquet binlogs store
  vectors, and it reads back as one flat buffer: a 100k x 128 column decodes in ~20 ms where
  ``FixedSizeList<float32>`` takes ~150-230 ms (nested-level decoding of every float).
- VARCHAR -> ``string``; JSON -> ``binary``; BOOL / INT* / FLOAT / DOUBLE / ``$ts`` (uint64) natively.
- Compression: zstd for every column except vectors, which are written uncompressed: float
  vectors barely compress (~9 %) and zstd made reading them 4x slower.

``read_segment_file`` returns exactly the column layout of ``common/schema.py``. Fixed-width
columns (vectors, numbers) are zero-copy views of the decoded Arrow buffers and therefore
read-only. Types the layout does not define (ARRAY, FLOAT16/BFLOAT16/SPARSE vectors) raise
``Unimplemented``; unknown column names raise ``FieldNotFound``.

Delta file: columns ``pk`` (int64 or string) and ``ts`` (uint64).
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from common.errors import FieldNotFound, ParameterInvalid, Unimplemented
from common.schema import CollectionSchema, FieldSchema
from common.types import NUMPY_DTYPES, STRING_TYPES, TIMESTAMP_COLUMN, DataType

COMPRESSION = "zstd"
VECTOR_COMPRESSION = "none"
FORMAT_VERSION = b"1"
_META_KEY = b"milvuspy.segment"

_ARROW_SCALARS = {
    DataType.BOOL: pa.bool_(), DataType.INT8: pa.int8(), DataType.INT16: pa.int16(),
    DataType.INT32: pa.int32(), DataType.INT64: pa.int64(), DataType.FLOAT: pa.float32(),
    DataType.DOUBLE: pa.float64(),
}


def write_segment_file(columns: Mapping[str, np.ndarray], schema: CollectionSchema) -> bytes:
    """Encode the columns (layout of ``common/schema.py``; only those present) as Parquet."""
    names = [f.name for f in schema.fields if f.name in columns]
    if TIMESTAMP_COLUMN in columns:
        names.append(TIMESTAMP_COLUMN)
    unknown = set(columns) - set(names)
    if unknown:
        raise FieldNotFound(f"field not found[field={sorted(unknown)[0]}]")
    arrays, fields = [], []
    lengths = set()
    for name in names:
        arr = _to_arrow(columns[name], _field(schema, name))
        lengths.add(len(arr))
        arrays.append(arr)
        fields.append(pa.field(name, arr.type, nullable=True))
    if len(lengths) > 1:
        raise ParameterInvalid(f"columns have different lengths: {sorted(lengths)}")
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, {_META_KEY: FORMAT_VERSION}))
    vec = {n for n in names if n != TIMESTAMP_COLUMN and _field(schema, n).is_vector}
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
    table = pq.read_table(source, columns=wanted, use_threads=True)
    return {name: _to_numpy(_single_chunk(table.column(name)), _field(schema, name))
            for name in wanted}


def write_delta_file(pks: np.ndarray, timestamps: np.ndarray) -> bytes:
    """Encode deletes: primary keys (int64, or object array of str) and their timestamps."""
    pks = np.asarray(pks)
    ts = np.asarray(timestamps, dtype=np.uint64)
    if pks.shape != ts.shape or pks.ndim != 1:
        raise ParameterInvalid(f"pks {pks.shape} and timestamps {ts.shape} must be 1-D and equal")
    if pks.dtype.kind in "iu":
        pk_arr = pa.array(pks.astype(np.int64, copy=False))
    else:
        pk_arr = pa.array(pks, type=pa.string())
    table = pa.table({"pk": pk_arr, "ts": pa.array(ts)})
    return _write(table, set())


def read_delta_file(data: bytes | memoryview | pa.Buffer) -> tuple[np.ndarray, np.ndarray]:
    """Decode a delta file into (pks: int64 or object-of-str, timestamps: uint64)."""
    table = pq.read_table(pa.BufferReader(data), use_threads=False)
    pk = _single_chunk(table.column("pk"))
    ts = _single_chunk(table.column("ts")).to_numpy(zero_copy_only=False).astype(np.uint64)
    if pa.types.is_integer(pk.type):
        return pk.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), ts
    return pk.to_numpy(zero_copy_only=False).astype(object, copy=False), ts


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


def _to_arrow(col: Any, f: FieldSchema | None) -> pa.Array:
    if f is None:
        return pa.array(np.asarray(col, dtype=np.uint64))
    dtype = f.dtype
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
        return pa.array(np.asarray(col, dtype=object), type=pa.string())
    if dtype == DataType.JSON:
        return pa.array(np.asarray(col, dtype=object), type=pa.binary())
    if dtype in _ARROW_SCALARS:
        return pa.array(np.asarray(col, dtype=NUMPY_DTYPES[dtype]), type=_ARROW_SCALARS[dtype])
    raise Unimplemented(f"data type {dtype.name} of field {f.name} is not supported in segments")


def _single_chunk(col: pa.ChunkedArray) -> pa.Array:
    if col.num_chunks == 1:
        return col.chunk(0)
    if col.num_chunks == 0:
        return pa.array([], type=col.type)
    return col.combine_chunks()


def _to_numpy(arr: pa.Array, f: FieldSchema | None) -> np.ndarray:
    if f is None:
        return arr.to_numpy(zero_copy_only=False).astype(np.uint64, copy=False)
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
    if dtype in STRING_TYPES or dtype == DataType.JSON:
        return arr.to_numpy(zero_copy_only=False).astype(object, copy=False)
    if dtype in _ARROW_SCALARS:
        return arr.to_numpy(zero_copy_only=False).astype(NUMPY_DTYPES[dtype], copy=False)
    raise Unimplemented(f"data type {dtype.name} of field {f.name} is not supported in segments")
