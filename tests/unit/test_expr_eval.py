"""The expression engine construct by construct: expected masks on a small hand-made table."""
from __future__ import annotations

import json

import numpy as np
import pytest

from common.errors import ExpressionError
from common.expr import ExprPlan, compile_expr, decode_plan, encode_plan
from common.schema import CollectionSchema, FieldSchema
from common.types import DataType as D

FIELDS = (
    FieldSchema(100, "id", D.INT64, is_primary=True),
    FieldSchema(101, "age", D.INT32),
    FieldSchema(102, "price", D.FLOAT),
    FieldSchema(103, "rating", D.DOUBLE),
    FieldSchema(104, "name", D.VARCHAR, max_length=64),
    FieldSchema(105, "flag", D.BOOL),
    FieldSchema(106, "meta", D.JSON),
    FieldSchema(107, "tags", D.ARRAY, element_type=D.INT64, max_capacity=8),
    FieldSchema(108, "words", D.ARRAY, element_type=D.VARCHAR, max_capacity=8, max_length=16),
    FieldSchema(109, "score", D.INT64, nullable=True),
    FieldSchema(110, "nick", D.VARCHAR, max_length=16, nullable=True),
    FieldSchema(111, "vec", D.FLOAT_VECTOR, dim=2),
    FieldSchema(112, "$meta", D.JSON, is_dynamic=True),
)
SCHEMA = CollectionSchema("c", FIELDS, enable_dynamic_field=True)
N = 6


def _json(rows: list) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    out[:] = [None if r is None else json.dumps(r).encode() for r in rows]
    return out


def _objects(rows: list) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    out[:] = rows
    return out


COLUMNS: dict[str, np.ndarray] = {
    "id": np.array([1, 2, 3, 4, 5, 6], dtype=np.int64),
    "age": np.array([10, 20, 30, 40, 50, 60], dtype=np.int32),
    "price": np.array([0.1, 1.5, 2.5, 3.5, 4.5, -1.0], dtype=np.float32),
    "rating": np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    "name": _objects(["apple", "banana", "cherry", "date", "apricot", "a_b%c"]),
    "flag": np.array([True, False, True, False, True, False]),
    "meta": _json([
        {"a": 1, "s": "x", "l": [1, 2, 3]},
        {"a": "1", "s": "y", "l": [4]},
        {"a": 2.5, "b": {"c": True}, "l": ["x", 1]},
        {"a": True, "l": []},
        {"a": None},
        {"a": 3, "l": [[1, 2], 3]},
    ]),
    "tags": _objects([[1, 2], [], np.array([3]), [1, 5, 7], None, [2, 2]]),
    "words": _objects([["a", "b"], ["c"], [], ["b"], ["a", "c"], ["d"]]),
    "score": np.array([7, 0, 9, 0, 11, 13], dtype=np.int64),
    "score$valid": np.array([True, False, True, False, True, True]),
    "nick": _objects(["al", None, "cy", "di", None, "fa"]),
    "$meta": _json([{"color": "red", "n": 1}, {"color": "blue", "n": 5}, {}, {"n": 10},
                    {"color": "red"}, {"color": 3}]),
}
COLUMNS["tags$valid"] = np.array([True, True, True, True, False, True])


def rows(expr: str, templates: dict | None = None, columns: dict | None = None) -> list[int]:
    plan = compile_expr(expr, SCHEMA, templates)
    mask = plan.evaluate(columns if columns is not None else COLUMNS, N)
    assert mask.dtype == bool and mask.shape == (N,)
    # the compiled filter a querynode receives evaluates the same
    decoded = decode_plan(encode_plan(plan), SCHEMA)
    assert decoded.evaluate(columns if columns is not None else COLUMNS, N).tolist() == mask.tolist(), expr
    return [int(i) for i in np.flatnonzero(mask) + 1]  # as ids


