"""Query replicas on a MiniCluster with several querynodes: placement on distinct nodes,
GetReplicas, replica number changes and their errors, reads spread over the replicas, failover
when a querynode stops (no read fails), re-placement onto a new node, LoadBalance within a
replica. Every read is checked against NumPy exact search over the rows."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from proto.milvus import milvus_pb2
from tests.support.mini_requests import DIM, count_rows, create_collection, insert, ok, search_ids, wait_until
from tests.support.minicluster import WIRINGS, MiniCluster

K = 5


def _cluster(tmp_path, wiring: str, querynodes: int) -> MiniCluster:  # type: ignore[no-untyped-def]
    cluster = MiniCluster(tmp_path, wiring=wiring).start()  # one querynode
    for _ in range(querynodes - 1):
        cluster.add("querynode")
    return cluster


def _querynodes(mini: MiniCluster) -> dict[int, object]:
    return {s.logic.node_id: s for s in mini.servers if s.role == "querynode" and s.logic.healthy}


def _replicas(stub, name: str) -> list[milvus_pb2.ReplicaInfo]:  # type: ignore[no-untyped-def]
    described = stub.DescribeCollection(milvus_pb2.DescribeCollectionRequest(collection_name=name))
    ok(described.status)
    answer = stub.GetReplicas(milvus_pb2.GetReplicasRequest(collectionID=described.collectionID,
                                                            with_shard_nodes=True))
    ok(answer.status)
    return sorted(answer.replicas, key=lambda r: r.replicaID)


def _load(stub, name: str, replicas: int) -> None:  # type: ignore[no-untyped-def]
    ok(stub.LoadCollection(milvus_pb2.LoadCollectionRequest(collection_name=name, replica_number=replicas)))
    progress = milvus_pb2.GetLoadingProgressRequest(collection_name=name)
    wait_until(lambda: stub.GetLoadingProgress(progress).progress >= 100)


def _serving(stub, name: str) -> bool:  # type: ignore[no-untyped-def]
    """Every replica has a live leader for every channel."""
    return all(s.leaderID for r in _replicas(stub, name) for s in r.shard_replicas)


def _exact(vectors: np.ndarray, q: np.ndarray) -> list[int]:
    return np.argsort(((vectors - q) ** 2).sum(1), kind="stable")[:K].tolist()


def _fill(mini: MiniCluster, stub, name: str, rows: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``rows`` rows (ids 0..rows-1), half of them in a flushed segment, half growing."""
    vectors = np.random.default_rng(3).random((rows, DIM), dtype=np.float32)
    half = rows // 2
    insert(stub, name, np.arange(half), vectors[:half])
    flush = stub.Flush(milvus_pb2.FlushRequest(collection_names=[name]))
    ok(flush.status)
    wait_until(lambda: stub.GetFlushState(milvus_pb2.GetFlushStateRequest(
        collection_name=name, flush_ts=flush.coll_flush_ts[name])).flushed)
    insert(stub, name, np.arange(half, rows), vectors[half:])
    return vectors


