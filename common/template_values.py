"""Expression template values (``{name}`` placeholders in a filter) from the wire.

pymilvus sends ``expr_params`` as ``map<string, schema.TemplateValue>``; the expression compiler
(``common.expr.compile_expr``) takes plain Python values: ``bool``, ``int``, ``float``, ``str`` and
(nested) ``list`` of those; JSON array elements become whatever ``json.loads`` gives.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from common.errors import ParameterInvalid
from proto.milvus import schema_pb2


def template_values_from_proto(values: Mapping[str, schema_pb2.TemplateValue]) -> dict[str, Any]:
    """The template values as Python values. Raises ParameterInvalid for an empty value or
    invalid JSON element."""
    return {name: _value(name, value) for name, value in values.items()}


def _value(name: str, value: schema_pb2.TemplateValue) -> Any:
    kind = value.WhichOneof("val")
    if kind == "bool_val":
        return bool(value.bool_val)
    if kind == "int64_val":
        return int(value.int64_val)
    if kind == "float_val":
        return float(value.float_val)
    if kind == "string_val":
        return str(value.string_val)
    if kind == "array_val":
        return _array(name, value.array_val)
    raise ParameterInvalid(f"expression template value {name} is empty")


def _array(name: str, array: schema_pb2.TemplateArrayValue) -> list[Any]:
    kind = array.WhichOneof("data")
    if kind == "bool_data":
        return [bool(v) for v in array.bool_data.data]
    if kind == "long_data":
        return [int(v) for v in array.long_data.data]
    if kind == "double_data":
        return [float(v) for v in array.double_data.data]
    if kind == "string_data":
        return [str(v) for v in array.string_data.data]
    if kind == "array_data":
        return [_array(name, item) for item in array.array_data.data]
    if kind == "json_data":
        out = []
        for raw in array.json_data.data:
            try:
                out.append(json.loads(raw))
            except ValueError:
                raise ParameterInvalid(f"expression template value {name}: invalid JSON element {raw!r}") from None
        return out
    return []
