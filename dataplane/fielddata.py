"""Conversion between wire ``schema.FieldData`` and the column layout of ``common/schema.py``
(``columns_from_insert``, ``field_data_from_column``; the rows of an InsertMsg are encoded by
``insert_msg.py``). Conversions into columns validate: a wrong type, dimension, length, array
capacity, NULL in a non-nullable field or row count raises ``ParameterInvalid`` naming the
field, so nothing bad is ever written.

NULLs and defaults (as Milvus): ``valid_data`` marks the non-NULL rows; the values are either
compacted (only the non-NULL rows, as pymilvus sends them) or full length with placeholders (as
``field_data_from_column`` writes them). A NULL row of a field with a default value gets the
default (and is then not NULL). A field absent from an insert is all NULL / all default when it
is nullable / has a default, else an error.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from common.errors import ParameterInvalid
from common.schema import CollectionSchema, FieldSchema, valid_column
from common.schema_proto import INT_RANGES, wire_data_type
from common.types import DYNAMIC_FIELD_NAME, NUMPY_DTYPES, DataType
from dataplane.columns import empty_column
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
    DataType.ARRAY: "array_data",
}
# The ScalarField oneof holding the elements of an Array of each element type.
_ELEMENT_ONEOF = {
    DataType.BOOL: "bool_data", DataType.INT8: "int_data", DataType.INT16: "int_data",
    DataType.INT32: "int_data", DataType.INT64: "long_data", DataType.FLOAT: "float_data",
    DataType.DOUBLE: "double_data", DataType.VARCHAR: "string_data",
}
# Placeholders of NULL rows in a FieldData of results (full length, with valid_data).
_NULL_PLACEHOLDER: dict[DataType, str | bytes] = {DataType.VARCHAR: "", DataType.STRING: "", DataType.JSON: b""}


def field_columns(field: FieldSchema, data: schema_pb2.FieldData | None, num_rows: int) -> dict[str, np.ndarray]:
    """The columns of ``field`` held by ``data``: its value column, plus its validity column
    (``valid_column(name)``) when the field is nullable; see the module doc for NULLs, defaults
    and an absent field (``data`` None; the dynamic field then holds ``{}`` per row).

    Raises ParameterInvalid when the data type, vector dimension, string length, array element
    type or capacity, JSON text, validity or row count does not match.
    """
    if data is None:
        return _absent_columns(field, num_rows)
    valid = np.asarray(data.valid_data, dtype=bool) if len(data.valid_data) else None
    if valid is not None:
        if len(valid) != num_rows:
            raise ParameterInvalid(f"the num_rows ({num_rows}) of field data does not match the length of "
                                   f"valid_data of field {field.name} ({len(valid)})")
        if valid.all():
            valid = None
        elif not field.nullable and field.default_value is None:
            raise ParameterInvalid(f"field {field.name} is not nullable but the data holds NULL values")
    if field.dtype in (DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR):
        column = _vector_column(field, data)
    elif field.dtype in _SCALAR_ONEOF:
        column = _scalar_column(field, data, valid)
    else:
        raise ParameterInvalid(f"field {field.name}: data type {field.dtype.name} is not supported yet")
    expected = num_rows if valid is None else int(np.count_nonzero(valid))
    if len(column) != expected:
        what = "rows" if valid is None else "non-null rows"
        raise ParameterInvalid(
            f"the num_rows ({num_rows}) of field data does not match the rows of field {field.name} ({len(column)}"
            f" values for {expected} {what})"
        )
    if valid is not None:
        column = _expand(field, column, valid)
        if field.default_value is not None:
            column[~valid] = field.default_value
            valid = None
    out = {field.name: column}
    if field.nullable:
        out[valid_column(field.name)] = np.ones(num_rows, dtype=bool) if valid is None else valid
    return out


def _absent_columns(field: FieldSchema, num_rows: int) -> dict[str, np.ndarray]:
    if field.is_dynamic:
        column = np.empty(num_rows, dtype=object)
        column[:] = [b"{}"] * num_rows
        return {field.name: column}
    if not field.nullable and field.default_value is None:
        raise ParameterInvalid(f"insert data is missing field {field.name}")
    column = empty_column(field, num_rows)
    if field.default_value is not None:
        column[:] = field.default_value
    out = {field.name: column}
    if field.nullable:
        out[valid_column(field.name)] = np.full(num_rows, field.default_value is not None, dtype=bool)
    return out


def _expand(field: FieldSchema, compact: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """A full-length column with the ``compact`` values at the valid rows."""
    out = empty_column(field, len(valid))
    out[valid] = compact
    return out


def _scalar_column(field: FieldSchema, data: schema_pb2.FieldData, valid: np.ndarray | None) -> np.ndarray:
    """The values of a scalar FieldData; with ``valid``, a full-length FieldData is reduced to
    its valid rows (a compacted one is returned as it is)."""
    oneof = _SCALAR_ONEOF[field.dtype]
    if data.WhichOneof("field") != "scalars" or data.scalars.WhichOneof("data") != oneof:
        raise ParameterInvalid(
            f"field {field.name}: expected {field.dtype.name} data, got {_describe(data)}"
        )
    values = getattr(data.scalars, oneof).data
    keep = valid if valid is not None and len(values) == len(valid) else None
    if field.dtype in NUMPY_DTYPES:
        column = np.asarray(values, dtype=np.int64 if oneof == "int_data" else NUMPY_DTYPES[field.dtype])
        if keep is not None:
            column = column[keep]
        if field.dtype in INT_RANGES and field.dtype != DataType.INT64 and len(column):
            low, high = INT_RANGES[field.dtype]
            if column.min() < low or column.max() > high:
                raise ParameterInvalid(f"field {field.name}: value out of range of {field.dtype.name}")
        return column.astype(NUMPY_DTYPES[field.dtype], copy=False)
    if keep is not None:
        values = [values[i] for i in np.flatnonzero(keep).tolist()]
    if field.dtype == DataType.ARRAY:
        return _array_column(field, data.scalars.array_data.element_type, values)
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


def _array_column(field: FieldSchema, element_type: int, cells: Sequence[schema_pb2.ScalarField]) -> np.ndarray:
    """Array cells as an object column of 1-D arrays of the element type."""
    etype = field.element_type
    if element_type and element_type != etype:
        raise ParameterInvalid(f"field {field.name}: expected Array of {etype.name}, got element type "
                               f"{_type_name(element_type)}")
    oneof = _ELEMENT_ONEOF[etype]
    dtype = NUMPY_DTYPES.get(etype)
    column = np.empty(len(cells), dtype=object)
    for i, cell in enumerate(cells):
        kind = cell.WhichOneof("data")
        if kind is not None and kind != oneof:
            raise ParameterInvalid(f"field {field.name}: row {i} holds {kind}, expected {etype.name} elements")
        values = getattr(cell, oneof).data
        if len(values) > field.max_capacity:
            raise ParameterInvalid(f"field {field.name}: row {i} has {len(values)} elements, more than "
                                   f"max_capacity {field.max_capacity}")
        if dtype is None:  # VarChar elements
            if field.max_length and any(len(v) > field.max_length for v in values):
                raise ParameterInvalid(f"field {field.name}: row {i} has a string longer than max_length "
                                       f"{field.max_length}")
            element = np.empty(len(values), dtype=object)
            element[:] = list(values)
        else:
            element = np.asarray(values, dtype=np.int64 if oneof == "int_data" else dtype)
            if etype in INT_RANGES and etype != DataType.INT64 and len(element):
                low, high = INT_RANGES[etype]
                if element.min() < low or element.max() > high:
                    raise ParameterInvalid(f"field {field.name}: row {i} has a value out of range of {etype.name}")
            element = element.astype(dtype, copy=False)
        column[i] = element
    return column


def _type_name(dtype: int) -> str:
    try:
        return DataType(dtype).name
    except ValueError:
        return str(dtype)


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


def field_data_from_column(field: FieldSchema, column: np.ndarray,
                           valid: np.ndarray | None = None) -> schema_pb2.FieldData:
    """The wire FieldData of ``column`` (every oneof set, even for zero rows). For a nullable
    field, ``valid`` (its validity column; None: no NULLs) becomes ``valid_data`` and NULL rows
    carry placeholders (0, "", empty JSON, empty array): full length, as pymilvus reads results."""
    out = schema_pb2.FieldData(type=wire_data_type(field.dtype), field_name=field.name, field_id=field.field_id,
                               is_dynamic=field.is_dynamic)
    if field.nullable:
        valid = np.ones(len(column), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
        out.valid_data.extend(valid.tolist())
        if field.dtype in _NULL_PLACEHOLDER and not valid.all():
            column = np.where(valid, column, _NULL_PLACEHOLDER[field.dtype])
    if field.dtype == DataType.ARRAY:
        target = out.scalars.array_data
        target.SetInParent()
        target.element_type = wire_data_type(field.element_type)
        oneof = _ELEMENT_ONEOF[field.element_type]
        for cell in column:
            item = target.data.add()
            getattr(item, oneof).data.extend([] if cell is None else np.asarray(cell).tolist())
    elif field.dtype == DataType.FLOAT_VECTOR:
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
    """Columns of an insert (or of an insert message), keyed by column name, for every field of
    ``schema`` (``CollectionSchema.column_fields``).

    ``generated_pks`` is used for an autoID primary key (which the request must then not carry);
    pass None for data that carries its primary keys. Absent fields follow ``field_columns``.
    Raises ParameterInvalid for an unknown, duplicate or missing field and for any mismatch
    found by ``field_columns``.
    """
    by_name: dict[str, schema_pb2.FieldData] = {}
    for given in fields_data:
        name = DYNAMIC_FIELD_NAME if given.is_dynamic else given.field_name
        if name in by_name:
            raise ParameterInvalid(f"duplicated field name {name} in insert data")
        by_name[name] = given
    columns: dict[str, np.ndarray] = {}
    for field in schema.fields:
        data = by_name.pop(field.name, None)
        if field.is_primary and field.auto_id and generated_pks is not None:
            if data is not None:
                raise ParameterInvalid(
                    f"the primary key field {field.name} is auto-generated (autoID=true): do not pass it"
                )
            columns[field.name] = generated_pks
            continue
        columns.update(field_columns(field, data, num_rows))
    if by_name:
        unknown = ", ".join(sorted(by_name))
        hint = "" if schema.enable_dynamic_field else " (the collection has no dynamic field)"
        raise ParameterInvalid(f"field(s) {unknown} not in the collection schema{hint}")
    return columns