def test_replicas_are_placed_on_distinct_querynodes_and_reported(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mini = _cluster(tmp_path, "direct", 3)
    try:
        stub = mini.milvus()
        create_collection(stub, "c")  # loaded with one replica
        assert [sorted(r.node_ids) for r in _replicas(stub, "c")] == [sorted(_querynodes(mini))]
        ok(stub.ReleaseCollection(milvus_pb2.ReleaseCollectionRequest(collection_name="c")))
        assert _replicas(stub, "c") == []  # not loaded: none (as Milvus)

        too_many = stub.LoadCollection(milvus_pb2.LoadCollectionRequest(collection_name="c", replica_number=4))
        assert too_many.code == 304
        assert too_many.reason == ("resource group node not enough[rg=__default_resource_group][currentNodeNum=3]"
                                   "[expectedNodeNum=4]")
        assert _replicas(stub, "c") == []  # nothing changed

        ok(stub.CreatePartition(milvus_pb2.CreatePartitionRequest(collection_name="c", partition_name="p")))
        ok(stub.LoadPartitions(milvus_pb2.LoadPartitionsRequest(collection_name="c", partition_names=["p"],
                                                                replica_number=2)))
        partitions = stub.ShowPartitions(milvus_pb2.ShowPartitionsRequest(collection_name="c"))
        p_id = dict(zip(partitions.partition_names, partitions.partitionIDs))["p"]
        replicas = _replicas(stub, "c")
        assert len(replicas) == 2 and all(list(r.partition_ids) == [p_id] for r in replicas)
        assert not set(replicas[0].node_ids) & set(replicas[1].node_ids)
        ok(stub.ReleaseCollection(milvus_pb2.ReleaseCollectionRequest(collection_name="c")))

        _load(stub, "c", 2)
        wait_until(lambda: _serving(stub, "c"))
        replicas = _replicas(stub, "c")
        assert len(replicas) == 2 and replicas[0].replicaID != replicas[1].replicaID
        nodes = [set(r.node_ids) for r in replicas]
        assert not nodes[0] & nodes[1] and nodes[0] | nodes[1] == set(_querynodes(mini))
        described = stub.DescribeCollection(milvus_pb2.DescribeCollectionRequest(collection_name="c"))
        for replica, own in zip(replicas, nodes):
            assert replica.collectionID == described.collectionID
            assert replica.resource_group_name == "__default_resource_group"
            assert len(replica.partition_ids) == 2  # a whole load: _default and p
            assert sorted(s.dm_channel_name for s in replica.shard_replicas) == sorted(described.physical_channel_names)
            for shard in replica.shard_replicas:
                assert shard.leaderID in own and shard.leader_addr and set(shard.node_ids) == {shard.leaderID}

        same = stub.LoadPartitions(milvus_pb2.LoadPartitionsRequest(collection_name="c", partition_names=["_default"],
                                                                    replica_number=3))
        assert same.code == 1100 and "can't change the replica number for loaded partitions" in same.reason
        groups = stub.LoadCollection(milvus_pb2.LoadCollectionRequest(collection_name="c", replica_number=2,
                                                                      resource_groups=["rg1"]))
        assert groups.code == 1100 and "rg1" in groups.reason

        _load(stub, "c", 3)  # a loaded collection's replica number changes (Milvus 2.6): one node each
        wait_until(lambda: len(_replicas(stub, "c")) == 3 and _serving(stub, "c"))
        assert sorted(len(r.node_ids) for r in _replicas(stub, "c")) == [1, 1, 1]
        _load(stub, "c", 1)  # back to one replica on every node
        wait_until(lambda: [len(r.node_ids) for r in _replicas(stub, "c")] == [3])
    finally:
        mini.stop()


class _Counting:
    """Counts the searches and queries each querynode core answers (direct wiring)."""

    def __init__(self, mini: MiniCluster) -> None:
        self.calls: dict[int, int] = {}
        self._lock = threading.Lock()
        for node_id, server in _querynodes(mini).items():
            self.wrap(node_id, server.logic)  # type: ignore[attr-defined]

    def wrap(self, node_id: int, core) -> None:  # type: ignore[no-untyped-def]
        for method in ("search", "query"):
            inner = getattr(core, method)

            def counted(request, inner=inner):  # type: ignore[no-untyped-def]
                if not request.scope.segment_ids:  # a leader's read, not a worker's
                    with self._lock:
                        self.calls[node_id] = self.calls.get(node_id, 0) + 1
                return inner(request)
            setattr(core, method, counted)

    def reset(self) -> dict[int, int]:
        with self._lock:
            calls, self.calls = self.calls, {}
        return calls


@pytest.mark.parametrize("wiring", WIRINGS)
def test_reads_spread_over_replicas_and_fail_over_when_a_querynode_stops(tmp_path, wiring: str) -> None:  # type: ignore[no-untyped-def]
    mini = _cluster(tmp_path, wiring, 2)
    try:
        stub = mini.milvus()
        create_collection(stub, "c")
        _load(stub, "c", 2)
        wait_until(lambda: _serving(stub, "c"))
        counting = _Counting(mini) if wiring == "direct" else None
        rows = 400
        vectors = _fill(mini, stub, "c", rows)
        rng = np.random.default_rng(5)

        def check_reads(rounds: int) -> None:
            for _ in range(rounds):
                q = vectors[rng.integers(rows)]
                assert search_ids(stub, "c", q, K) == _exact(vectors, q)
                assert count_rows(stub, "c") == rows  # Strong: each replica waits for its own channel end

        check_reads(20)
        if counting is not None:
            calls = counting.reset()
            assert set(calls) == set(_querynodes(mini)) and min(calls.values()) >= 10, calls
        for i in range(6):  # Strong: a write is seen at once, whichever replica answers
            row = np.random.default_rng(100 + i).random((1, DIM), dtype=np.float32)
            insert(stub, "c", np.array([rows]), row)
            vectors, rows = np.vstack([vectors, row]), rows + 1
            assert count_rows(stub, "c") == rows
            assert search_ids(stub, "c", row[0], 1) == [rows - 1]

        victim_id, victim = max(_querynodes(mini).items())
        if counting is not None:
            counting.reset()
        victim.stop()  # type: ignore[attr-defined]
        check_reads(20)  # no read fails: each goes to the other replica at once
        more = np.random.default_rng(9).random((50, DIM), dtype=np.float32)
        insert(stub, "c", np.arange(rows, rows + 50), more)
        vectors, rows = np.vstack([vectors, more]), rows + 50
        check_reads(5)
        if counting is not None:
            assert victim_id not in counting.reset()  # marked unreachable: skipped

        # Querycoord re-places the lost replica onto a new querynode; reads use it again.
        newcomer = mini.add("querynode")
        wait_until(lambda: _serving(stub, "c") and newcomer.logic.node_id in  # type: ignore[attr-defined]
                   {n for r in _replicas(stub, "c") for n in r.node_ids}, timeout_s=30)
        nodes = [set(r.node_ids) for r in _replicas(stub, "c")]
        assert victim_id not in nodes[0] | nodes[1] and not nodes[0] & nodes[1]
        if counting is not None:
            counting.wrap(newcomer.logic.node_id, newcomer.logic)  # type: ignore[attr-defined]
            wait_until(lambda: (check_reads(2), newcomer.logic.node_id in counting.calls)[1],  # type: ignore[attr-defined]
                       timeout_s=15)
        check_reads(10)
    finally:
        mini.stop()


def test_load_balance_stays_within_a_replica(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mini = _cluster(tmp_path, "direct", 3)
    try:
        stub = mini.milvus()
        create_collection(stub, "c")
        _load(stub, "c", 2)
        vectors = _fill(mini, stub, "c", 200)
        def copies() -> dict[int, list[int]]:
            answer = stub.GetQuerySegmentInfo(milvus_pb2.GetQuerySegmentInfoRequest(collectionName="c"))
            ok(answer.status)
            return {info.segmentID: list(info.nodeIds) for info in answer.infos}

        wait_until(lambda: bool(copies()) and all(len(n) == 2 for n in copies().values()))  # one copy per replica
        pair, single = sorted((list(r.node_ids) for r in _replicas(stub, "c")), key=len, reverse=True)
        held = {n for nodes in copies().values() for n in nodes}
        source = next(n for n in pair if n in held)
        other = next(n for n in pair if n != source)
        wrong = stub.LoadBalance(milvus_pb2.LoadBalanceRequest(collectionName="c", src_nodeID=source,
                                                               dst_nodeIDs=single))
        assert wrong.code == 901 and "destination node not found in the same replica" in wrong.reason
        ok(stub.LoadBalance(milvus_pb2.LoadBalanceRequest(collectionName="c", src_nodeID=source)))
        for nodes in copies().values():  # moved within its replica; the other replica's copy stays
            assert source not in nodes and len(nodes) == 2 and single[0] in nodes and other in nodes
        q = vectors[7]
        for _ in range(6):
            assert search_ids(stub, "c", q, K) == _exact(vectors, q)
    finally:
        mini.stop()
