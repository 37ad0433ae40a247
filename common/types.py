"""Milvus enums mirrored as Python IntEnums, so modules need no generated proto to name a type.

Numbers are identical to ``milvus.proto.schema.DataType`` and friends in pymilvus 2.6.17.
"""
from __future__ import annotations

from enum import IntEnum


class DataType(IntEnum):
    """Field data types (``schema.DataType``)."""

    NONE = 0
    BOOL = 1
    INT8 = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    FLOAT = 10
    DOUBLE = 11
    STRING = 20
    VARCHAR = 21
    ARRAY = 22
    JSON = 23
    BINARY_VECTOR = 100
    FLOAT_VECTOR = 101
    FLOAT16_VECTOR = 102
    BFLOAT16_VECTOR = 103
    SPARSE_FLOAT_VECTOR = 104


INTEGER_TYPES = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64})
FLOAT_TYPES = frozenset({DataType.FLOAT, DataType.DOUBLE})
NUMERIC_TYPES = INTEGER_TYPES | FLOAT_TYPES
STRING_TYPES = frozenset({DataType.VARCHAR, DataType.STRING})
VECTOR_TYPES = frozenset(
    {
        DataType.BINARY_VECTOR,
        DataType.FLOAT_VECTOR,
        DataType.FLOAT16_VECTOR,
        DataType.BFLOAT16_VECTOR,
        DataType.SPARSE_FLOAT_VECTOR,
    }
)

# NumPy dtype used to hold a column of each fixed-width scalar type.
NUMPY_DTYPES = {
    DataType.BOOL: "bool",
    DataType.INT8: "int8",
    DataType.INT16: "int16",
    DataType.INT32: "int32",
    DataType.INT64: "int64",
    DataType.FLOAT: "float32",
    DataType.DOUBLE: "float64",
}

DYNAMIC_FIELD_NAME = "$meta"
TIMESTAMP_COLUMN = "$ts"


class ConsistencyLevel(IntEnum):
    """``common.ConsistencyLevel``."""

    STRONG = 0
    SESSION = 1
    BOUNDED = 2
    EVENTUALLY = 3
    CUSTOMIZED = 4


#: The one resource group of querynodes (resource groups are not supported; Milvus's default
#: group's name, reported by GetReplicas).
DEFAULT_RESOURCE_GROUP = "__default_resource_group"
