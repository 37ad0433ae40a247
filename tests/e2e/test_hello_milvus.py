"""The classic hello-milvus flow through the pymilvus ORM, checked against NumPy exact search."""
from __future__ import annotations

import numpy as np
import pytest
from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, utility

DIM = 8
ROWS = 3000


def _l2_topk(base: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
    distances = ((queries[:, None, :] - base[None, :, :]) ** 2).sum(-1)
    if allowed is not None:
        distances[:, ~allowed] = np.inf
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(distances, order, axis=1)


def test_hello_milvus(orm) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    fields = [
        FieldSchema("pk", DataType.INT64, is_primary=True, auto_id=False),
        FieldSchema("random", DataType.DOUBLE),
        FieldSchema("tag", DataType.VARCHAR, max_length=16),
        FieldSchema("embeddings", DataType.FLOAT_VECTOR, dim=DIM),
    ]
    schema = CollectionSchema(fields, "hello_milvus is the simplest demo")
    name = "hello_milvus"
    if utility.has_collection(name):
        utility.drop_collection(name)
    collection = Collection(name, schema, consistency_level="Strong")
    assert utility.has_collection(name)
    assert name in utility.list_collections()
    # re-opening with the same schema passes pymilvus's client-side schema comparison
    assert Collection(name, schema, consistency_level="Strong").schema == schema

    pks = np.arange(ROWS, dtype=np.int64)
    randoms = rng.random(ROWS)
    tags = [f"t{i % 7}" for i in range(ROWS)]
    vectors = rng.random((ROWS, DIM), dtype=np.float32)
    result = collection.insert([pks.tolist(), randoms.tolist(), tags, vectors])
    assert result.insert_count == ROWS
    collection.flush()
    assert collection.num_entities == ROWS

    collection.create_index("embeddings", {"index_type": "IVF_FLAT", "metric_type": "L2", "params": {"nlist": 32}})
    utility.wait_for_index_building_complete(name)
    collection.load()
    assert str(utility.load_state(name)) in ("Loaded", "LoadState.Loaded")

    queries = vectors[[5, 1234]]
    hits = collection.search(queries.tolist(), "embeddings", {"metric_type": "L2", "params": {"nprobe": 32}},
                             limit=5, output_fields=["random"])
    expected, expected_distances = _l2_topk(vectors, queries, 5)
    for q, result_hits in enumerate(hits):
        assert [h.id for h in result_hits] == expected[q].tolist()
        np.testing.assert_allclose([h.distance for h in result_hits], expected_distances[q], rtol=1e-4, atol=1e-5)
        for h in result_hits:
            assert h.entity.get("random") == pytest.approx(randoms[h.id])

    # filtered search
    hits = collection.search(queries.tolist(), "embeddings", {"metric_type": "L2", "params": {"nprobe": 32}},
                             limit=5, expr="random > 0.5 and tag in ['t1', 't2']")
    allowed = (randoms > 0.5) & np.isin(np.array(tags), ["t1", "t2"])
    expected, _ = _l2_topk(vectors, queries, 5, allowed)
    for q, result_hits in enumerate(hits):
        assert [h.id for h in result_hits] == expected[q].tolist()

    # query
    rows = collection.query("random > 0.5 and pk < 100", output_fields=["random", "tag"])
    want = {int(i) for i in pks[(randoms > 0.5) & (pks < 100)]}
    assert {r["pk"] for r in rows} == want
    assert all(r["tag"] == tags[r["pk"]] for r in rows)

    # delete, then the rows are gone from query and search
    deleted = [int(expected[0][0]), int(expected[1][0]), 3]
    collection.delete(f"pk in {deleted}")
    assert collection.query(f"pk in {deleted}") == []
    hits = collection.search(queries.tolist(), "embeddings", {"metric_type": "L2", "params": {"nprobe": 32}},
                             limit=5, expr="random > 0.5 and tag in ['t1', 't2']")
    for result_hits in hits:
        assert not set(h.id for h in result_hits) & set(deleted)
    assert collection.query("", output_fields=["count(*)"])[0]["count(*)"] == ROWS - len(deleted)

    collection.release()
    collection.drop()
    assert not utility.has_collection(name)


def test_growing_and_sealed_rows_are_both_visible(orm) -> None:  # type: ignore[no-untyped-def]
    """Rows still in growing segments and rows already flushed are searched together, once each."""
    rng = np.random.default_rng(11)
    fields = [FieldSchema("id", DataType.INT64, is_primary=True, auto_id=True),
              FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM)]
    collection = Collection("mixed", CollectionSchema(fields), consistency_level="Strong")
    first = rng.random((500, DIM), dtype=np.float32)
    ids_first = collection.insert([first]).primary_keys
    collection.create_index("v", {"index_type": "FLAT", "metric_type": "L2", "params": {}})
    collection.load()
    collection.flush()
    second = rng.random((500, DIM), dtype=np.float32)
    ids_second = collection.insert([second]).primary_keys
    all_ids = np.array(list(ids_first) + list(ids_second))
    base = np.vstack([first, second])
    queries = base[[10, 700]]
    hits = collection.search(queries.tolist(), "v", {"metric_type": "L2"}, limit=10)
    expected, _ = _l2_topk(base, queries, 10)
    for q, result_hits in enumerate(hits):
        assert [h.id for h in result_hits] == all_ids[expected[q]].tolist()
    assert collection.query("", output_fields=["count(*)"])[0]["count(*)"] == 1000
    collection.flush()  # handoff of the second segment
    assert collection.query("", output_fields=["count(*)"])[0]["count(*)"] == 1000
    hits = collection.search(queries.tolist(), "v", {"metric_type": "L2"}, limit=10)
    for q, result_hits in enumerate(hits):
        assert [h.id for h in result_hits] == all_ids[expected[q]].tolist()
    collection.drop()
