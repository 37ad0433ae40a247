"""Conversion between wire ``schema.FieldData`` / ``schema.IDs`` and the column layout of
``common/schema.py``. Conversions into columns validate: a wrong type, dimension, length or
row count raises ``ParameterInvalid`` naming the field, so nothing bad is ever written.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np

from common.errors import ParameterInvalid
from common.schema import CollectionSchema, FieldSchema
from common.types import DYNAMIC_FIELD_NAME, NUMPY_DTYPES, DataType
from proto.milvus import schema_pb2

_SCALAR_ONEOF = {
    DataType.BOOL: "bool_data",
    DataType.INT8: "int_data",
    DataType.INT16: "int_data",
    DataType.INT32: "int_data",
    DataType.INT64: "long_data",
    DataType.FLOAT: "float_data",
    DataType.DOUBLE: "double_data",
    DataType.VARCHAR: "string_data",
    DataType.STRING: "string_data",
    DataType.JSON: "json_data",
}
_INT_RANGES = {DataType.INT8: (-(2**7), 2**7 - 1), DataType.INT16: (-(2**15), 2**15 - 1),
               DataType.INT32: (-(2**31), 2**31 - 1)}


def column_from_field_data(field: FieldSchema, data: schema_pb2.FieldData, num_rows: int) -> np.ndarray:
    """The column of ``field`` held by ``data``, checked against the schema.

    Raises ParameterInvalid when the data type, vector dimension, string length, JSON text or
    row count does not match.
    """
    if field.nullable and len(data.valid_data):
        raise ParameterInvalid(f"field {field.name}: nullable fields are not supported yet")
    if field.dtype in (DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR):
        column = _vector_column(field, data)
    elif field.dtype in _SCALAR_ONEOF:
        column = _scalar_column(field, data)
    else:
        raise ParameterInvalid(f"field {field.name}: data type {field.dtype.name} is not supported yet")
    if len(column) != num_rows:
        raise ParameterInvalid(
            f"the num_rows ({num_rows}) of field data does not match the rows of field {field.name} ({len(column)})"
        )
    return column


def _scalar_column(field: FieldSchema, data: schema_pb2.FieldData) -> np.ndarray:
    oneof = _SCALAR_ONEOF[field.dtype]
    if data.WhichOneof("field") != "scalars" or data.scalars.WhichOneof("data") != oneof:
        raise ParameterInvalid(
            f"field {field.name}: expected {field.dtype.name} data, got {_describe(data)}"
        )
    values = getattr(data.scalars, oneof).data
    if field.dtype in NUMPY_DTYPES:
        column = np.asarray(values, dtype=np.int64 if oneof == "int_data" else NUMPY_DTYPES[field.dtype])
        if field.dtype in _INT_RANGES and len(column):
            low, high = _INT_RANGES[field.dtype]
            if column.min() < low or column.max() > high:
                raise ParameterInvalid(f"field {field.name}: value out of range of {field.dtype.name}")
        return column.astype(NUMPY_DTYPES[field.dtype], copy=False)
    column = np.empty(len(values), dtype=object)
    if field.dtype == DataType.JSON:
        for i, raw in enumerate(values):
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise ParameterInvalid(f"field {field.name}: row {i} is not valid JSON") from None
            if field.is_dynamic and not isinstance(parsed, dict):
                raise ParameterInvalid(f"dynamic field {DYNAMIC_FIELD_NAME}: row {i} must be a JSON object")
            column[i] = bytes(raw)
        return column
    column[:] = list(values)
    if field.max_length:
        too_long = next((s for s in values if len(s) > field.max_length), None)
        if too_long is not None:
            raise ParameterInvalid(
                f"field {field.name}: length of varchar {len(too_long)} exceeds max length {field.max_length}"
            )
    return column


def _vector_column(field: FieldSchema, data: schema_pb2.FieldData) -> np.ndarray:
    kind = data.vectors.WhichOneof("data") if data.WhichOneof("field") == "vectors" else None
    want = "float_vector" if field.dtype == DataType.FLOAT_VECTOR else "binary_vector"
    if kind != want:
        raise ParameterInvalid(f"field {field.name}: expected {field.dtype.name} data, got {_describe(data)}")
    if data.vectors.dim != field.dim:
        raise ParameterInvalid(
            f"the dim ({data.vectors.dim}) of field data does not match the dim of field {field.name} ({field.dim})"
        )
    if field.dtype == DataType.FLOAT_VECTOR:
        flat = np.asarray(data.vectors.float_vector.data, dtype=np.float32)
        if flat.size % field.dim:
            raise ParameterInvalid(f"field {field.name}: {flat.size} floats is not a multiple of dim {field.dim}")
        if not np.isfinite(flat).all():
            raise ParameterInvalid(f"field {field.name}: vectors must not contain NaN or infinity")
        return flat.reshape(-1, field.dim)
    width = field.dim // 8
    raw = np.frombuffer(data.vectors.binary_vector, dtype=np.uint8)
    if raw.size % width:
        raise ParameterInvalid(f"field {field.name}: {raw.size} bytes is not a multiple of dim/8 = {width}")
    return raw.reshape(-1, width)


def _describe(data: schema_pb2.FieldData) -> str:
    kind = data.WhichOneof("field")
    if kind == "scalars":
        return data.scalars.WhichOneof("data") or "empty scalars"
    if kind == "vectors":
        return data.vectors.WhichOneof("data") or "empty vectors"
    return kind or "no data"


def field_data_from_column(field: FieldSchema, column: np.ndarray) -> schema_pb2.FieldData:
    """The wire FieldData of ``column`` (every oneof set, even for zero rows)."""
    out = schema_pb2.FieldData(type=int(field.dtype), field_name=field.name, field_id=field.field_id,
                               is_dynamic=field.is_dynamic)
    if field.dtype == DataType.FLOAT_VECTOR:
        out.vectors.dim = field.dim
        out.vectors.float_vector.data.extend(np.asarray(column, dtype=np.float32).ravel())
    elif field.dtype == DataType.BINARY_VECTOR:
        out.vectors.dim = field.dim
        out.vectors.binary_vector = np.ascontiguousarray(column, dtype=np.uint8).tobytes()
    else:
        target = getattr(out.scalars, _SCALAR_ONEOF[field.dtype])
        target.SetInParent()
        if field.dtype in NUMPY_DTYPES:
            target.data.extend(column.tolist())
        else:
            target.data.extend(list(column))
    return out


def columns_from_insert(schema: CollectionSchema, fields_data: Sequence[schema_pb2.FieldData],
                        num_rows: int, generated_pks: np.ndarray | None) -> dict[str, np.ndarray]:
    """Columns of an insert, keyed by field name, for every field of ``schema``.

    ``generated_pks`` is used for an autoID primary key (which the request must then not carry).
    A missing dynamic ``$meta`` column becomes ``{}`` per row. Raises ParameterInvalid for an
    unknown, duplicate or missing field and for any mismatch found by ``column_from_field_data``.
    """
    by_name: dict[str, schema_pb2.FieldData] = {}
    for data in fields_data:
        name = DYNAMIC_FIELD_NAME if data.is_dynamic else data.field_name
        if name in by_name:
            raise ParameterInvalid(f"duplicated field name {name} in insert data")
        by_name[name] = data
    columns: dict[str, np.ndarray] = {}
    for field in schema.fields:
        data = by_name.pop(field.name, None)
        if field.is_primary and field.auto_id:
            if data is not None:
                raise ParameterInvalid(
                    f"the primary key field {field.name} is auto-generated (autoID=true): do not pass it"
                )
            assert generated_pks is not None
            columns[field.name] = generated_pks
            continue
        if data is None:
            if field.is_dynamic:
                column = np.empty(num_rows, dtype=object)
                column[:] = [b"{}"] * num_rows
                columns[field.name] = column
                continue
            raise ParameterInvalid(f"insert data is missing field {field.name}")
        columns[field.name] = column_from_field_data(field, data, num_rows)
    if by_name:
        unknown = ", ".join(sorted(by_name))
        hint = "" if schema.enable_dynamic_field else " (the collection has no dynamic field)"
        raise ParameterInvalid(f"field(s) {unknown} not in the collection schema{hint}")
    return columns


def ids_to_proto(pks: np.ndarray | Iterable, dtype: DataType) -> schema_pb2.IDs:
    """Primary keys as wire IDs (int_id for Int64, str_id for VarChar)."""
    ids = schema_pb2.IDs()
    if dtype == DataType.INT64:
        ids.int_id.SetInParent()
        ids.int_id.data.extend(np.asarray(pks, dtype=np.int64).tolist())
    else:
        ids.str_id.SetInParent()
        ids.str_id.data.extend(list(pks))
    return ids


def ids_from_proto(ids: schema_pb2.IDs) -> np.ndarray:
    """Wire IDs as a column: int64 array or object array of str."""
    if ids.WhichOneof("id_field") == "str_id":
        column = np.empty(len(ids.str_id.data), dtype=object)
        column[:] = list(ids.str_id.data)
        return column
    return np.asarray(ids.int_id.data, dtype=np.int64)