@pytest.mark.parametrize("expr, expected", [
    ("age == 20", [2]), ("age != 20", [1, 3, 4, 5, 6]), ("age < 30", [1, 2]),
    ("age <= 30", [1, 2, 3]), ("age > 50", [6]), ("age >= 50", [5, 6]),
    ("20 < age", [3, 4, 5, 6]), ("30 >= age", [1, 2, 3]),
    ("id == 3", [3]), ("age == age", [1, 2, 3, 4, 5, 6]), ("age > id * 9", [1, 2, 3, 4, 5, 6]),
    ("rating > price", [1, 2, 3, 4, 5, 6]), ("rating == 3", [3]), ("rating == 3.0", [3]),
    ("price == 0.1", [1]), ("price < 0", [6]), ("price >= 2.5", [3, 4, 5]),
    ("name == 'cherry'", [3]), ('name == "cherry"', [3]), ("name > 'c'", [3, 4]),
    ("name <= 'apricot'", [1, 5, 6]), ("'banana' == name", [2]),
    ("flag == true", [1, 3, 5]), ("flag != True", [2, 4, 6]), ("flag == FALSE", [2, 4, 6]),
    ("flag", [1, 3, 5]), ("not flag", [2, 4, 6]), ("!flag", [2, 4, 6]),
])
def test_comparisons(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ("age > 15.5", [2, 3, 4, 5, 6]), ("age >= 20.0", [2, 3, 4, 5, 6]),
    ("age < 20.5", [1, 2]), ("age <= 19.9", [1]), ("age == 20.5", []),
    ("age != 20.5", [1, 2, 3, 4, 5, 6]), ("age == 2e1", [2]),
    ("age > 1e30", []), ("age < 1e30", [1, 2, 3, 4, 5, 6]),
    ("age < 9223372036854775807", [1, 2, 3, 4, 5, 6]), ("age > 3000000000", []),
    ("id < -9223372036854775808", []), ("id > -9223372036854775808", [1, 2, 3, 4, 5, 6]),
])
def test_int_field_against_float_and_extreme_literals(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ("20 < age < 50", [3, 4]), ("20 <= age <= 50", [2, 3, 4, 5]), ("50 > age >= 20", [2, 3, 4]),
    ("1 < id <= 2.5", [2]), ("'b' <= name < 'd'", [2, 3]),
    ("age in [10, 30, 99]", [1, 3]), ("age not in [10, 30, 99]", [2, 4, 5, 6]),
    ("age in []", []), ("age not in []", [1, 2, 3, 4, 5, 6]), ("age in [20.0, 30.5]", [2]),
    ("id in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]",
     [1, 2, 3, 4, 5, 6]),
    ("name in ['date', 'apple']", [1, 4]), ("name not in ['date', 'apple']", [2, 3, 5, 6]),
    ("name in ['a', 'b', 'c', 'd', 'e', 'date']", [4]),
    ("price in [0.1, 2.5]", [1, 3]), ("flag in [false]", [2, 4, 6]),
    ("not age in [10, 20]", [3, 4, 5, 6]), ("age + 1 in [11, 21]", [1, 2]),
])
def test_ranges_and_membership(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ("name like 'ap%'", [1, 5]), ("name like '%e'", [1, 4]), ("name like '%an%'", [2]),
    ("name like 'date'", [4]), ("name like '_a%'", [2, 4]), ("name like 'a%t'", [5]),
    ("name like '%'", [1, 2, 3, 4, 5, 6]), ("name like 'a\\\\_b%'", [6]),
    ("name like 'a_b\\\\%c'", [6]), ("name like '%r%y'", [3]), ("name LIKE 'b%'", [2]),
    ("not name like 'a%'", [2, 3, 4]),
])
def test_like(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ("price * 2 > 5", [4, 5]), ("age / 3 == 3", [1]), ("age / 7 == 2", [2]),
    ("(age - 45) / 10 == 0", [4, 5]), ("(age - 45) % 10 == -5", [1, 2, 3, 4]),
    ("age % 20 == 0", [2, 4, 6]), ("-age < -45", [5, 6]), ("age * 2 + 1 == 41", [2]),
    ("age + rating > 40", [4, 5, 6]), ("rating / 2 == 1.5", [3]), ("age ** 2 > 1000", [4, 5, 6]),
    ("2 ** 3 ** 2 == 64", [1, 2, 3, 4, 5, 6]), ("-2 ** 2 == -4", [1, 2, 3, 4, 5, 6]),
    ("age - 10 * 2 == 0", [2]), ("(age - 10) * 2 == 0", [1]), ("age + +1 == 11", [1]),
    ("age / id == 10", [1, 2, 3, 4, 5, 6]), ("7 / 2 == 3 and -7 / 2 == -3", [1, 2, 3, 4, 5, 6]),
    ("-7 % 3 == -1", [1, 2, 3, 4, 5, 6]), ("7.0 / 2 == 3.5", [1, 2, 3, 4, 5, 6]),
    ("1 < 2", [1, 2, 3, 4, 5, 6]), ("1 > 2", []),
])
def test_arithmetic(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected


def test_integer_division_by_a_zero_column_value_is_null() -> None:
    columns = dict(COLUMNS, score=np.array([7, 0, 9, 0, 11, 13]), **{"score$valid": None})
    del columns["score$valid"]
    assert rows("age / score >= 0", columns=columns) == [1, 3, 5, 6]
    assert rows("not (age / score >= 0)", columns=columns) == []


@pytest.mark.parametrize("expr, expected", [
    ("age > 10 and age < 50", [2, 3, 4]), ("age > 10 && age < 50", [2, 3, 4]),
    ("age < 20 or age > 50", [1, 6]), ("age < 20 || age > 50", [1, 6]),
    ("age < 20 OR age > 50 AND flag", [1]), ("(age < 20 or age > 50) and flag", [1]),
    ("not age > 30", [1, 2, 3]), ("not (age > 30) and flag", [1, 3]),
    ("not not flag", [1, 3, 5]), ("NOT flag", [2, 4, 6]),
    ("flag and age > 20 or id == 2", [2, 3, 5]), ("flag and (age > 20 or id == 2)", [3, 5]),
    ("true", [1, 2, 3, 4, 5, 6]), ("false or age == 10", [1]), ("true and age == 10", [1]),
    ("android == 1", []),  # a dynamic key that starts with a keyword
])
def test_logic_and_precedence(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ("score > 8", [3, 5, 6]), ("score != 7", [3, 5, 6]), ("score is null", [2, 4]),
    ("score IS NOT NULL", [1, 3, 5, 6]), ("not (score > 8)", [1]), ("score in [0, 7]", [1]),
    ("score not in [0, 7]", [3, 5, 6]), ("score > 8 or flag", [1, 3, 5, 6]),
    ("score > 100 or flag", [1, 3, 5]), ("not (score > 100 or flag)", [6]),
    ("not (score > 8 and flag)", [1, 2, 4, 6]), ("score + 1 > 8", [3, 5, 6]),
    ("nick == 'cy'", [3]), ("nick != 'cy'", [1, 4, 6]), ("nick is null", [2, 5]),
    ("nick like '%'", [1, 3, 4, 6]), ("nick < 'd'", [1, 3]),
    ("age is null", []), ("age is not null", [1, 2, 3, 4, 5, 6]),
])
def test_nulls(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected


def test_nullable_column_missing_from_batch_is_all_null() -> None:
    columns = {k: v for k, v in COLUMNS.items() if not k.startswith("score")}
    assert rows("score is null", columns=columns) == [1, 2, 3, 4, 5, 6]
    assert rows("score > 0 or age == 10", columns=columns) == [1]


def test_nullable_varchar_nones_without_valid_column() -> None:
    assert rows("nick > 'b'") == [3, 4, 6]


@pytest.mark.parametrize("expr, expected", [
    ('meta["a"] == 1', [1]), ('meta["a"] == 1.0', [1]), ('meta["a"] == "1"', [2]),
    ('meta["a"] == true', [4]), ('meta["a"] != 1', [2, 3, 4, 5, 6]), ('meta["a"] > 1', [3, 6]),
    ('meta["a"] >= 1', [1, 3, 6]), ('meta["a"] < "2"', [2]), ('meta["a"] in [1, "1"]', [1, 2]),
    ('meta["a"] not in [1, "1"]', [3, 4, 5, 6]), ('meta["a"] is null', [5]),
    ('meta["a"] is not null', [1, 2, 3, 4, 6]), ('meta["b"] is null', [1, 2, 4, 5, 6]),
    ('exists meta["a"]', [1, 2, 3, 4, 5, 6]), ('exists meta["b"]', [3]),
    ('EXISTS meta["b"]["c"]', [3]), ('meta["b"]["c"] == true', [3]), ('meta["b"]["c"]', [3]),
    ('meta["s"] like "x%"', [1]), ('not (meta["a"] == 1)', [2, 3, 4, 5, 6]),
    ('meta["l"][0] == 1', [1]), ('meta["l"][1] > 1', [1, 6]), ('meta["l"] == [4]', [2]),
    ("meta['l'] == [1, 2, 3]", [1]), ('meta["a"] + 1 == 2', [1]), ('meta["a"] * 2 > 4', [3, 6]),
    ('-meta["a"] == -3', [6]), ('1 < meta["a"] <= 3', [3, 6]), ('meta["a"] > age', []),
    ('meta["a"] == id - 3', [6]), ('meta["zz"] != 1', [1, 2, 3, 4, 5, 6]),
])
def test_json_field(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ('json_contains(meta["l"], 1)', [1, 3]), ('JSON_CONTAINS(meta["l"], "x")', [3]),
    ('json_contains(meta["l"], [1, 2])', [6]), ('json_contains(meta["a"], 1)', []),
    ('json_contains_all(meta["l"], [1, 2])', [1]), ('json_contains_all(meta["l"], [])',
                                                    [1, 2, 3, 4, 6]),
    ('json_contains_any(meta["l"], [4, "x"])', [2, 3]), ('json_contains_any(meta["l"], [])', []),
    ('array_length(meta["l"]) == 2', [3, 6]), ('array_length(meta["l"]) == 0', [4]),
    ('not json_contains(meta["l"], 1)', [2, 4, 5, 6]),
])
def test_json_functions(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ('color == "red"', [1, 5]), ('color != "red"', [2, 3, 4, 6]), ("n > 2", [2, 4]),
    ("n in [1, 10]", [1, 4]), ('$meta["color"] == "blue"', [2]), ("color == 3", [6]),
    ("color is null", [3, 4]), ("exists color", [1, 2, 5, 6]), ("n + color > 0", []),
    ('color like "r%"', [5, 1][::-1]), ("n / 2 == 2", [2]),
])
def test_dynamic_fields(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ("array_contains(tags, 1)", [1, 4]), ("ARRAY_CONTAINS(tags, 2)", [1, 6]),
    ("array_contains(tags, 2.0)", [1, 6]), ("array_contains(tags, 2.5)", []),
    ("array_contains_all(tags, [1, 5])", [4]), ("array_contains_all(tags, [2, 2])", [1, 6]),
    ("array_contains_all(tags, [])", [1, 2, 3, 4, 6]),
    ("array_contains_any(tags, [3, 7])", [3, 4]), ("array_contains_any(tags, [])", []),
    ("json_contains(tags, 3)", [3]), ("not array_contains(tags, 1)", [2, 3, 6]),
    ("array_length(tags) == 0", [2]), ("array_length(tags) > 1", [1, 4, 6]),
    ("tags[0] == 1", [1, 4]), ("tags[1] >= 2", [1, 4, 6]), ("tags[2] == 7", [4]),
    ("tags[5] == 1", []), ("tags[0] in [2, 3]", [3, 6]), ("tags[0] + tags[1] == 4", [6]),
    ("tags == [1, 2]", [1]), ("tags != [1, 2]", [2, 3, 4, 6]), ("tags == []", [2]),
    ("tags is null", [5]), ("tags is not null", [1, 2, 3, 4, 6]),
    ("array_contains(words, 'a')", [1, 5]), ("array_contains_any(words, ['c', 'd'])", [2, 5, 6]),
    ("array_contains_all(words, ['a', 'c'])", [5]), ("words[0] == 'b'", [4]),
    ("words[0] like 'a%'", [1, 5]), ("words[1] > 'a'", [1, 5]), ("words == ['c']", [2]),
    ("array_length(words) == 2", [1, 5]),
])
def test_array_fields(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected


@pytest.mark.parametrize("expr, templates, expected", [
    ("age > {a}", {"a": 35}, [4, 5, 6]), ("age > {a}", {"a": 35.5}, [4, 5, 6]),
    ("age in {ids}", {"ids": [10, 20]}, [1, 2]), ("age in {ids}", {"ids": (30,)}, [3]),
    ("age in {ids}", {"ids": np.array([40, 50])}, [4, 5]), ("age == {a}", {"a": np.int32(60)}, [6]),
    ("name == {s}", {"s": "date"}, [4]), ("name in {s}", {"s": ["date", "cherry"]}, [3, 4]),
    ("flag == {b}", {"b": False}, [2, 4, 6]), ("{lo} < age < {hi}", {"lo": 10, "hi": 40}, [2, 3]),
    ("array_contains_any(tags, {v})", {"v": [5, 3]}, [3, 4]),
    ('meta["a"] in {v}', {"v": [1, "1", True]}, [1, 2, 4]), ("name like {p}", {"p": "%e"}, [1, 4]),
    ("age in [{a}, {b}]", {"a": 10, "b": 60}, [1, 6]),
])
def test_templates(expr: str, templates: dict, expected: list[int]) -> None:
    assert rows(expr, templates) == expected


def test_template_values_from_protobuf() -> None:
    from proto.milvus import schema_pb2

    ints = schema_pb2.TemplateValue(array_val=schema_pb2.TemplateArrayValue(
        long_data=schema_pb2.LongArray(data=[10, 30])))
    strs = schema_pb2.TemplateValue(array_val=schema_pb2.TemplateArrayValue(
        string_data=schema_pb2.StringArray(data=["date"])))
    assert rows("age in {a} or name in {b}", {"a": ints, "b": strs}) == [1, 3, 4]
    assert rows("age > {x}", {"x": schema_pb2.TemplateValue(int64_val=50)}) == [6]
    assert rows("rating > {x}", {"x": schema_pb2.TemplateValue(float_val=5.5)}) == [6]
    assert rows("flag == {x}", {"x": schema_pb2.TemplateValue(bool_val=True)}) == [1, 3, 5]
    assert rows("name == {x}", {"x": schema_pb2.TemplateValue(string_val="apple")}) == [1]


def test_pk_values() -> None:
    assert compile_expr("id in [3, 1, 3]", SCHEMA).pk_values == [3, 1]
    assert compile_expr("id == 7", SCHEMA).pk_values == [7]
    assert compile_expr("7 == id", SCHEMA).pk_values == [7]
    assert compile_expr("(id in [1, 2.0, 2.5])", SCHEMA).pk_values == [1, 2]
    assert compile_expr("id in {ids}", SCHEMA, {"ids": [5, 6]}).pk_values == [5, 6]
    assert compile_expr("id in []", SCHEMA).pk_values == []
    big = list(range(1000, 3000))
    assert compile_expr(f"id in {big}", SCHEMA).pk_values == big
    for expr in ["id not in [1]", "id > 1", "id in [1] and age > 1", "age == 1", "id != 1", "",
                 "id == 1 or id == 2"]:
        assert compile_expr(expr, SCHEMA).pk_values is None, expr
    vschema = CollectionSchema("v", (FieldSchema(1, "pk", D.VARCHAR, is_primary=True,
                                                 max_length=8),))
    assert compile_expr("pk in ['a', \"b\", 'a']", vschema).pk_values == ["a", "b"]
    assert compile_expr("pk == 'x'", vschema).pk_values == ["x"]


def test_referenced_fields_and_always_true() -> None:
    plan = compile_expr("age > 1 and color == 'red' or meta['a'] == 1", SCHEMA)
    assert plan.referenced_fields == frozenset({"age", "$meta", "meta"})
    assert not plan.is_always_true
    assert compile_expr("false and age > 1", SCHEMA).referenced_fields == frozenset()
    for text in ["", "   ", "\n"]:
        plan = compile_expr(text, SCHEMA)
        assert isinstance(plan, ExprPlan) and plan.is_always_true and plan.pk_values is None
        assert plan.evaluate({}, 4).tolist() == [True] * 4


def test_only_referenced_columns_needed_and_mask_is_fresh() -> None:
    plan = compile_expr("flag", SCHEMA)
    flags = COLUMNS["flag"].copy()
    mask = plan.evaluate({"flag": flags}, N)
    mask[:] = False
    assert flags.tolist() == COLUMNS["flag"].tolist()


def test_empty_batch() -> None:
    empty = {k: v[:0] for k, v in COLUMNS.items()}
    for expr in ["age > 1", "name like 'a%'", 'meta["a"] == 1', "array_contains(tags, 1)",
                 "color == 'red'", "score is null", "tags[0] == 1", "age in [1, 2, 3, 4, 5, 6]"]:
        mask = compile_expr(expr, SCHEMA).evaluate(empty, 0)
        assert mask.shape == (0,) and mask.dtype == bool


def test_json_cells_may_be_str_or_parsed() -> None:
    cols = dict(COLUMNS, meta=_objects([json.dumps({"a": 1}), {"a": 2}, b"", None, b"{}",
                                        '{"a": 1}']))
    assert rows('meta["a"] == 1', columns=cols) == [1, 6]
    assert rows('meta["a"] is null', columns=cols) == [3, 4, 5]


def test_missing_required_column_is_an_internal_error() -> None:
    plan = compile_expr("age > 1", SCHEMA)
    with pytest.raises(Exception, match="age"):
        plan.evaluate({}, 3)


def test_bad_expression_raises_before_evaluation() -> None:
    with pytest.raises(ExpressionError) as err:
        compile_expr("age > 1 and name > 3", SCHEMA)
    assert err.value.code == 1100


def test_json_rows_holding_equal_length_lists() -> None:
    schema = CollectionSchema("j", (FieldSchema(1, "id", D.INT64, is_primary=True),
                                    FieldSchema(2, "m", D.JSON)))
    cols = {"m": _objects([b"[1, 2]", b"[3, 4]", b"[5, 6]"])}
    assert compile_expr("json_contains(m, 3)", schema).evaluate(cols, 3).tolist() == [
        False, True, False]
    assert compile_expr("m == [5, 6]", schema).evaluate(cols, 3).tolist() == [False, False, True]
    assert compile_expr("m[1] > 3", schema).evaluate(cols, 3).tolist() == [False, True, True]


def test_nullable_array_of_numpy_cells_without_valid_column() -> None:
    schema = CollectionSchema("a", (
        FieldSchema(1, "id", D.INT64, is_primary=True),
        FieldSchema(2, "a", D.ARRAY, element_type=D.FLOAT, max_capacity=4, nullable=True)))
    cols = {"a": _objects([np.array([0.1, 2.0], dtype=np.float32), None,
                           np.array([], dtype=np.float32)])}
    assert compile_expr("a is null", schema).evaluate(cols, 3).tolist() == [False, True, False]
    assert compile_expr("a[0] == 0.1", schema).evaluate(cols, 3).tolist() == [True, False, False]
    assert compile_expr("array_contains(a, 2)", schema).evaluate(cols, 3).tolist() == [
        True, False, False]
    assert compile_expr("a == [0.1, 2.0]", schema).evaluate(cols, 3).tolist() == [
        True, False, False]


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8])
def test_integer_membership_paths_match_numpy(dtype: type) -> None:
    from common.expr.values import isin_int

    rng = np.random.default_rng(7)
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, 5000, dtype=dtype, endpoint=True)
    x[:3] = [info.min, info.max, 0]
    cases = [
        [], [int(x[5])], [1, 2, 3], list(map(int, x[:50])),  # few / sparse values
        list(range(-100, 100)),  # dense range: direct table
        list(map(int, x[100:1100])) + [int(info.min), int(info.max)],  # wide: hashed
    ]
    for vals in cases:
        assert isin_int(x, vals).tolist() == np.isin(x, np.asarray(vals, dtype=dtype)).tolist()


