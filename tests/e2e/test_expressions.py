"""The boolean expression language through pymilvus on the multi-process cluster: every family
of the language by query, filtered search and delete, on one collection holding sealed and
growing rows of scalar, JSON, Array, nullable and default-valued fields plus dynamic keys. Each
result is checked against a plain Python evaluation of the same rows."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

NAME = "exprs"
N = 600
DIM = 8
PREFIXES = ["ab", "abc", "xmidy", "zzyz", "a_c"]

Row = dict[str, Any]


def make_rows() -> list[Row]:
    rng = np.random.default_rng(11)
    rows = []
    for i in range(N):
        row: Row = {
            "id": i, "age": int(rng.integers(0, 100)), "price": int(rng.integers(0, 80)) / 4,
            "name": f"{PREFIXES[i % 5]}{i}", "flag": i % 3 == 0,
            "meta": {"a": "text" if i % 11 == 0 else i % 10, "b": {"c": "x" if i % 2 else "y"},
                     "l": [i % 3, i % 5, 3][: 1 + i % 3], **({"opt": None} if i % 7 == 0 else {})},
            "tags": [int(v) for v in rng.integers(0, 10, size=i % 6)],
            "words": [f"w{(i + k) % 4}" for k in range(i % 4)],
            "vec": rng.random(DIM).astype(np.float32).tolist(),
            "color": ["red", "green", "blue"][i % 3],
        }
        if i % 4:  # every fourth row leaves the nullable fields out or sends None
            row["score"] = int(rng.integers(0, 100))
        elif i % 8 == 0:
            row["score"] = None
        row["nick"] = None if i % 5 == 0 else f"x{i % 7}"
        if i % 2:
            row["level"] = i % 10  # else the default, 7
        if i % 6 == 0:
            row["n"] = i
        rows.append(row)
    return rows


ROWS = make_rows()


def stored(row: Row, name: str) -> Any:
    """The value the server holds for ``name`` (None for NULL or an absent dynamic key)."""
    if name == "level":
        return row.get("level", 7)
    return row.get(name)


# ------------------------------------------------------------------ reference semantics
def num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def jpath(row: Row, *path: Any) -> Any:
    """A JSON path in ``meta`` (or a dynamic key); ``MISSING`` when absent."""
    doc: Any = row["meta"] if path[0] == "meta" else {k: v for k, v in row.items() if k in ("color", "n")}
    for step in path[1:]:
        if isinstance(doc, dict) and step in doc:
            doc = doc[step]
        elif isinstance(doc, list) and isinstance(step, int) and step < len(doc):
            doc = doc[step]
        else:
            return MISSING
    return doc


MISSING = object()


def like(value: Any, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return isinstance(value, str) and re.fullmatch(regex, value, re.DOTALL) is not None


def cmp(v: Any, op: str, c: Any) -> bool:
    """A comparison with a NULL/missing/other-typed value is false."""
    if v is None or v is MISSING or (num(c) and not num(v)) or (isinstance(c, str) and not isinstance(v, str)):
        return False
    return {"<": v < c, "<=": v <= c, ">": v > c, ">=": v >= c, "==": v == c, "!=": v != c}[op]


CASES: list[tuple[str, Callable[[Row], bool]]] = [
    # comparisons, chained ranges, arithmetic
    ("age > 30", lambda r: r["age"] > 30),
    ("age >= 30 and age < 40", lambda r: 30 <= r["age"] < 40),
    ("10 < age <= 20", lambda r: 10 < r["age"] <= 20),
    ("50 >= age > 40", lambda r: 40 < r["age"] <= 50),
    ("price * 2 > 10", lambda r: r["price"] * 2 > 10),
    ("age % 7 == 3", lambda r: r["age"] % 7 == 3),
    ("age + 5 == 20 or price / 2 < 1.5", lambda r: r["age"] + 5 == 20 or r["price"] / 2 < 1.5),
    ("age ** 2 >= 8100", lambda r: r["age"] ** 2 >= 8100),
    ("-age < -95", lambda r: -r["age"] < -95),
    ("age > price", lambda r: r["age"] > r["price"]),
    ("flag == true and age != 4", lambda r: r["flag"] and r["age"] != 4),
    ("level == 7", lambda r: stored(r, "level") == 7),
    # in / not in
    ("age in [1, 5, 10, 20]", lambda r: r["age"] in (1, 5, 10, 20)),
    ("name not in ['ab0', 'abc1', 'zz']", lambda r: r["name"] not in ("ab0", "abc1")),
    ("id in [3, 7, 599, 1000]", lambda r: r["id"] in (3, 7, 599)),
    ("id == 42", lambda r: r["id"] == 42),
    # like
    ("name like 'ab%'", lambda r: r["name"].startswith("ab")),
    ("name like '%9'", lambda r: r["name"].endswith("9")),
    ("name like '%mid%'", lambda r: "mid" in r["name"]),
    ("name like 'a_c%'", lambda r: like(r["name"], "a_c%")),
    (r"name like 'a\_c%'", lambda r: r["name"].startswith("a_c")),
    # and / or / not precedence
    ("age < 10 or age > 90 and flag == true", lambda r: r["age"] < 10 or (r["age"] > 90 and r["flag"])),
    ("(age < 10 or age > 90) and flag == true", lambda r: (r["age"] < 10 or r["age"] > 90) and r["flag"]),
    ("not (age < 50) && flag", lambda r: r["age"] >= 50 and r["flag"]),
    ("!(flag == true) || age == 3", lambda r: not r["flag"] or r["age"] == 3),
    # NULLs and defaults
    ("score is null", lambda r: r.get("score") is None),
    ("score is not null and score > 50", lambda r: cmp(r.get("score"), ">", 50)),
    ("not (score > 50)", lambda r: r.get("score") is not None and not r["score"] > 50),
    ("nick is null or nick like 'x1%'", lambda r: r["nick"] is None or r["nick"].startswith("x1")),
    ("nick != 'x3'", lambda r: r["nick"] is not None and r["nick"] != "x3"),
    # JSON paths, exists, dynamic keys
    ('exists meta["opt"]', lambda r: "opt" in r["meta"]),
    ('meta["a"] > 5', lambda r: cmp(jpath(r, "meta", "a"), ">", 5)),
    ('meta["a"] == "text"', lambda r: jpath(r, "meta", "a") == "text"),
    ('meta["b"]["c"] == "x"', lambda r: jpath(r, "meta", "b", "c") == "x"),
    ('meta["l"][1] == 3', lambda r: cmp(jpath(r, "meta", "l", 1), "==", 3)),
    ('meta["opt"] is null', lambda r: True),  # absent or JSON null everywhere
    ('color == "red"', lambda r: r["color"] == "red"),
    ("n < 100", lambda r: cmp(r.get("n", MISSING), "<", 100)),
    ('$meta["color"] in ["green", "blue"] and n >= 300',
     lambda r: r["color"] in ("green", "blue") and cmp(r.get("n", MISSING), ">=", 300)),
    ('json_contains(meta["l"], 3)', lambda r: 3 in r["meta"]["l"]),
    ('json_contains_all(meta["l"], [0, 3])', lambda r: {0, 3} <= set(r["meta"]["l"])),
    ('json_contains_any(meta["l"], [4, 2])', lambda r: bool({4, 2} & set(r["meta"]["l"]))),
    ('array_length(meta["l"]) == 2', lambda r: len(r["meta"]["l"]) == 2),
    # arrays
    ("array_contains(tags, 5)", lambda r: 5 in r["tags"]),
    ("array_contains_all(tags, [1, 2])", lambda r: {1, 2} <= set(r["tags"])),
    ('array_contains_any(words, ["w0", "w3"])', lambda r: bool({"w0", "w3"} & set(r["words"]))),
    ("array_length(tags) > 3", lambda r: len(r["tags"]) > 3),
    ("tags[2] == 7", lambda r: len(r["tags"]) > 2 and r["tags"][2] == 7),
    ('words[0] == "w1" and tags[0] < 5', lambda r: r["words"][:1] == ["w1"] and r["tags"][:1] != []
     and r["tags"][0] < 5),
]

TEMPLATE_CASES: list[tuple[str, dict[str, Any], Callable[[Row], bool]]] = [
    ("age in {ages} and name like {p}", {"ages": [1, 2, 3, 50, 60], "p": "ab%"},
     lambda r: r["age"] in (1, 2, 3, 50, 60) and r["name"].startswith("ab")),
    ("{lo} < age < {hi}", {"lo": 20, "hi": 25}, lambda r: 20 < r["age"] < 25),
    ("price >= {p}", {"p": 19.5}, lambda r: r["price"] >= 19.5),
    ("array_contains_any(tags, {vals})", {"vals": [8, 9]}, lambda r: bool({8, 9} & set(r["tags"]))),
    ('meta["b"]["c"] == {c} and flag == {f}', {"c": "y", "f": True},
     lambda r: jpath(r, "meta", "b", "c") == "y" and r["flag"]),
    ("id in {ids}", {"ids": [5, 6, 700]}, lambda r: r["id"] in (5, 6)),
]


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def client(cluster) -> Iterator[MilvusClient]:  # type: ignore[no-untyped-def]
    client = MilvusClient(cluster.uri)
    if client.has_collection(NAME):
        client.drop_collection(NAME)
    schema = MilvusClient.create_schema(enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("age", DataType.INT32)
    schema.add_field("price", DataType.FLOAT)
    schema.add_field("name", DataType.VARCHAR, max_length=32)
    schema.add_field("flag", DataType.BOOL)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=8)
    schema.add_field("words", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=8)
    schema.add_field("score", DataType.INT64, nullable=True)
    schema.add_field("nick", DataType.VARCHAR, max_length=16, nullable=True)
    schema.add_field("level", DataType.INT16, default_value=np.int16(7))
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(NAME, schema=schema, consistency_level="Strong")
    half = N // 2
    assert client.insert(NAME, ROWS[:half])["insert_count"] == half
    client.flush(NAME)  # the first half is a sealed segment in S3, the rest stays growing
    index = client.prepare_index_params()
    index.add_index("vec", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 64})
    client.create_index(NAME, index)
    client.load_collection(NAME)
    assert client.insert(NAME, ROWS[half:])["insert_count"] == N - half
    yield client
    client.drop_collection(NAME)
    client.close()


def ids_of(result: list[dict]) -> set[int]:
    return {r["id"] for r in result}


# --------------------------------------------------------------------------------- tests
def test_schema_echoes_nullable_default_and_array(client: MilvusClient) -> None:
    fields = {f["name"]: f for f in client.describe_collection(NAME)["fields"]}
    assert fields["score"].get("nullable") is True and fields["nick"].get("nullable") is True
    assert fields["level"]["default_value"].int_data == 7 or fields["level"]["default_value"].long_data == 7
    assert fields["tags"]["element_type"] == DataType.INT64 and fields["tags"]["params"]["max_capacity"] == 8
    assert fields["words"]["params"]["max_length"] == 8


def test_query_matches_python_for_every_family(client: MilvusClient) -> None:
    failures = []
    for expr, predicate in CASES:
        got = ids_of(client.query(NAME, filter=expr, output_fields=["id"]))
        want = {r["id"] for r in ROWS if predicate(r)}
        if got != want:
            failures.append(f"{expr}: {len(got ^ want)} rows differ, e.g. {sorted(got ^ want)[:5]}")
    assert not failures, "\n".join(failures)


def test_template_expressions(client: MilvusClient) -> None:
    for expr, params, predicate in TEMPLATE_CASES:
        got = ids_of(client.query(NAME, filter=expr, filter_params=params, output_fields=["id"]))
        assert got == {r["id"] for r in ROWS if predicate(r)}, expr


def test_output_fields_come_back_full_length_with_nulls(client: MilvusClient) -> None:
    names = ["score", "nick", "level", "tags", "words", "meta", "color", "n"]
    got = {r["id"]: r for r in client.query(NAME, filter="id in [0, 1, 2, 3, 4, 5, 6, 301, 596]",
                                            output_fields=names)}
    assert sorted(got) == [0, 1, 2, 3, 4, 5, 6, 301, 596]
    for i, row in got.items():
        want = ROWS[i]
        assert row["score"] == want.get("score") and row["nick"] == want["nick"], i
        assert row["level"] == stored(want, "level") and row["tags"] == want["tags"] and row["words"] == want["words"]
        assert row["meta"] == want["meta"] and row["color"] == want["color"] and row.get("n") == want.get("n")
    star = client.query(NAME, filter="id == 8", output_fields=["*"])[0]
    assert star["score"] is None and star["level"] == 7 and len(star["vec"]) == DIM


def test_filtered_search_is_exact_over_matching_rows(client: MilvusClient) -> None:
    vectors = np.array([r["vec"] for r in ROWS], dtype=np.float32)
    queries = vectors[[7, 450]] + 0.01
    for expr, predicate in [c for c in CASES if c[0] in (
            "age > 30", "score is null", 'meta["a"] > 5', "array_contains(tags, 5)", "name like 'ab%'",
            "10 < age <= 20", "id in [3, 7, 599, 1000]", 'color == "red"')]:
        allowed = np.array([predicate(r) for r in ROWS])
        results = client.search(NAME, queries.tolist(), filter=expr, limit=10, anns_field="vec",
                                search_params={"metric_type": "L2", "params": {"ef": 64}},
                                output_fields=["score", "tags"])
        for q, hits in enumerate(results):
            d = ((vectors - queries[q]) ** 2).sum(1)
            d[~allowed] = np.inf
            want = [int(i) for i in np.argsort(d, kind="stable")[: min(10, int(allowed.sum()))]]
            assert [h["id"] for h in hits] == want, expr
            for h in hits:
                row = ROWS[h["id"]]
                assert h["entity"]["score"] == row.get("score") and h["entity"]["tags"] == row["tags"]
    templated = client.search(NAME, queries[:1].tolist(), filter="age < {a}", filter_params={"a": 10}, limit=5,
                              anns_field="vec", output_fields=["age"])[0]
    assert templated and all(h["entity"]["age"] < 10 for h in templated)


def test_invalid_expressions_are_code_1100_and_change_nothing(client: MilvusClient) -> None:
    def error(call: Callable[[], Any]) -> MilvusException:
        with pytest.raises(MilvusException) as info:
            call()
        assert info.value.code == 1100, info.value
        return info.value

    err = error(lambda: client.query(NAME, filter="age >> 3"))
    assert "cannot parse expression" in err.message and "column 6" in err.message
    err = error(lambda: client.query(NAME, filter="name > 5"))
    assert "name" in err.message and "VarChar" in err.message
    err = error(lambda: client.query(NAME, filter="array_contains(tags, 'x')"))
    assert "tags" in err.message
    err = error(lambda: client.query(NAME, filter="age in {missing}"))
    assert "missing" in err.message
    err = error(lambda: client.search(NAME, [[0.0] * DIM], filter="vec > 1", limit=3, anns_field="vec"))
    assert "vec" in err.message
    error(lambda: client.delete(NAME, filter="age >> 3"))
    assert client.query(NAME, filter="", output_fields=["count(*)"])[0]["count(*)"] == N


def test_unknown_field_without_dynamic_schema(client: MilvusClient) -> None:
    name = "exprs_static"
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, dimension=4, enable_dynamic_field=False)
    try:
        with pytest.raises(MilvusException) as info:
            client.query(name, filter="nosuch > 1")
        assert info.value.code == 1100 and "nosuch" in info.value.message
    finally:
        client.drop_collection(name)


def test_delete_by_expression(client: MilvusClient) -> None:
    alive = {r["id"] for r in ROWS}
    deletions: list[tuple[str, dict[str, Any], Callable[[Row], bool]]] = [
        ("score is null and age >= 50", {}, lambda r: r.get("score") is None and r["age"] >= 50),
        ("array_contains(tags, 3) and meta[\"b\"][\"c\"] == 'x'", {},
         lambda r: 3 in r["tags"] and r["meta"]["b"]["c"] == "x"),
        ("id in {ids}", {"ids": [10, 11, 12, 590]}, lambda r: r["id"] in (10, 11, 12, 590)),
        ("name like 'zz%' and level == 7", {}, lambda r: r["name"].startswith("zz") and stored(r, "level") == 7),
    ]
    for expr, params, predicate in deletions:
        client.delete(NAME, filter=expr, filter_params=params)
        alive -= {r["id"] for r in ROWS if predicate(r)}
        assert ids_of(client.query(NAME, filter="id >= 0", output_fields=["id"])) == alive, expr
        assert client.query(NAME, filter=expr, filter_params=params, output_fields=["id"]) == []
