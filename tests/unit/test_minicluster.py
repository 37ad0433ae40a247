"""The whole write/read path in one process (MiniCluster), driven through our own MilvusService stub."""
from __future__ import annotations

import time

import numpy as np
import pytest

from common.expr import compile_expr, decode_plan, encode_plan
from common.rpc import RpcClient, make_channel
from proto.internal import meta_pb2
from proto.milvus import common_pb2, milvus_pb2, milvus_pb2_grpc, schema_pb2
from tests.support.mini_requests import DIM, count_rows, create_collection, insert, ok, search_ids, wait_until
from tests.support.minicluster import WIRINGS, MiniCluster


@pytest.fixture(params=WIRINGS)
def mini(tmp_path, request):  # type: ignore[no-untyped-def]
    """The cluster with its roles calling each other over gRPC, and calling the cores directly."""
    cluster = MiniCluster(tmp_path, wiring=request.param).start()
    yield cluster
    cluster.stop()


def test_insert_search_delete_flush(mini: MiniCluster) -> None:
    stub = mini.milvus()
    create_collection(stub, "c1")
    rng = np.random.default_rng(0)
    vectors = rng.random((200, DIM), dtype=np.float32)
    ids = np.arange(200, dtype=np.int64)
    insert(stub, "c1", ids, vectors)
    assert count_rows(stub, "c1") == 200
    exact = np.argsort(((vectors - vectors[17]) ** 2).sum(1), kind="stable")[:5]
    assert search_ids(stub, "c1", vectors[17], 5) == exact.tolist()
    assert set(search_ids(stub, "c1", vectors[17], 5, "score > 50")) <= set(range(101, 200))

    ok(stub.Delete(milvus_pb2.DeleteRequest(collection_name="c1", expr="id in [17, 18]")).status)
    assert 17 not in search_ids(stub, "c1", vectors[17], 5)
    assert count_rows(stub, "c1") == 198

    flush = stub.Flush(milvus_pb2.FlushRequest(collection_names=["c1"]))
    ok(flush.status)
    wait_until(lambda: stub.GetFlushState(milvus_pb2.GetFlushStateRequest(
        collection_name="c1", flush_ts=flush.coll_flush_ts["c1"])).flushed)
    stats = stub.GetCollectionStatistics(milvus_pb2.GetCollectionStatisticsRequest(collection_name="c1"))
    assert dict((kv.key, kv.value) for kv in stats.stats)["row_count"] == "200"
    # after the handoff to the sealed segment every row is still seen exactly once
    wait_until(lambda: count_rows(stub, "c1") == 198)
    for _ in range(20):
        assert count_rows(stub, "c1") == 198
        time.sleep(0.05)


def test_errors_are_statuses(mini: MiniCluster) -> None:
    stub = mini.milvus()
    missing = stub.DescribeCollection(milvus_pb2.DescribeCollectionRequest(collection_name="nope"))
    assert missing.status.code == 100
    create_collection(stub, "c2")
    bad = stub.Query(milvus_pb2.QueryRequest(collection_name="c2", expr="id >> 3", output_fields=["id"]))
    assert bad.status.code == 1100
    wrong_dim = milvus_pb2.InsertRequest(collection_name="c2", num_rows=1)
    wrong_dim.fields_data.add(type=schema_pb2.Int64, field_name="id").scalars.long_data.data.append(1)
    wrong_dim.fields_data.add(type=schema_pb2.Double, field_name="score").scalars.double_data.data.append(1.0)
    vec = wrong_dim.fields_data.add(type=schema_pb2.FloatVector, field_name="v")
    vec.vectors.dim = DIM + 1
    vec.vectors.float_vector.data.extend([0.0] * (DIM + 1))
    assert stub.Insert(wrong_dim).status.code == 1100
    assert count_rows(stub, "c2") == 0


def _ids_at(stub, name: str, **timestamps: int) -> list[int]:  # type: ignore[no-untyped-def]
    result = stub.Query(milvus_pb2.QueryRequest(collection_name=name, expr="id >= 0", output_fields=["id"],
                                                **timestamps))
    ok(result.status)
    return sorted(result.fields_data[0].scalars.long_data.data)