def test_json_constant_comparisons_beyond_float_precision() -> None:
    big = 2**60
    columns = {**COLUMNS, "meta": _json([{"a": big}, {"a": big + 1}, {"a": 1.5}, {"a": "9"}, {"a": True}, {}])}
    assert rows(f'meta["a"] == {big + 1}', columns=columns) == [2]
    assert rows(f'meta["a"] > {big}', columns=columns) == [2]
    assert rows('meta["a"] >= 1.5', columns=columns) == [1, 2, 3]  # big ints force the per-row rule
    assert rows('meta["a"] != 1.5', columns=columns) == [1, 2, 4, 5, 6]
    assert rows('meta["a"] < "a"', columns=columns) == [4]
    assert rows('meta["a"] != "9"', columns=columns) == [1, 2, 3, 5, 6]
    assert rows('meta["a"] == true', columns=columns) == [5]


@pytest.mark.parametrize("expr, expected", [
    ("nick like 'a%'", [1]), ("nick like '%a'", [6]), ("nick like '%y%'", [3]),
    ("nick like '_i'", [4]), ("not (nick like '_i')", [1, 3, 6]), (r"name like 'a\_b%'", [6]),
])
def test_like_on_nullable_varchar(expr: str, expected: list[int]) -> None:
    assert rows(expr) == expected
