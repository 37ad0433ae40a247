"""The wire ``schema.CollectionSchema``: validation of a user's schema at CreateCollection, and
conversion to the plain ``common.schema.CollectionSchema``.

Naming and limits follow Milvus: names start with a letter or underscore, hold letters, digits
and underscores, at most 255 characters; vector dim in [1, 32768] (binary: a multiple of 8);
VarChar max_length in [1, 65535]; exactly one Int64 or VarChar primary key; a vector field.
Array fields: element type Bool, Int8-Int64, Float, Double or VarChar (which needs
``max_length``), ``max_capacity`` in [1, 4096]. ``nullable`` is allowed on every scalar, JSON and
Array field except the primary key (Milvus 2.5 has no nullable vectors). ``default_value`` is
allowed on Bool, integer, Float, Double and VarChar fields other than the primary key, and must
be of the field's kind (any integer ValueField for an integer field, in range; any number for a
Float/Double field; a string no longer than ``max_length``).
"""
from __future__ import annotations

import re
from typing import Any, cast

from common.errors import CollectionIllegalSchema, ParameterInvalid
from common.schema import CollectionSchema, FieldSchema
from common.types import DYNAMIC_FIELD_NAME, FLOAT_TYPES, INTEGER_TYPES, VECTOR_TYPES, DataType
from proto.milvus import schema_pb2

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME_LENGTH = 255
MAX_DIM = 32768
MAX_VARCHAR_LENGTH = 65535
MAX_ARRAY_CAPACITY = 4096
FIRST_FIELD_ID = 100
_SUPPORTED = {DataType.BOOL, DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.FLOAT,
              DataType.DOUBLE, DataType.VARCHAR, DataType.JSON, DataType.ARRAY, DataType.FLOAT_VECTOR,
              DataType.BINARY_VECTOR}
ARRAY_ELEMENT_TYPES = frozenset({DataType.BOOL, DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64,
                                 DataType.FLOAT, DataType.DOUBLE, DataType.VARCHAR})
INT_RANGES = {DataType.INT8: (-(2**7), 2**7 - 1), DataType.INT16: (-(2**15), 2**15 - 1),
              DataType.INT32: (-(2**31), 2**31 - 1), DataType.INT64: (-(2**63), 2**63 - 1)}


def wire_data_type(dtype: DataType) -> schema_pb2.DataType:
    """``dtype`` as the wire enum (the same number). The generated stubs type a wire enum's
    values as ``int``, which the message constructors do not accept."""
    return cast(schema_pb2.DataType, int(dtype))


