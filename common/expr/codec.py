"""A compiled filter on the wire: the checked plan of ``compile_expr`` as compact, stable JSON
text, which the proxy sends down and a querynode turns back into the same plan without parsing
or type checking (``decode_plan(encode_plan(plan), schema)`` evaluates like ``plan``).

The text is ``{"v":1,"nodes":[[tag, arg, ...], ...]}``: every plan node once, children before
their parents, the root last. A child is named by its index in ``nodes``, so a node two parents
share (the middle term of ``1 < x < 5``) stays one node, evaluated once. Fields are named by
schema field name (``$meta`` for the dynamic field), kinds by their ``Kind`` value, constants
are JSON values (NaN and ±Infinity as Python's ``json`` writes them). An empty text is no filter.

Tags and their arguments, in order::

    const     kind, value            column    field, kind
    json      field, path            array     field, element kind
    elem      array, index, kind     length    source
    neg       operand, kind          arith     op, left, right, kind
    cmp       op, left, right        in        value, values, negate
    like      value, pattern         isnull    source, negate
    exists    source                 contains  source, mode, values
    not       operand                logic     op, left, right

Changing a tag or the order of its arguments changes the format: bump ``VERSION``.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from common.errors import FieldNotFound, ServiceInternal
from common.schema import CollectionSchema

from . import plan as P
from .checker import extract_pk_values
from .values import Kind

VERSION = 1

# How an argument is written: a child node (of the given class), a schema field by name, a
# Kind by value, a JSON path (a tuple, written as a list), or a plain JSON value.
_FIELD, _KIND, _PATH, _VALUE = "field", "kind", "path", "value"
_Codec = str | type[P.Node]
_Layout = tuple[tuple[str, _Codec], ...]

_LAYOUTS: dict[str, tuple[Callable[..., P.Node], _Layout]] = {
    "const": (P.Const, (("kind", _KIND), ("value", _VALUE))),
    "column": (P.Column, (("field", _FIELD), ("kind", _KIND))),
    "json": (P.JsonPath, (("field", _FIELD), ("path", _PATH))),
    "array": (P.ArrayColumn, (("field", _FIELD), ("elem_kind", _KIND))),
    "elem": (P.ArrayElement, (("array", P.ArrayColumn), ("index", _VALUE), ("kind", _KIND))),
    "length": (P.Length, (("source", P.Node),)),
    "neg": (P.Neg, (("operand", P.Node), ("kind", _KIND))),
    "arith": (P.Arith, (("op", _VALUE), ("left", P.Node), ("right", P.Node), ("kind", _KIND))),
    "cmp": (P.Compare, (("op", _VALUE), ("left", P.Node), ("right", P.Node))),
    "in": (P.InList, (("value", P.Node), ("values", _VALUE), ("negate", _VALUE))),
    "like": (P.LikeNode, (("value", P.Node), ("pattern", _VALUE))),
    "isnull": (P.IsNull, (("source", P.Node), ("negate", _VALUE))),
    "exists": (P.ExistsNode, (("source", P.JsonPath),)),
    "contains": (P.Contains, (("source", P.Node), ("mode", _VALUE), ("values", _VALUE))),
    "not": (P.NotNode, (("operand", P.Node),)),
    "logic": (P.LogicalNode, (("op", _VALUE), ("left", P.Node), ("right", P.Node))),
}
_TAGS: dict[object, str] = {cls: tag for tag, (cls, _) in _LAYOUTS.items()}


def encode_plan(plan: P.ExprPlan) -> str:
    """The wire text of ``plan`` (see the module doc); ``""`` when it matches every row."""
    if plan.root is None:
        return ""
    nodes: list[list[Any]] = []
    index: dict[int, int] = {}  # id() of a plan node -> its position in ``nodes``

    def visit(node: P.Node) -> int:
        at = index.get(id(node))
        if at is not None:
            return at
        tag = _TAGS[type(node)]
        row: list[Any] = [tag]
        for name, codec in _LAYOUTS[tag][1]:
            value = getattr(node, name)
            if isinstance(codec, type):
                row.append(visit(value))
            elif codec == _FIELD:
                row.append(value.name)
            elif codec == _KIND:
                row.append(value.value)
            elif codec == _PATH:
                row.append(list(value))
            else:
                row.append(value)
        index[id(node)] = len(nodes)
        nodes.append(row)
        return index[id(node)]

    visit(plan.root)
    return json.dumps({"v": VERSION, "nodes": nodes}, separators=(",", ":"))


def decode_plan(text: str, schema: CollectionSchema) -> P.ExprPlan:
    """The plan ``encode_plan`` wrote, over ``schema``'s fields. Raises FieldNotFound for a
    field ``schema`` lacks and ServiceInternal for text that is not such a plan."""
    if not text:
        return P.ExprPlan("", None)
    try:
        doc = json.loads(text)
        if doc["v"] != VERSION:
            raise ServiceInternal(f"compiled filter of version {doc['v']}, expected {VERSION}")
        built: list[P.Node] = []
        for row in doc["nodes"]:
            built.append(_build(row, built, schema))
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise ServiceInternal(f"malformed compiled filter: {err!r}") from None
    if not built:
        raise ServiceInternal("malformed compiled filter: no nodes")
    root = built[-1]
    return P.ExprPlan("", root, frozenset(root.fields()), extract_pk_values(root, schema))


def _build(row: list[Any], built: list[P.Node], schema: CollectionSchema) -> P.Node:
    make, layout = _LAYOUTS[row[0]]
    if len(row) != len(layout) + 1:
        raise ValueError(f"{row[0]} takes {len(layout)} arguments, got {len(row) - 1}")
    args: dict[str, Any] = {}
    for (name, codec), value in zip(layout, row[1:]):
        if isinstance(codec, type):
            if type(value) is not int or not 0 <= value < len(built):
                raise ValueError(f"{row[0]}.{name} names node {value!r}, not an earlier one")
            child = built[value]
            if not isinstance(child, codec):
                raise ValueError(f"{row[0]}.{name} must be a {codec.__name__}")
            args[name] = child
        elif codec == _FIELD:
            field = schema.field(value)
            if field is None:
                raise FieldNotFound(f"field not found[field={value}]")
            args[name] = field
        elif codec == _KIND:
            args[name] = Kind(value)
        elif codec == _PATH:
            args[name] = tuple(value)
        else:
            args[name] = value
    return make(**args)


__all__ = ["VERSION", "decode_plan", "encode_plan"]
