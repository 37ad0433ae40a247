"""Parsing (literals, precedence, the literal-array fast path) and error messages."""
from __future__ import annotations

import numpy as np
import pytest

from common.errors import ExpressionError
from common.expr import compile_expr
from common.expr import syntax as S
from common.expr.parser import parse
from common.schema import CollectionSchema, FieldSchema
from common.types import DataType as D

SCHEMA = CollectionSchema("c", (
    FieldSchema(1, "id", D.INT64, is_primary=True),
    FieldSchema(2, "age", D.INT64),
    FieldSchema(3, "name", D.VARCHAR, max_length=32),
    FieldSchema(4, "flag", D.BOOL),
    FieldSchema(5, "price", D.DOUBLE),
    FieldSchema(6, "meta", D.JSON),
    FieldSchema(7, "tags", D.ARRAY, element_type=D.INT64, max_capacity=4),
    FieldSchema(8, "vec", D.FLOAT_VECTOR, dim=2),
))
DYN_SCHEMA = CollectionSchema("d", SCHEMA.fields + (
    FieldSchema(9, "$meta", D.JSON, is_dynamic=True),), enable_dynamic_field=True)


def literal(text: str) -> object:
    node = parse(f"x == {text}")
    assert isinstance(node, S.Compare) and isinstance(node.right, S.Literal)
    return node.right.value


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("42", 42), ("0x1F", 31), ("0X1f", 31), ("0b101", 5), ("017", 15),
    ("9223372036854775807", 2**63 - 1), ("1.5", 1.5), ("1.", 1.0), (".5", 0.5),
    ("1e3", 1000.0), ("1.5E-2", 0.015), ("2e+2", 200.0),
    ('"abc"', "abc"), ("'abc'", "abc"), ('""', ""), ('"it\'s"', "it's"),
    ("'say \"hi\"'", 'say "hi"'), ('"a\\"b"', 'a"b'), ("'a\\'b'", "a'b"), (r'"a\nb\tc"', "a\nb\tc"),
    (r'"back\\slash"', "back\\slash"), (r'"\x41\u00e9\U0001F600"', "Aé\U0001F600"),
    (r'"\101"', "A"), (r'"50\%"', "50\\%"), ('"ünï"', "ünï"), (r'r"a\nb"', "a\\nb"),
    ("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False),
    ("FALSE", False),
])
def test_literals(text: str, value: object) -> None:
    got = literal(text)
    assert got == value and type(got) is type(value)


def test_identifiers_that_look_like_keywords() -> None:
    node = parse("android > 1 and order < 2 or notes == 'x' and inside == 1 and likes == 0")
    assert isinstance(node, S.Logical)
    assert isinstance(parse("tRUE == 1"), S.Compare)  # not a boolean spelling Milvus accepts


def test_json_path_and_array_index() -> None:
    node = parse('meta["a"][\'b\'][0] > 1')
    assert isinstance(node, S.Compare)
    assert node.left == S.FieldRef(1, "meta", ("a", "b", 0))
    assert parse('$meta["k"] == 1').left == S.FieldRef(1, "$meta", ("k",))  # type: ignore[union-attr]


@pytest.mark.parametrize("a, b", [
    ("flag or age > 1 and price < 2", "flag or (age > 1 and price < 2)"),
    ("not flag and age > 1", "(not flag) and (age > 1)"),
    ("not age > 1", "not (age > 1)"),
    ("age + 2 * 3 > 10", "age + (2 * 3) > 10"),
    ("age - 2 - 3 > 10", "(age - 2) - 3 > 10"),
    ("age / 2 * 2 == age", "(age / 2) * 2 == age"),
    ("-age ** 2 < 0", "-(age ** 2) < 0"),
    ("2 ** 3 ** 2 == age", "(2 ** 3) ** 2 == age"),
    ("age in [1, 2] or flag", "(age in [1, 2]) or flag"),
    ("age > 1 == flag", "(age > 1) == flag"),
    ("1 < age < 5 and flag", "(1 < age and age < 5) and flag"),
    ("age > 3 || flag && age < 2", "age > 3 or (flag and age < 2)"),
])
def test_precedence(a: str, b: str) -> None:
    rng = np.random.default_rng(3)
    cols = {"age": rng.integers(-5, 70, 200), "price": rng.random(200) * 4,
            "flag": rng.random(200) < 0.5}
    ma = compile_expr(a, SCHEMA).evaluate(cols, 200)
    mb = compile_expr(b, SCHEMA).evaluate(cols, 200)
    assert ma.tolist() == mb.tolist()


def test_long_literal_arrays_take_the_fast_path_with_the_same_meaning() -> None:
    ids = list(range(-500, 500))
    node = parse(f"id in {ids}")
    assert isinstance(node, S.In) and isinstance(node.right, S.ConstList)
    assert node.right.values == ids
    strs = ["a,b", "c]d", 'e"f', "x", "it's"]
    text = "name in [" + ", ".join(['"a,b"', "'c]d'", "'e\"f'", '"x"', '"it\\\'s"']) + "]"
    node = parse(text)
    assert node.right.values == strs  # type: ignore[union-attr]
    mixed = parse("price in [1.5, -2, 3e2, 0, 17, 1000000]").right  # type: ignore[union-attr]
    assert mixed.values == [1.5, -2, 300.0, 0, 17, 1000000]
    # a literal array inside a string literal stays a string
    assert literal('"[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"') == "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"
    # a long JSON key is an accessor, not an array
    assert parse('meta["a rather long key name here"] == 1').left.path == (  # type: ignore
        "a rather long key name here",)
    plan = compile_expr(f"id in {list(range(10000))} and age > 1", SCHEMA)
    assert plan.pk_values is None
    assert compile_expr(f"id in {list(range(10000))}", SCHEMA).pk_values == list(range(10000))