def validate_name(name: str, what: str) -> None:
    """Raise ParameterInvalid unless ``name`` follows Milvus's naming rules."""
    if not name:
        raise ParameterInvalid(f"{what} name should not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ParameterInvalid(f"the length of {what} name must be not greater than {MAX_NAME_LENGTH} characters")
    if not _NAME.match(name):
        raise ParameterInvalid(
            f"invalid {what} name: {name}. {what} name can only contain numbers, letters and underscores, "
            "and must start with a letter or an underscore"
        )


def _type_param(field: schema_pb2.FieldSchema, key: str) -> str | None:
    for kv in field.type_params:
        if kv.key == key:
            return kv.value
    return None


def _int_param(field: schema_pb2.FieldSchema, key: str, low: int, high: int) -> int:
    raw = _type_param(field, key)
    if raw is None:
        raise ParameterInvalid(f"field {field.name}: type param {key} is required")
    try:
        value = int(raw)
    except ValueError:
        raise ParameterInvalid(f"field {field.name}: {key} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ParameterInvalid(f"field {field.name}: invalid {key} {value}, must be in range [{low}, {high}]")
    return value


def complete_schema(schema: schema_pb2.CollectionSchema, collection_name: str) -> schema_pb2.CollectionSchema:
    """A validated copy of a user's schema with field ids assigned (100, 101, ...) and the hidden
    dynamic ``$meta`` JSON field appended when ``enable_dynamic_field`` is set.

    Raises ParameterInvalid / CollectionIllegalSchema saying which field is wrong and why.
    """
    validate_name(collection_name, "collection")
    out = schema_pb2.CollectionSchema()
    out.CopyFrom(schema)
    out.name = collection_name
    del out.fields[:]
    seen: set[str] = set()
    primaries = 0
    for i, field in enumerate(schema.fields):
        if field.is_dynamic or field.name == DYNAMIC_FIELD_NAME:
            continue  # clients never send it; the server owns $meta
        validate_name(field.name, "field")
        if field.name in seen:
            raise CollectionIllegalSchema(f"duplicated field name {field.name}")
        seen.add(field.name)
        try:
            dtype = DataType(field.data_type)
        except ValueError:
            raise CollectionIllegalSchema(f"field {field.name}: unknown data type {field.data_type}") from None
        if dtype not in _SUPPORTED:
            raise CollectionIllegalSchema(f"field {field.name}: data type {dtype.name} is not supported yet")
        if field.nullable and (field.is_primary_key or dtype in VECTOR_TYPES):
            what = "the primary key" if field.is_primary_key else f"a vector field ({dtype.name})"
            raise CollectionIllegalSchema(f"field {field.name}: {what} cannot be nullable")
        if field.HasField("default_value"):
            _check_default_value(field, dtype)
        if dtype == DataType.FLOAT_VECTOR:
            _int_param(field, "dim", 1, MAX_DIM)
        elif dtype == DataType.BINARY_VECTOR:
            dim = _int_param(field, "dim", 8, MAX_DIM)
            if dim % 8:
                raise ParameterInvalid(f"field {field.name}: dim of a binary vector must be a multiple of 8, got {dim}")
        elif dtype == DataType.VARCHAR:
            _int_param(field, "max_length", 1, MAX_VARCHAR_LENGTH)
        elif dtype == DataType.ARRAY:
            _check_array(field)
        if field.is_primary_key:
            primaries += 1
            if dtype not in (DataType.INT64, DataType.VARCHAR):
                raise CollectionIllegalSchema(
                    f"field {field.name}: the primary key must be Int64 or VarChar, got {dtype.name}"
                )
        elif field.autoID:
            raise CollectionIllegalSchema(f"field {field.name}: only the primary key can be autoID")
        copy = out.fields.add()
        copy.CopyFrom(field)
        copy.fieldID = FIRST_FIELD_ID + i
        if schema.autoID and field.is_primary_key:
            copy.autoID = True
    if primaries != 1:
        raise CollectionIllegalSchema(
            "the schema must have exactly one primary key field" if primaries else "primary key is not specified"
        )
    if not any(DataType(f.data_type) in (DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR) for f in out.fields):
        raise CollectionIllegalSchema("schema does not contain a vector field")
    if out.enable_dynamic_field:
        meta = out.fields.add(name=DYNAMIC_FIELD_NAME, data_type=int(DataType.JSON), is_dynamic=True,
                              description="dynamic schema")
        meta.fieldID = FIRST_FIELD_ID + len(schema.fields)
    return out


def _check_array(field: schema_pb2.FieldSchema) -> None:
    try:
        element = DataType(field.element_type)
    except ValueError:
        element = None
    if element not in ARRAY_ELEMENT_TYPES:
        shown = element.name if element is not None else str(field.element_type)
        raise CollectionIllegalSchema(
            f"field {field.name}: element type {shown} of an Array is not supported; use Bool, Int8, Int16, "
            "Int32, Int64, Float, Double or VarChar")
    _int_param(field, "max_capacity", 1, MAX_ARRAY_CAPACITY)
    if element == DataType.VARCHAR:
        _int_param(field, "max_length", 1, MAX_VARCHAR_LENGTH)


def _check_default_value(field: schema_pb2.FieldSchema, dtype: DataType) -> None:
    """Raise unless the field may have a default value and the value fits its type."""
    kind = field.default_value.WhichOneof("data")
    if kind is None:
        return  # an empty ValueField means no default (pymilvus sends it so)
    if field.is_primary_key:
        raise CollectionIllegalSchema(f"field {field.name}: the primary key cannot have a default value")
    value = getattr(field.default_value, kind)
    mismatch = ParameterInvalid(
        f"field {field.name}: default value type mismatch, {kind} cannot be the default of a {dtype.name} field")
    if dtype == DataType.BOOL:
        if kind != "bool_data":
            raise mismatch
    elif dtype in INTEGER_TYPES:
        if kind not in ("int_data", "long_data"):
            raise mismatch
        low, high = INT_RANGES[dtype]
        if not low <= value <= high:
            raise ParameterInvalid(
                f"field {field.name}: default value {value} is out of the range of {dtype.name} [{low}, {high}]")
    elif dtype in FLOAT_TYPES:
        if kind not in ("int_data", "long_data", "float_data", "double_data"):
            raise mismatch
    elif dtype == DataType.VARCHAR:
        if kind != "string_data":
            raise mismatch
        max_length = int(_type_param(field, "max_length") or 0)
        if len(value) > max_length:
            raise ParameterInvalid(
                f"field {field.name}: the length ({len(value)}) of the default value exceeds max length "
                f"({max_length})")
    else:
        raise CollectionIllegalSchema(f"field {field.name}: a {dtype.name} field cannot have a default value")


def default_value_of(field: schema_pb2.FieldSchema) -> Any:
    """The default value of a (validated) wire field as a plain Python value, or None."""
    if not field.HasField("default_value"):
        return None
    kind = field.default_value.WhichOneof("data")
    if kind is None:
        return None
    value = getattr(field.default_value, kind)
    if DataType(field.data_type) in FLOAT_TYPES:
        return float(value)
    return value


def public_schema(schema: schema_pb2.CollectionSchema) -> schema_pb2.CollectionSchema:
    """The schema as DescribeCollection shows it: without the hidden ``$meta`` field (pymilvus
    breaks on it, wire reference §12.1)."""
    out = schema_pb2.CollectionSchema()
    out.CopyFrom(schema)
    del out.fields[:]
    out.fields.extend(f for f in schema.fields if not f.is_dynamic and f.fieldID >= FIRST_FIELD_ID)
    return out


def schema_from_proto(schema: schema_pb2.CollectionSchema) -> CollectionSchema:
    """The plain-Python schema of a completed wire schema."""
    fields = []
    for f in schema.fields:
        params = tuple((kv.key, kv.value) for kv in f.type_params)
        lookup = dict(params)
        fields.append(FieldSchema(
            field_id=f.fieldID, name=f.name, dtype=DataType(f.data_type), is_primary=f.is_primary_key,
            auto_id=f.autoID, dim=int(lookup.get("dim", 0) or 0), max_length=int(lookup.get("max_length", 0) or 0),
            element_type=DataType(f.element_type) if f.element_type else DataType.NONE,
            max_capacity=int(lookup.get("max_capacity", 0) or 0), nullable=f.nullable,
            default_value=default_value_of(f), is_dynamic=f.is_dynamic,
            is_partition_key=f.is_partition_key, description=f.description, type_params=params,
        ))
    return CollectionSchema(name=schema.name, fields=tuple(fields), description=schema.description,
                            enable_dynamic_field=schema.enable_dynamic_field)
