"""Partitions, aliases, HasCollection(time_stamp) and the InMemory views of ShowCollections /
ShowPartitions on the real multi-process cluster, through pymilvus (MilvusClient, ORM) and,
for what pymilvus does not send, its raw gRPC stub. Partition-restricted searches are checked
against NumPy exact search; every error case checks that nothing changed."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from minio import Minio
from pymilvus import Collection, DataType, MilvusClient, Partition, connections, utility
from pymilvus.exceptions import MilvusException
from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc

DIM = 8
IN_MEMORY = milvus_pb2.ShowType.Value("InMemory")


# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def client(cluster) -> Iterator[MilvusClient]:  # type: ignore[no-untyped-def]
    client = MilvusClient(cluster.uri)
    yield client
    client.close()


@pytest.fixture()
def stub(cluster) -> Iterator[milvus_pb2_grpc.MilvusServiceStub]:  # type: ignore[no-untyped-def]
    channel = grpc.insecure_channel(f"127.0.0.1:{cluster.port}")
    yield milvus_pb2_grpc.MilvusServiceStub(channel)
    channel.close()


def _create(client: MilvusClient, name: str) -> None:
    """A Strong collection (id, tag, vec) with a FLAT L2 index, not loaded."""
    for alias in client.list_aliases(name)["aliases"] if client.has_collection(name) else []:
        client.drop_alias(alias)
    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tag", DataType.VARCHAR, max_length=16)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    client.release_collection(name)


def _rows(ids: range, tag: str, rng: np.random.Generator) -> tuple[list[dict[str, Any]], np.ndarray]:
    vectors = rng.random((len(ids), DIM), dtype=np.float32)
    return [{"id": i, "tag": tag, "vec": v.tolist()} for i, v in zip(ids, vectors)], vectors


def _exact(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    distances = ((vectors - query) ** 2).sum(1)
    return ids[np.argsort(distances, kind="stable")[:k]].tolist()


def _hit_ids(result: Any) -> list[int]:
    return [hit["id"] for hit in result[0]]


def _code(call: Callable[[], Any]) -> int:
    with pytest.raises(MilvusException) as info:
        call()
    return info.value.code


def _count(client: MilvusClient, name: str, partitions: list[str] | None = None) -> int:
    rows = client.query(name, filter="", output_fields=["count(*)"], partition_names=partitions)
    return rows[0]["count(*)"]


def _eventually(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
def test_partitions_with_milvus_client(client: MilvusClient, stub, cluster, s3_server) -> None:  # type: ignore[no-untyped-def]
    name = "parts"
    _create(client, name)
    rng = np.random.default_rng(3)

    # -- create / has / list, and the errors that change nothing --------------------------
    client.create_partition(name, "p1")
    client.create_partition(name, "p2")
    assert client.has_partition(name, "p1") and not client.has_partition(name, "p3")
    assert client.list_partitions(name) == ["_default", "p1", "p2"]
    assert _code(lambda: client.create_partition(name, "p1")) == 1100  # duplicate
    assert _code(lambda: client.create_partition(name, "bad-name")) == 1100
    assert _code(lambda: client.create_partition(name, "1st")) == 1100
    assert _code(lambda: client.create_partition(name, "x" * 256)) == 1100
    assert _code(lambda: client.create_partition("no_such_coll", "p9")) == 100
    assert _code(lambda: client.has_partition("no_such_coll", "p1")) == 100
    assert _code(lambda: client.drop_partition(name, "_default")) == 1100
    assert _code(lambda: client.drop_partition(name, "p3")) == 200
    assert client.list_partitions(name) == ["_default", "p1", "p2"]

    # -- data into named partitions (some flushed, some growing) ---------------------------
    parts = {"_default": range(0, 100), "p1": range(100, 200), "p2": range(200, 300)}
    vectors = {}
    for part in ("_default", "p1"):
        rows, vectors[part] = _rows(parts[part], part, rng)
        assert client.insert(name, rows, partition_name=part)["insert_count"] == 100
    client.flush(name)
    rows, vectors["p2"] = _rows(parts["p2"], "p2", rng)
    client.insert(name, rows, partition_name="p2")  # stays growing
    assert _code(lambda: client.insert(name, rows[:1], partition_name="p9")) == 200
    assert client.get_partition_stats(name, "p1")["row_count"] == 100
    assert _code(lambda: client.get_partition_stats(name, "p9")) == 200
    assert client.get_collection_stats(name)["row_count"] == 200

    # -- load one partition: reads see it only ---------------------------------------------
    assert _code(lambda: client.load_partitions(name, ["p9"])) == 200
    assert client.get_load_state(name)["state"].name == "NotLoad"
    client.load_partitions(name, ["p1"])
    assert client.get_load_state(name, partition_name="p1")["state"].name == "Loaded"
    assert client.get_load_state(name, partition_name="p2")["state"].name == "NotLoad"
    query = rng.random(DIM, dtype=np.float32)
    ids1 = np.arange(100, 200)
    got = client.search(name, [query.tolist()], limit=10, anns_field="vec")
    assert _hit_ids(got) == _exact(ids1, vectors["p1"], query, 10)
    assert _code(lambda: client.search(name, [query.tolist()], limit=5, partition_names=["p2"])) == 201
    assert _code(lambda: client.query(name, filter="id >= 0", partition_names=["p9"])) == 200
    assert _count(client, name) == 100

    # -- load another: restricted searches and queries match NumPy -------------------------
    client.load_partitions(name, ["p2"])
    both_ids = np.arange(100, 300)
    both_vectors = np.concatenate([vectors["p1"], vectors["p2"]])
    got = client.search(name, [query.tolist()], limit=15, partition_names=["p1", "p2"], output_fields=["tag"])
    assert _hit_ids(got) == _exact(both_ids, both_vectors, query, 15)
    assert {hit["entity"]["tag"] for hit in got[0]} <= {"p1", "p2"}
    got = client.search(name, [query.tolist()], limit=5, partition_names=["p2"])
    assert _hit_ids(got) == _exact(np.arange(200, 300), vectors["p2"], query, 5)
    rows = client.query(name, filter="id < 250", partition_names=["p2"], output_fields=["tag"])
    assert sorted(r["id"] for r in rows) == list(range(200, 250))
    assert _count(client, name, ["p1"]) == 100 and _count(client, name, ["p2"]) == 100

    # -- deletes and upserts apply to their partition only ---------------------------------
    client.insert(name, [{"id": 150, "tag": "dup", "vec": [0.0] * DIM}], partition_name="p2")  # same pk in p2
    client.delete(name, ids=[150], partition_name="p2")
    assert [r["tag"] for r in client.query(name, filter="id == 150")] == ["p1"]
    client.delete(name, ids=[150], partition_name="p1")
    assert client.query(name, filter="id == 150") == []
    client.upsert(name, [{"id": 250, "tag": "new", "vec": [0.5] * DIM}], partition_name="p2")
    assert [r["tag"] for r in client.query(name, filter="id == 250", output_fields=["tag"])] == ["new"]
    assert _count(client, name) == 199

    # -- InMemory views (raw gRPC: pymilvus never sends them) ------------------------------
    shown = stub.ShowPartitions(milvus_pb2.ShowPartitionsRequest(collection_name=name, type=IN_MEMORY))
    assert list(shown.partition_names) == ["p1", "p2"] and list(shown.inMemory_percentages) == [100, 100]
    shown = stub.ShowPartitions(milvus_pb2.ShowPartitionsRequest(collection_name=name, type=IN_MEMORY,
                                                                 partition_names=["_default"]))
    assert shown.status.code == 201
    loaded = stub.ShowCollections(milvus_pb2.ShowCollectionsRequest(type=IN_MEMORY))
    assert name in loaded.collection_names
    assert loaded.inMemory_percentages[list(loaded.collection_names).index(name)] == 100

    # -- release, drop: loaded partitions cannot be dropped --------------------------------
    client.release_partitions(name, ["p1"])
    assert _code(lambda: client.search(name, [query.tolist()], limit=5, partition_names=["p1"])) == 201
    assert _count(client, name) == 100  # p2 only
    assert _code(lambda: client.drop_partition(name, "p2")) == 1100
    assert client.list_partitions(name) == ["_default", "p1", "p2"]
    client.release_partitions(name, ["p2"])  # the last loaded partition: the collection is released
    assert client.get_load_state(name)["state"].name == "NotLoad"
    client.flush(name)
    info = client.describe_collection(name)
    p2_id = stub.ShowPartitions(milvus_pb2.ShowPartitionsRequest(collection_name=name)).partitionIDs[2]
    s3 = Minio(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, secure=False)
    prefix = f"files/insert_log/{info['collection_id']}/{p2_id}/"
    assert list(s3.list_objects("shared", prefix=prefix, recursive=True))  # p2's segment file
    client.drop_partition(name, "p2")
    assert client.list_partitions(name) == ["_default", "p1"]
    assert not list(s3.list_objects("shared", prefix=prefix, recursive=True))
    assert client.get_collection_stats(name)["row_count"] == 200  # _default and p1, flushed
    assert _code(lambda: client.get_partition_stats(name, "p2")) == 200
    client.load_collection(name)
    assert _count(client, name) == 199  # _default and p1 (150 deleted), no p2
    assert _code(lambda: client.query(name, filter="id > 0", partition_names=["p2"])) == 200
    client.drop_collection(name)


def test_partitions_with_the_orm(orm, cluster, stub) -> None:  # type: ignore[no-untyped-def]
    client = MilvusClient(cluster.uri)
    name = "orm_parts"
    _create(client, name)
    client.close()
    rng = np.random.default_rng(11)
    collection = Collection(name)
    partition = Partition(collection, "orm_p", description="orm partition")
    assert collection.has_partition("orm_p") and utility.has_partition(name, "orm_p")
    assert [p.name for p in collection.partitions] == ["_default", "orm_p"]
    vectors = rng.random((50, DIM), dtype=np.float32)
    partition.insert([list(range(50)), ["orm"] * 50, vectors.tolist()])
    collection.insert([list(range(50, 60)), ["def"] * 10, rng.random((10, DIM), dtype=np.float32).tolist()])
    collection.flush()
    assert partition.num_entities == 50 and collection.num_entities == 60
    partition.load()
    assert utility.loading_progress(name, ["orm_p"])["loading_progress"] == "100%"
    query = vectors[7]
    hits = partition.search([query.tolist()], "vec", {"metric_type": "L2"}, limit=3)
    assert [h.id for h in hits[0]] == _exact(np.arange(50), vectors, query, 3)
    assert len(partition.query("id >= 0")) == 50
    # loaded partition cannot be dropped; release it first
    with pytest.raises(MilvusException):
        partition.drop()
    assert collection.has_partition("orm_p")
    partition.release()
    partition.drop()
    assert not collection.has_partition("orm_p")
    collection.drop()

    # HasCollection(time_stamp): true only between creation and drop
    before = stub.AllocTimestamp(milvus_pb2.AllocTimestampRequest()).timestamp
    client = MilvusClient(cluster.uri)
    _create(client, "ts_coll")
    during = stub.AllocTimestamp(milvus_pb2.AllocTimestampRequest()).timestamp
    client.drop_collection("ts_coll")
    client.close()

    def has(ts: int) -> bool:
        answer = stub.HasCollection(milvus_pb2.HasCollectionRequest(collection_name="ts_coll", time_stamp=ts))
        assert answer.status.code == 0
        return answer.value

    assert [has(before), has(during), has(0)] == [False, True, False]
    after = stub.AllocTimestamp(milvus_pb2.AllocTimestampRequest()).timestamp
    assert not has(after)


def test_aliases(client: MilvusClient, cluster) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    for name in ("al_a", "al_b"):
        _create(client, name)
    rows_a, _ = _rows(range(0, 10), "a", rng)
    rows_b, vectors_b = _rows(range(100, 130), "b", rng)
    client.create_alias("al_a", "live")
    assert client.describe_alias("live")["collection_name"] == "al_a"
    assert client.list_aliases("al_a")["aliases"] == ["live"]
    assert client.describe_collection("live")["collection_name"] == "al_a"

    # every data and read RPC takes the alias
    client.insert("live", rows_a)
    client.flush("live")
    assert client.get_collection_stats("live")["row_count"] == 10
    client.load_collection("live")
    assert _count(client, "live") == 10
    client.insert("al_b", rows_b)
    client.load_collection("al_b")

    # alter: the same name now reads the other collection (the proxy's cache follows)
    client.alter_alias("al_b", "live")
    assert client.describe_alias("live")["collection_name"] == "al_b"
    assert client.list_aliases("al_a")["aliases"] == [] and client.list_aliases("al_b")["aliases"] == ["live"]
    assert _count(client, "live") == 30
    query = vectors_b[3]
    got = client.search("live", [query.tolist()], limit=4)
    assert _hit_ids(got) == _exact(np.arange(100, 130), vectors_b, query, 4)
    client.upsert("live", [{"id": 100, "tag": "up", "vec": [0.1] * DIM}])
    client.delete("live", ids=[101])
    assert [r["tag"] for r in client.query("live", filter="id in [100, 101]", output_fields=["tag"])] == ["up"]

    # clashes and unknown names are refused, and change nothing
    assert _code(lambda: client.create_alias("al_a", "live")) == 1602  # points elsewhere already
    assert _code(lambda: client.create_alias("al_b", "al_a")) == 1601  # a collection's name
    assert _code(lambda: client.create_alias("live", "again")) == 100  # alias of an alias
    assert _code(lambda: client.create_alias("no_such_coll", "x1")) == 100
    assert _code(lambda: client.create_alias("al_a", "bad-alias")) == 1100
    assert _code(lambda: client.drop_alias("nope")) == 1600
    assert _code(lambda: client.alter_alias("al_a", "nope")) == 1600
    assert _code(lambda: client.describe_alias("nope")) == 1600
    assert _code(lambda: client.create_collection("live", dimension=4)) == 1601
    assert _code(lambda: client.drop_collection("live")) == 1100  # via an alias
    assert _code(lambda: client.drop_collection("al_b")) == 1100  # still has an alias
    assert client.has_collection("al_b") and client.describe_alias("live")["collection_name"] == "al_b"
    assert client.list_aliases()["aliases"] == ["live"]

    # aliases live in etcd: they survive a rootcoord crash
    assert cluster.kill_role("rootcoord") == 1
    _eventually(lambda: _alive(lambda: client.describe_alias("live")))
    assert client.describe_alias("live")["collection_name"] == "al_b"

    # the ORM's utility functions
    connections.connect("aliases_orm", uri=cluster.uri)
    utility.create_alias("al_a", "orm_alias", using="aliases_orm")
    assert sorted(utility.list_aliases("al_a", using="aliases_orm")) == ["orm_alias"]
    utility.alter_alias("al_b", "orm_alias", using="aliases_orm")
    assert sorted(utility.list_aliases("al_b", using="aliases_orm")) == ["live", "orm_alias"]
    utility.drop_alias("orm_alias", using="aliases_orm")
    connections.disconnect("aliases_orm")
    client.drop_alias("live")
    assert client.list_aliases()["aliases"] == []
    with pytest.raises(MilvusException):
        client.describe_collection("live")
    for name in ("al_a", "al_b"):
        client.drop_collection(name)


def _alive(call: Callable[[], Any]) -> bool:
    try:
        call()
    except MilvusException:
        return False
    return True