def err(text: str, schema: CollectionSchema = SCHEMA, templates: dict | None = None) -> str:
    with pytest.raises(ExpressionError) as info:
        compile_expr(text, schema, templates)
    assert info.value.code == 1100
    return str(info.value)


@pytest.mark.parametrize("text, message", [
    ("age >> 3",
     "cannot parse expression: \"age >> 3\", unexpected '>' at column 6, expected a value"),
    ("age > ", "unexpected end of expression at column 6, expected a value"),
    ("age @ 3", "unexpected '@' at column 5"),
    ("age = 3", "unexpected '=' at column 5"),
    ("(age > 1", "unexpected end of expression at column 9, expected an operator, ')'"),
    ("age > 1)", "unexpected ')' at column 8"),
    ("age in [1, 2", "unexpected end of expression"),
    ("age > 1 and", "unexpected end of expression at column 12"),
    ("and age > 1", "unexpected 'and' at column 1"),
    ("age == 1 == 2", "unexpected '==' at column 10"),
    ("1 < age > 2", "unexpected '>' at column 9"),
    ("name == 'abc", "unexpected ''' at column 9"),
    ("age > 1 & flag", "unexpected '&' at column 9"),
    ("age ~ 1", "unexpected '~' at column 5"),
    ("id in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] [1]", "unexpected '[' at column 39"),
])
def test_syntax_errors(text: str, message: str) -> None:
    assert message in err(text)


@pytest.mark.parametrize("text, parts", [
    ("foo > 3", ["field foo does not exist", "column 1"]),
    ("age > 1 and bar == 2", ["field bar does not exist", "column 13"]),
    ("age == 'x'", ["field age (Int64)", "VarChar value \"x\""]),
    ("'x' == age", ["field age (Int64)", "VarChar value \"x\""]),
    ("name > 3", ["field name (VarChar)", "Int64 value 3"]),
    ("name == 1.5", ["field name (VarChar)", "Double value 1.5"]),
    ("flag == 1", ["field flag (Bool)", "Int64 value 1"]),
    ("flag < true", ["operator <", "field flag (Bool)"]),
    ("age == flag", ["field age (Int64)", "field flag (Bool)"]),
    ("name == age", ["field name (VarChar)", "field age (Int64)"]),
    ("age in [1, 'a']", ["field age (Int64)", "VarChar value \"a\""]),
    ("name in [1]", ["field name (VarChar)", "Int64 value 1"]),
    ("age in 3", ["right side of 'in' must be an array"]),
    ("age like 'a%'", ["like", "field age (Int64)"]),
    ("name like 3", ["pattern of like must be a string"]),
    ("vec > 1", ["vector field vec (FloatVector)"]),
    ("not age", ["'not'", "field age (Int64)"]),
    ("age and flag", ["'and'", "field age (Int64)"]),
    ("age", ["boolean predicate", "field age (Int64)"]),
    ("name + 1 > 2", ["arithmetic operator +", "field name (VarChar)"]),
    ("-name == 'a'", ["unary -", "field name (VarChar)"]),
    ("age % 1.5 == 0", ["modulo", "Double value 1.5"]),
    ("age / 0 == 1", ["divide by zero"]),
    ("1 / 0 == 1", ["divide by zero"]),
    ("age[0] == 1", ["field age (Int64) cannot be indexed"]),
    ("tags['a'] == 1", ["array field tags takes a single integer index"]),
    ("tags > 1", ["field tags (Array of Int64)", "Int64 value 1"]),
    ("tags < [1]", ["operator <"]),
    ("tags == ['a']", ["VarChar value \"a\""]),
    ("array_contains(tags, 'a')", ["field tags (Array of Int64)", "VarChar value \"a\""]),
    ("array_contains_all(tags, 1)", ["must be an array"]),
    ("array_contains(age, 1)", ["Array or JSON field", "field age (Int64)"]),
    ("array_length(age) == 1", ["Array or JSON field"]),
    ("array_contains(tags)", ["takes two arguments"]),
    ("foo(age)", ["function foo is not supported"]),
    ("age is null and age + 1 is null", ["is null can only be applied to a field"]),
    ("exists age", ["exists needs a JSON key"]),
    ("age in [age]", ["array elements must be constants"]),
    ("age > {x}", ["template variable {x} has no value"]),
    ("age > 99999999999999999999 + age", ["out of the Int64 range"]),
    ('$meta["a"] == 1', ["field $meta does not exist"]),
])
def test_type_errors(text: str, parts: list[str]) -> None:
    message = err(text)
    assert message.startswith(f'cannot parse expression: "{text}", ')
    for part in parts:
        assert part in message


def test_unknown_names_are_dynamic_keys_only_with_a_dynamic_field() -> None:
    assert "field color does not exist" in err("color == 'red'")
    plan = compile_expr("color == 'red'", DYN_SCHEMA)
    assert plan.referenced_fields == frozenset({"$meta"})


def test_template_value_errors() -> None:
    assert "template variable {x}" in err("age > {x}", templates={"x": object()})
    assert "template variable {x} is null" in err("age > {x}", templates={"x": None})
    assert "VarChar value" in err("age > {x}", templates={"x": "s"})


def test_very_long_expressions_are_shortened_in_messages() -> None:
    text = f"id in {list(range(5000))} and nope > 1"
    message = err(text)
    assert "field nope does not exist" in message and len(message) < 600