def test_travel_and_guarantee_timestamps(mini: MiniCluster) -> None:
    """A read at ``travel_timestamp`` sees the collection as it was then, before and after the
    rows are flushed; a Customized read waits for writes up to its ``guarantee_timestamp``."""
    stub = mini.milvus()
    create_collection(stub, "tt")
    rng = np.random.default_rng(1)
    ts_first = insert(stub, "tt", np.arange(10), rng.random((10, DIM), dtype=np.float32)).timestamp
    deleted = stub.Delete(milvus_pb2.DeleteRequest(collection_name="tt", expr="id in [3]"))
    ok(deleted.status)
    ts_last = insert(stub, "tt", np.arange(10, 15), rng.random((5, DIM), dtype=np.float32)).timestamp
    assert ts_first < deleted.timestamp < ts_last

    def check() -> None:
        assert _ids_at(stub, "tt", travel_timestamp=ts_first) == list(range(10))
        assert _ids_at(stub, "tt", travel_timestamp=deleted.timestamp) == [i for i in range(10) if i != 3]
        assert _ids_at(stub, "tt", travel_timestamp=ts_last) == [i for i in range(15) if i != 3]
        assert _ids_at(stub, "tt", guarantee_timestamp=ts_last,
                       consistency_level=common_pb2.Customized) == [i for i in range(15) if i != 3]

    check()
    flush = stub.Flush(milvus_pb2.FlushRequest(collection_names=["tt"]))
    wait_until(lambda: stub.GetFlushState(milvus_pb2.GetFlushStateRequest(
        collection_name="tt", flush_ts=flush.coll_flush_ts["tt"])).flushed)
    check()
    future = ts_last + (3600_000 << 18)
    response = stub.Query(milvus_pb2.QueryRequest(collection_name="tt", expr="id >= 0", travel_timestamp=future))
    assert response.status.code == 1100 and "future" in response.status.reason


def test_a_second_proxy_sees_partitions_and_aliases_made_through_the_first(mini: MiniCluster) -> None:
    """Each proxy caches collection metadata; changes made through another proxy reach it
    through its watch on rootcoord's catalog."""
    first = mini.milvus()
    second_server = mini.add("proxy")
    channel = make_channel(f"127.0.0.1:{second_server.address.rsplit(':', 1)[1]}")
    second = milvus_pb2_grpc.MilvusServiceStub(channel)
    try:
        create_collection(first, "shared")
        insert(second, "shared", np.arange(3), np.zeros((3, DIM), dtype=np.float32))  # cached by the second
        ok(first.CreatePartition(milvus_pb2.CreatePartitionRequest(collection_name="shared", partition_name="p1")))
        wait_until(lambda: _insert_one(second, "shared", "p1").code == 0, timeout_s=10)
        ok(first.CreateAlias(milvus_pb2.CreateAliasRequest(collection_name="shared", alias="nick")))
        wait_until(lambda: _insert_one(second, "nick", "p1").code == 0, timeout_s=10)  # now cached under "nick"
        ok(first.DropAlias(milvus_pb2.DropAliasRequest(alias="nick")))
        wait_until(lambda: _insert_one(second, "nick", "p1").code == 100, timeout_s=10)
    finally:
        channel.close()


def _insert_one(stub, name: str, partition: str) -> common_pb2.Status:  # type: ignore[no-untyped-def]
    request = milvus_pb2.InsertRequest(collection_name=name, partition_name=partition, num_rows=1)
    request.fields_data.add(type=schema_pb2.Int64, field_name="id").scalars.long_data.data.append(7)
    request.fields_data.add(type=schema_pb2.Double, field_name="score").scalars.double_data.data.append(1.0)
    vector = request.fields_data.add(type=schema_pb2.FloatVector, field_name="v")
    vector.vectors.dim = DIM
    vector.vectors.float_vector.data.extend([0.0] * DIM)
    return stub.Insert(request).status


def test_an_upserted_key_never_disappears_from_reads(mini: MiniCluster) -> None:
    """An upsert's delete and insert are appended together, so even a read that does not wait
    (Bounded) sees the old row or the new one, never neither."""
    import threading

    stub = mini.milvus()
    create_collection(stub, "ups")
    insert(stub, "ups", np.arange(3), np.zeros((3, DIM), dtype=np.float32))
    wait_until(lambda: count_rows(stub, "ups") == 3)
    missing: list[int] = []
    stop = threading.Event()

    def read() -> None:
        request = milvus_pb2.QueryRequest(collection_name="ups", expr="id == 1", output_fields=["count(*)"],
                                          consistency_level=common_pb2.Bounded)
        while not stop.is_set():
            result = stub.Query(request)
            if result.status.code or result.fields_data[0].scalars.long_data.data[0] != 1:
                missing.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(150):
            request = milvus_pb2.UpsertRequest(collection_name="ups", num_rows=1)
            request.fields_data.add(type=schema_pb2.Int64, field_name="id").scalars.long_data.data.append(1)
            request.fields_data.add(type=schema_pb2.Double, field_name="score").scalars.double_data.data.append(i)
            vector = request.fields_data.add(type=schema_pb2.FloatVector, field_name="v")
            vector.vectors.dim = DIM
            vector.vectors.float_vector.data.extend([float(i)] * DIM)
            ok(stub.Upsert(request).status)
    finally:
        stop.set()
        reader.join()
    assert missing == []


def test_whole_appends_keeps_the_last_append_for_the_next_fetch() -> None:
    from common.mq.log import Record
    from nodes.querynode.shard import whole_appends

    records = [Record(0, 5, b""), Record(1, 7, b""), Record(2, 9, b""), Record(3, 9, b"")]
    assert whole_appends(records) == records[:2]
    assert whole_appends(records[2:]) == records[2:]  # one append only: applied whole


