"""The wire ``schema.CollectionSchema``: validation of a user's schema at CreateCollection, and
conversion to the plain ``common.schema.CollectionSchema``.

Naming and limits follow Milvus: names start with a letter or underscore, hold letters, digits
and underscores, at most 255 characters; vector dim in [1, 32768] (binary: a multiple of 8);
VarChar max_length in [1, 65535]; exactly one Int64 or VarChar primary key; a vector field.
"""
from __future__ import annotations

import re

from common.errors import CollectionIllegalSchema, ParameterInvalid
from common.schema import CollectionSchema, FieldSchema
from common.types import DYNAMIC_FIELD_NAME, DataType
from proto.milvus import schema_pb2

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME_LENGTH = 255
MAX_DIM = 32768
MAX_VARCHAR_LENGTH = 65535
FIRST_FIELD_ID = 100
_SUPPORTED = {DataType.BOOL, DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.FLOAT,
              DataType.DOUBLE, DataType.VARCHAR, DataType.JSON, DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR}


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
        if field.nullable:
            raise CollectionIllegalSchema(f"field {field.name}: nullable fields are not supported yet")
        if dtype == DataType.FLOAT_VECTOR:
            _int_param(field, "dim", 1, MAX_DIM)
        elif dtype == DataType.BINARY_VECTOR:
            dim = _int_param(field, "dim", 8, MAX_DIM)
            if dim % 8:
                raise ParameterInvalid(f"field {field.name}: dim of a binary vector must be a multiple of 8, got {dim}")
        elif dtype == DataType.VARCHAR:
            _int_param(field, "max_length", 1, MAX_VARCHAR_LENGTH)
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
            max_capacity=int(lookup.get("max_capacity", 0) or 0), nullable=f.nullable, is_dynamic=f.is_dynamic,
            is_partition_key=f.is_partition_key, description=f.description, type_params=params,
        ))
    return CollectionSchema(name=schema.name, fields=tuple(fields), description=schema.description,
                            enable_dynamic_field=schema.enable_dynamic_field)
