"""The compiled filter on the wire (``common/expr/codec.py``): what the proxy encodes a
querynode decodes into a plan that evaluates the same, without parsing or type checking.
(Every expression of test_expr_eval.py and the property test's generators also make the round
trip there.)"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from common.errors import FieldNotFound, ServiceInternal
from common.expr import compile_expr, decode_plan, encode_plan
from common.expr import plan as P
from common.schema import CollectionSchema, FieldSchema
from common.types import DataType as D

SCHEMA = CollectionSchema("c", (
    FieldSchema(1, "id", D.INT64, is_primary=True),
    FieldSchema(2, "x", D.DOUBLE),
    FieldSchema(3, "name", D.VARCHAR, max_length=16),
    FieldSchema(4, "tags", D.ARRAY, element_type=D.INT64, max_capacity=4),
    FieldSchema(5, "$meta", D.JSON, is_dynamic=True),
), enable_dynamic_field=True)


def _objects(values: list) -> np.ndarray:  # type: ignore[type-arg]
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


COLUMNS = {
    "id": np.array([1, 2, 3, 4], dtype=np.int64),
    "x": np.array([0.5, math.inf, -2.0, math.nan]),
    "name": _objects(["a", "\u00e9t\u00e9", "b", ""]),
    "tags": _objects([[1, 2], [], [3], [2, 9]]),
    "$meta": _objects([json.dumps(m).encode() for m in ({"k": {"a": [1, 2]}}, {"k": 2 ** 70}, {}, {"k": None})]),
}


def round_trip(expr: str, templates: dict | None = None) -> tuple[P.ExprPlan, P.ExprPlan, str]:  # type: ignore[type-arg]
    plan = compile_expr(expr, SCHEMA, templates)
    text = encode_plan(plan)
    return plan, decode_plan(text, SCHEMA), text


@pytest.mark.parametrize("expr, templates", [
    ("x > {lo} and name in {names}", {"lo": -math.inf, "names": ["\u00e9t\u00e9", "\ud800", "b"]}),
    ('k == {doc} or k == {big}', {"doc": {"a": [1, 2]}, "big": 2 ** 70}),
    ("x == {nan} or x != {nan}", {"nan": math.nan}),
    ("array_contains_any(tags, [9, 3]) or tags[1] == 2 or array_length(tags) == 0", None),
    ('name like "%t%" and not (id in [1, 4]) or k is null or exists k["a"]', None),
    ("-x * 2 < 1 and id % 2 == 1", None),
])
def test_values_and_constructs_survive_the_round_trip(expr: str, templates: dict | None) -> None:  # type: ignore[type-arg]
    plan, decoded, text = round_trip(expr, templates)
    assert text.isascii()  # a proto string field: valid UTF-8 whatever the constants hold
    assert decoded.evaluate(COLUMNS, 4).tolist() == plan.evaluate(COLUMNS, 4).tolist()
    assert decoded.referenced_fields == plan.referenced_fields
    assert encode_plan(decoded) == text


def test_a_shared_node_stays_shared() -> None:
    """The middle term of a range is one node under both comparisons (evaluated once)."""
    _, decoded, text = round_trip("1 < x + 1 <= 5")
    root = decoded.root
    assert isinstance(root, P.LogicalNode)
    assert isinstance(root.left, P.Compare) and isinstance(root.right, P.Compare)
    assert root.left.left is root.right.left
    assert len(json.loads(text)["nodes"]) == 8  # x, 1, x + 1 once; 1, >, 5, <=, and


def test_primary_key_lookups_are_recognised_after_decoding() -> None:
    _, decoded, _ = round_trip("id in [4, 2, 4, 2.0, 2 ** 70]")
    assert decoded.pk_values == [4, 2]
    assert round_trip("")[2] == "" and decode_plan("", SCHEMA).is_always_true


@pytest.mark.parametrize("text, message", [
    ("{not json", "malformed compiled filter"),
    ('{"v":2,"nodes":[]}', "version 2"),
    ('{"v":1,"nodes":[]}', "no nodes"),
    ('{"v":1,"nodes":[["cmp","<",1,0]]}', "not an earlier one"),
    ('{"v":1,"nodes":[["column","x","Double"],["exists",0]]}', "must be a JsonPath"),
    ('{"v":1,"nodes":[["column","x"]]}', "takes 2 arguments"),
    ('{"v":1,"nodes":[["nope"]]}', "malformed compiled filter"),
])
def test_malformed_text_is_an_internal_error(text: str, message: str) -> None:
    with pytest.raises(ServiceInternal, match=message):
        decode_plan(text, SCHEMA)


def test_a_field_the_schema_lacks_is_not_found() -> None:
    wider = CollectionSchema("c", (*SCHEMA.fields, FieldSchema(6, "height", D.INT64)), enable_dynamic_field=True)
    text = encode_plan(compile_expr("height > 1", wider))
    with pytest.raises(FieldNotFound, match="height"):
        decode_plan(text, SCHEMA)
