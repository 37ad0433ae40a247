"""The whole write/read path in one process (MiniCluster), driven through our own MilvusService stub."""
from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from proto.milvus import common_pb2, milvus_pb2, schema_pb2
from tests.support.minicluster import MiniCluster

DIM = 4


@pytest.fixture()
def mini(tmp_path):  # type: ignore[no-untyped-def]
    cluster = MiniCluster(tmp_path).start()
    yield cluster
    cluster.stop()


def _ok(status: common_pb2.Status) -> None:
    assert status.code == 0 and status.error_code == 0, status.reason


def _wait(predicate, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _create(stub, name: str) -> None:  # type: ignore[no-untyped-def]
    schema = schema_pb2.CollectionSchema(name=name)
    schema.fields.add(name="id", data_type=schema_pb2.Int64, is_primary_key=True)
    schema.fields.add(name="score", data_type=schema_pb2.Double)
    vector = schema.fields.add(name="v", data_type=schema_pb2.FloatVector)
    vector.type_params.add(key="dim", value=str(DIM))
    _ok(stub.CreateCollection(milvus_pb2.CreateCollectionRequest(
        collection_name=name, schema=schema.SerializeToString(), consistency_level=common_pb2.Strong)))
    _ok(stub.CreateIndex(milvus_pb2.CreateIndexRequest(collection_name=name, field_name="v", extra_params=[
        common_pb2.KeyValuePair(key="index_type", value="FLAT"),
        common_pb2.KeyValuePair(key="metric_type", value="L2")])))
    _ok(stub.LoadCollection(milvus_pb2.LoadCollectionRequest(collection_name=name)))
    _wait(lambda: stub.GetLoadingProgress(milvus_pb2.GetLoadingProgressRequest(collection_name=name)).progress >= 100)


def _insert(stub, name: str, ids: np.ndarray, vectors: np.ndarray) -> milvus_pb2.MutationResult:  # type: ignore[no-untyped-def]
    request = milvus_pb2.InsertRequest(collection_name=name, num_rows=len(ids))
    pk = request.fields_data.add(type=schema_pb2.Int64, field_name="id")
    pk.scalars.long_data.data.extend(ids.tolist())
    score = request.fields_data.add(type=schema_pb2.Double, field_name="score")
    score.scalars.double_data.data.extend((ids * 0.5).tolist())
    vec = request.fields_data.add(type=schema_pb2.FloatVector, field_name="v")
    vec.vectors.dim = DIM
    vec.vectors.float_vector.data.extend(vectors.ravel().tolist())
    result = stub.Insert(request)
    _ok(result.status)
    return result


def _search(stub, name: str, query: np.ndarray, k: int, expr: str = "") -> list[int]:  # type: ignore[no-untyped-def]
    group = common_pb2.PlaceholderGroup()
    group.placeholders.add(tag="$0", type=common_pb2.FloatVector, values=[struct.pack(f"{DIM}f", *query)])
    result = stub.Search(milvus_pb2.SearchRequest(
        collection_name=name, dsl=expr, placeholder_group=group.SerializeToString(), nq=1,
        search_params=[common_pb2.KeyValuePair(key="topk", value=str(k)),
                       common_pb2.KeyValuePair(key="params", value="{}")],
        consistency_level=common_pb2.Strong))
    _ok(result.status)
    return list(result.results.ids.int_id.data)


def _count(stub, name: str) -> int:  # type: ignore[no-untyped-def]
    result = stub.Query(milvus_pb2.QueryRequest(collection_name=name, output_fields=["count(*)"],
                                                consistency_level=common_pb2.Strong))
    _ok(result.status)
    return result.fields_data[0].scalars.long_data.data[0]


def test_insert_search_delete_flush(mini: MiniCluster) -> None:
    stub = mini.milvus()
    _create(stub, "c1")
    rng = np.random.default_rng(0)
    vectors = rng.random((200, DIM), dtype=np.float32)
    ids = np.arange(200, dtype=np.int64)
    _insert(stub, "c1", ids, vectors)
    assert _count(stub, "c1") == 200
    exact = np.argsort(((vectors - vectors[17]) ** 2).sum(1), kind="stable")[:5]
    assert _search(stub, "c1", vectors[17], 5) == exact.tolist()
    assert set(_search(stub, "c1", vectors[17], 5, "score > 50")) <= set(range(101, 200))

    _ok(stub.Delete(milvus_pb2.DeleteRequest(collection_name="c1", expr="id in [17, 18]")).status)
    assert 17 not in _search(stub, "c1", vectors[17], 5)
    assert _count(stub, "c1") == 198

    flush = stub.Flush(milvus_pb2.FlushRequest(collection_names=["c1"]))
    _ok(flush.status)
    _wait(lambda: stub.GetFlushState(milvus_pb2.GetFlushStateRequest(
        collection_name="c1", flush_ts=flush.coll_flush_ts["c1"])).flushed)
    stats = stub.GetCollectionStatistics(milvus_pb2.GetCollectionStatisticsRequest(collection_name="c1"))
    assert dict((kv.key, kv.value) for kv in stats.stats)["row_count"] == "200"
    # after the handoff to the sealed segment every row is still seen exactly once
    _wait(lambda: _count(stub, "c1") == 198)
    for _ in range(20):
        assert _count(stub, "c1") == 198
        time.sleep(0.05)


def test_errors_are_statuses(mini: MiniCluster) -> None:
    stub = mini.milvus()
    missing = stub.DescribeCollection(milvus_pb2.DescribeCollectionRequest(collection_name="nope"))
    assert missing.status.code == 100
    _create(stub, "c2")
    bad = stub.Query(milvus_pb2.QueryRequest(collection_name="c2", expr="id >> 3", output_fields=["id"]))
    assert bad.status.code == 1100
    wrong_dim = milvus_pb2.InsertRequest(collection_name="c2", num_rows=1)
    wrong_dim.fields_data.add(type=schema_pb2.Int64, field_name="id").scalars.long_data.data.append(1)
    wrong_dim.fields_data.add(type=schema_pb2.Double, field_name="score").scalars.double_data.data.append(1.0)
    vec = wrong_dim.fields_data.add(type=schema_pb2.FloatVector, field_name="v")
    vec.vectors.dim = DIM + 1
    vec.vectors.float_vector.data.extend([0.0] * (DIM + 1))
    assert stub.Insert(wrong_dim).status.code == 1100
    assert _count(stub, "c2") == 0
