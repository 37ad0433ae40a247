"""The MilvusClient quick-setup flow, with dynamic fields."""
from __future__ import annotations

import numpy as np
from pymilvus import MilvusClient


def test_quick_setup_flow(cluster) -> None:  # type: ignore[no-untyped-def]
    client = MilvusClient(cluster.uri)
    name = "quick_setup"
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, dimension=4)
    assert name in client.list_collections()
    described = client.describe_collection(name)
    assert [f["name"] for f in described["fields"]] == ["id", "vector"]
    assert described["enable_dynamic_field"] is True

    rng = np.random.default_rng(3)
    vectors = rng.random((100, 4), dtype=np.float32)
    rows = [{"id": i, "vector": vectors[i].tolist(), "color": f"c{i % 3}", "n": i} for i in range(100)]
    assert client.insert(name, rows)["insert_count"] == 100

    query_vector = vectors[42]
    hits = client.search(name, [query_vector.tolist()], limit=3, output_fields=["color", "n"],
                         consistency_level="Strong")[0]
    normalized = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = normalized @ (query_vector / np.linalg.norm(query_vector))
    assert [h["id"] for h in hits] == np.argsort(-cosine)[:3].tolist()
    assert hits[0]["entity"]["color"] == "c0" and hits[0]["entity"]["n"] == 42

    got = client.query(name, filter="n >= 10 and color == 'c1'", output_fields=["n"], limit=5, offset=2,
                       consistency_level="Strong")
    want = [i for i in range(100) if i >= 10 and i % 3 == 1][2:7]
    assert [r["id"] for r in got] == want
    assert client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"] == 100
    star = client.query(name, filter="id == 5", output_fields=["*"], consistency_level="Strong")
    assert star[0]["color"] == "c2" and star[0]["n"] == 5 and len(star[0]["vector"]) == 4

    # upsert replaces the row with the same key: same count, new values, visible at once
    client.upsert(name, [{"id": 5, "vector": vectors[5].tolist(), "color": "blue", "n": 5}])
    assert client.get(name, ids=[5])[0]["color"] == "blue"
    assert client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"] == 100
    assert client.query(name, filter="color == 'c2' and n == 5", consistency_level="Strong") == []

    fetched = client.get(name, ids=[1, 2])
    assert sorted(r["id"] for r in fetched) == [1, 2]
    client.delete(name, ids=[1, 2])
    client.delete(name, filter="n >= 90")
    remaining = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
    assert remaining == 100 - 2 - 10
    assert client.get(name, ids=[1, 2]) == []

    client.flush(name)
    # As in Milvus, row_count counts the rows written to segments (the upsert wrote one more);
    # deletes are not subtracted until compaction.
    assert client.get_collection_stats(name)["row_count"] == 101
    client.release_collection(name)
    assert str(client.get_load_state(name)["state"]).endswith("NotLoad")
    client.load_collection(name)
    again = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
    assert again == remaining
    client.drop_collection(name)
    assert not client.has_collection(name)
    client.close()


def test_authorization_header_is_accepted_while_auth_is_off(cluster) -> None:  # type: ignore[no-untyped-def]
    client = MilvusClient(cluster.uri, token="root:Milvus")
    assert client.get_server_version()
    assert isinstance(client.list_collections(), list)
    client.close()