def _search_status(stub, name: str, metric: str, ef: str = "") -> int:  # type: ignore[no-untyped-def]
    group = common_pb2.PlaceholderGroup()
    group.placeholders.add(tag="$0", type=common_pb2.FloatVector, values=[np.zeros(DIM, np.float32).tobytes()])
    params = [common_pb2.KeyValuePair(key="topk", value="3"), common_pb2.KeyValuePair(key="metric_type", value=metric),
              common_pb2.KeyValuePair(key="params", value='{"ef": %s}' % ef if ef else "{}")]
    result = stub.Search(milvus_pb2.SearchRequest(collection_name=name, placeholder_group=group.SerializeToString(),
                                                  nq=1, search_params=params, consistency_level=common_pb2.Strong))
    return result.status.code


def test_checked_search_params_follow_the_index(mini: MiniCluster) -> None:
    """The proxy reuses what it checked for a request shape only while the index it checked
    against is the same: after the index is rebuilt with another metric, the old metric is
    refused and the new one served. Refused shapes stay refused."""
    stub = mini.milvus()
    create_collection(stub, "c3")  # FLAT, L2
    insert(stub, "c3", np.arange(10, dtype=np.int64), np.random.default_rng(1).random((10, DIM), dtype=np.float32))
    for _ in range(2):
        assert _search_status(stub, "c3", "L2") == 0
        assert _search_status(stub, "c3", "IP") == 1100
    ok(stub.ReleaseCollection(milvus_pb2.ReleaseCollectionRequest(collection_name="c3")))
    ok(stub.DropIndex(milvus_pb2.DropIndexRequest(collection_name="c3", field_name="v")))
    ok(stub.CreateIndex(milvus_pb2.CreateIndexRequest(collection_name="c3", field_name="v", extra_params=[
        common_pb2.KeyValuePair(key="index_type", value="HNSW"), common_pb2.KeyValuePair(key="metric_type", value="IP"),
        common_pb2.KeyValuePair(key="params", value='{"M": 8, "efConstruction": 16}')])))
    ok(stub.LoadCollection(milvus_pb2.LoadCollectionRequest(collection_name="c3")))
    progress = milvus_pb2.GetLoadingProgressRequest(collection_name="c3")
    wait_until(lambda: stub.GetLoadingProgress(progress).progress >= 100)
    for _ in range(2):
        assert _search_status(stub, "c3", "IP") == 0
        assert _search_status(stub, "c3", "L2") == 1100
        assert _search_status(stub, "c3", "IP", ef="1") == 1100  # ef below topk: HNSW's rule now applies


def test_roles_call_their_peers_as_wired(mini: MiniCluster) -> None:
    """Direct wiring hands a role the cores of its peers; gRPC wiring hands it clients."""
    servers = {s.role: s for s in mini.servers}
    proxy, node = servers["proxy"].context, servers["querynode"]
    peers = [(proxy.rootcoord, servers["rootcoord"]), (proxy.datacoord, servers["datacoord"]),
             (proxy.querycoord, servers["querycoord"]), (proxy.querynode(node.address), node)]
    for peer, server in peers:
        state = peer.get_component_state(meta_pb2.Empty())
        assert (state.role, state.server_id, state.state) == (server.role, server.context.node_id, "healthy")
        if mini.wiring == "direct":
            assert peer is server.logic
        else:
            assert isinstance(peer, RpcClient) and peer.address == server.address


def test_the_proxy_sends_one_checked_plan(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What a querynode receives: the resolved metric and index type, typed index params, the
    query vectors as raw little-endian bytes and the compiled filter (for Query too)."""
    mini = MiniCluster(tmp_path, wiring="direct").start()
    try:
        stub = mini.milvus()
        create_collection(stub, "p")  # FLAT, L2
        insert(stub, "p", np.arange(10, dtype=np.int64), np.random.default_rng(2).random((10, DIM), dtype=np.float32))
        node = next(s for s in mini.servers if s.role == "querynode").logic
        sent: list = []  # type: ignore[type-arg]
        for method in ("search", "query"):
            real = getattr(node, method)
            setattr(node, method, lambda request, real=real: sent.append(request) or real(request))
        query = np.array([0.5, 0.25, -1.0, 2.0], dtype=np.float32)
        assert search_ids(stub, "p", query, 3, "score > 1.5 and id != 9") == search_ids(stub, "p", query, 3,
                                                                                         "score > 1.5 and id != 9")
        first, again = sent
        plan = first.plan
        assert (plan.anns_field, plan.metric_type, plan.index_type, plan.nq, plan.topk) == ("v", "L2", "FLAT", 1, 3)
        assert not plan.params.HasField("ef") and not plan.params.HasField("nprobe")
        assert plan.vectors == query.astype("<f4").tobytes()
        schema = next(s for s in mini.servers if s.role == "proxy").logic.env.cache.get("p").schema
        assert first.scope.filter == again.scope.filter == encode_plan(compile_expr("score > 1.5 and id != 9", schema))
        ok(stub.Query(milvus_pb2.QueryRequest(collection_name="p", expr="id in [3, 4]", output_fields=["id"],
                                              consistency_level=common_pb2.Strong)).status)
        assert decode_plan(sent[-1].scope.filter, schema).pk_values == [3, 4]
    finally:
        mini.stop()
