"""Every scalar type of the foundation, a VarChar primary key, JSON, and each index type through
the pymilvus ORM; results checked against NumPy."""
from __future__ import annotations

import json

import numpy as np
import pytest
from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, utility

DIM = 8
ROWS = 400


def test_all_scalar_types_round_trip_with_varchar_pk(orm) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    fields = [
        FieldSchema("key", DataType.VARCHAR, is_primary=True, max_length=32),
        FieldSchema("b", DataType.BOOL), FieldSchema("i8", DataType.INT8), FieldSchema("i16", DataType.INT16),
        FieldSchema("i32", DataType.INT32), FieldSchema("i64", DataType.INT64), FieldSchema("f", DataType.FLOAT),
        FieldSchema("d", DataType.DOUBLE), FieldSchema("s", DataType.VARCHAR, max_length=64),
        FieldSchema("j", DataType.JSON), FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM),
    ]
    collection = Collection("all_types", CollectionSchema(fields), consistency_level="Strong")
    keys = [f"k{i:04d}" for i in range(ROWS)]
    columns = {
        "b": [bool(i % 2) for i in range(ROWS)], "i8": [i % 100 - 50 for i in range(ROWS)],
        "i16": [i * 7 for i in range(ROWS)], "i32": [i * 1000 for i in range(ROWS)],
        "i64": [i * 10**9 for i in range(ROWS)], "f": [i / 4 for i in range(ROWS)],
        "d": [i / 3 for i in range(ROWS)], "s": [f"text-{i % 5}" for i in range(ROWS)],
        "j": [{"n": i, "tags": ["a", "b"][: i % 3]} for i in range(ROWS)],
    }
    vectors = rng.random((ROWS, DIM), dtype=np.float32)
    collection.insert([keys, *columns.values(), vectors])
    collection.create_index("v", {"index_type": "HNSW", "metric_type": "IP", "params": {"M": 8, "efConstruction": 64}})
    collection.load()

    rows = collection.query("key in ['k0007', 'k0123']", output_fields=list(columns))
    assert sorted(r["key"] for r in rows) == ["k0007", "k0123"]
    for row in rows:
        i = int(row["key"][1:])
        for name in ("b", "i8", "i16", "i32", "i64", "s"):
            assert row[name] == columns[name][i], name
        assert row["f"] == pytest.approx(columns["f"][i]) and row["d"] == pytest.approx(columns["d"][i])
        assert (json.loads(row["j"]) if isinstance(row["j"], str) else row["j"]) == columns["j"][i]

    got = collection.query("i8 >= 40 and b == true and s != 'text-0'", output_fields=["i8"])
    want = {keys[i] for i in range(ROWS) if columns["i8"][i] >= 40 and columns["b"][i] and columns["s"][i] != "text-0"}
    assert {r["key"] for r in got} == want
    got = collection.query('j["n"] < 10 and not (i16 > 20)', output_fields=["i16"])
    assert {r["key"] for r in got} == {keys[i] for i in range(ROWS) if i < 10 and columns["i16"][i] <= 20}

    hits = collection.search([vectors[9].tolist()], "v", {"metric_type": "IP", "params": {"ef": 200}}, limit=5,
                             output_fields=["s"])[0]
    expected = np.argsort(-(vectors @ vectors[9]), kind="stable")[:5]
    assert [h.id for h in hits] == [keys[i] for i in expected]
    assert hits[0].entity.get("s") == columns["s"][expected[0]]
    collection.release()
    collection.drop()


@pytest.mark.parametrize(("index_type", "params", "search"), [
    ("IVF_SQ8", {"nlist": 16}, {"nprobe": 16}),
    ("AUTOINDEX", {}, {}),
    ("FLAT", {}, {}),
])
def test_index_types_with_auto_id(orm, index_type: str, params: dict, search: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    rng = np.random.default_rng(9)
    fields = [FieldSchema("id", DataType.INT64, is_primary=True, auto_id=True),
              FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM)]
    name = f"idx_{index_type.lower()}"
    if utility.has_collection(name):
        utility.drop_collection(name)
    collection = Collection(name, CollectionSchema(fields), consistency_level="Strong")
    vectors = rng.random((2000, DIM), dtype=np.float32)
    ids = np.array(list(collection.insert([vectors]).primary_keys))
    assert len(set(ids.tolist())) == 2000
    collection.flush()
    collection.create_index("v", {"index_type": index_type, "metric_type": "L2", "params": params})
    utility.wait_for_index_building_complete(name)
    collection.load()
    queries = vectors[[1, 500, 1999]]
    results = collection.search(queries.tolist(), "v", {"metric_type": "L2", "params": search}, limit=10)
    exact = np.argsort(((queries[:, None, :] - vectors[None]) ** 2).sum(-1), axis=1)[:, :10]
    recall = np.mean([len({h.id for h in hits} & set(ids[exact[q]].tolist())) / 10 for q, hits in enumerate(results)])
    assert recall >= 0.9, recall
    assert all(hits[0].id == ids[[1, 500, 1999][q]] for q, hits in enumerate(results))
    collection.release()
    collection.drop()
