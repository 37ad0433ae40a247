"""LoadBalance on a MiniCluster with two querynodes: sealed segments move from the channel's
leader to the other node and back while searches and counts run in a loop, every answer
checked against NumPy exact search over the live rows."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pytest

from proto.milvus import milvus_pb2
from tests.support.mini_requests import DIM, count_rows, create_collection, insert, ok, search_ids, wait_until
from tests.support.minicluster import WIRINGS, MiniCluster

ROWS_PER_SEGMENT = 300
SEGMENTS = 3
K = 5


@pytest.fixture(params=WIRINGS)
def mini(tmp_path, request):  # type: ignore[no-untyped-def]
    cluster = MiniCluster(tmp_path, wiring=request.param).start()
    cluster.add("querynode")
    yield cluster
    cluster.stop()


def _querynodes(mini: MiniCluster) -> list:  # type: ignore[type-arg]
    return [s.logic for s in mini.servers if s.role == "querynode"]


def _holding(node, segment_id: int) -> bool:  # type: ignore[no-untyped-def]
    return any(segment_id in shard.segment_ids()[0] for shard in node.shards().values())


def _query_segments(stub, name: str) -> dict[int, set[int]]:  # type: ignore[no-untyped-def]
    """GetQuerySegmentInfo: segment id -> the nodes querycoord knows hold it."""
    response = stub.GetQuerySegmentInfo(milvus_pb2.GetQuerySegmentInfoRequest(collectionName=name))
    ok(response.status)
    out: dict[int, set[int]] = {}
    for info in response.infos:
        out.setdefault(info.segmentID, set()).update(info.nodeIds or [info.nodeID])
    return out


def _flushed_segments(mini: MiniCluster, stub, name: str) -> list[int]:  # type: ignore[no-untyped-def]
    flush = stub.Flush(milvus_pb2.FlushRequest(collection_names=[name]))
    ok(flush.status)
    wait_until(lambda: stub.GetFlushState(milvus_pb2.GetFlushStateRequest(
        collection_name=name, flush_ts=flush.coll_flush_ts[name])).flushed)
    return list(flush.coll_segIDs[name].data)


class SearchLoop:
    """Searches and counts (Strong) in a thread until stopped; every mismatch with the live
    rows is recorded. Writers hold ``lock`` while they change rows and ``live``."""

    def __init__(self, stub, name: str, vectors: np.ndarray, live: np.ndarray) -> None:  # type: ignore[no-untyped-def]
        self.stub, self.name, self.vectors, self.live = stub, name, vectors, live
        self.errors: list[str] = []
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._rng = np.random.default_rng(7)
        self.lock = threading.Lock()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                self._round()

    def _round(self) -> None:
        live = self.live.copy()
        q = self.vectors[self._rng.integers(len(self.vectors))]
        ids = np.flatnonzero(live)
        exact = ids[np.argsort(((self.vectors[ids] - q) ** 2).sum(1), kind="stable")[:K]].tolist()
        try:
            got = search_ids(self.stub, self.name, q, K)
            count = count_rows(self.stub, self.name)
        except AssertionError as exc:
            self.errors.append(f"round {self.rounds}: {exc}")
            return
        if got != exact:
            self.errors.append(f"round {self.rounds}: search {got} != exact {exact}")
        if count != int(live.sum()):
            self.errors.append(f"round {self.rounds}: count {count} != {int(live.sum())}")
        self.rounds += 1

    def __enter__(self) -> "SearchLoop":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@dataclass
class Loaded:
    """A loaded collection of SEGMENTS flushed segments, all held by the channel's leader."""

    stub: object
    vectors: np.ndarray
    live: np.ndarray
    segment_ids: list[int]
    leader: object
    other: object


def _load_segments(mini: MiniCluster, name: str, seed: int) -> Loaded:
    stub = mini.milvus()
    create_collection(stub, name)
    vectors = np.random.default_rng(seed).random((ROWS_PER_SEGMENT * SEGMENTS, DIM), dtype=np.float32)
    segment_ids: list[int] = []
    for i in range(SEGMENTS):
        rows = np.arange(i * ROWS_PER_SEGMENT, (i + 1) * ROWS_PER_SEGMENT)
        insert(stub, name, rows, vectors[rows])
        segment_ids += _flushed_segments(mini, stub, name)
    assert len(segment_ids) == SEGMENTS
    wait_until(lambda: set(_query_segments(stub, name)) == set(segment_ids)
               and len(set.union(*_query_segments(stub, name).values())) == 1)
    (leader_id,) = set.union(*_query_segments(stub, name).values())
    nodes = _querynodes(mini)
    leader = next(n for n in nodes if n.node_id == leader_id)
    other = next(n for n in nodes if n is not leader)
    return Loaded(stub, vectors, np.ones(len(vectors), dtype=bool), segment_ids, leader, other)


def test_segments_move_and_come_back_without_a_wrong_answer(mini: MiniCluster) -> None:
    loaded = _load_segments(mini, "lb", seed=3)
    stub, vectors, live, segment_ids = loaded.stub, loaded.vectors, loaded.live, loaded.segment_ids
    leader, other = loaded.leader, loaded.other
    moved = segment_ids[:2]

    with SearchLoop(stub, "lb", vectors, live) as loop:
        ok(stub.LoadBalance(milvus_pb2.LoadBalanceRequest(
            collectionName="lb", src_nodeID=leader.node_id, dst_nodeIDs=[other.node_id], sealed_segmentIDs=moved)))
        assert all(_holding(other, s) for s in moved)
        wait_until(lambda: not any(_holding(leader, s) for s in moved))
        wait_until(lambda: _query_segments(stub, "lb") == {moved[0]: {other.node_id}, moved[1]: {other.node_id},
                                                           segment_ids[2]: {leader.node_id}})
        assert _holding(leader, segment_ids[2])
        # deletes reach rows of segments held by the worker
        with loop.lock:
            ok(stub.Delete(milvus_pb2.DeleteRequest(collection_name="lb", expr="id in [1, 2, 400]")).status)
            live[[1, 2, 400]] = False
        wait_until(lambda: loop.rounds > 20)
        # everything the other node holds goes back to the leader (querycoord picks it)
        ok(stub.LoadBalance(milvus_pb2.LoadBalanceRequest(collectionName="lb", src_nodeID=other.node_id)))
        wait_until(lambda: all(_holding(leader, s) for s in segment_ids) and not other.shards())
        rounds = loop.rounds
        wait_until(lambda: loop.rounds > rounds + 10)
    assert loop.errors == []

    errors = {
        "unknown source node": milvus_pb2.LoadBalanceRequest(collectionName="lb", src_nodeID=999),
        "unknown destination": milvus_pb2.LoadBalanceRequest(collectionName="lb", src_nodeID=leader.node_id,
                                                             dst_nodeIDs=[999]),
        "segment not held": milvus_pb2.LoadBalanceRequest(collectionName="lb", src_nodeID=other.node_id,
                                                          sealed_segmentIDs=[segment_ids[0]]),
        "source is destination": milvus_pb2.LoadBalanceRequest(collectionName="lb", src_nodeID=leader.node_id,
                                                               dst_nodeIDs=[leader.node_id]),
        "unknown collection": milvus_pb2.LoadBalanceRequest(collectionName="nope", src_nodeID=leader.node_id),
    }
    codes = {what: stub.LoadBalance(request).code for what, request in errors.items()}
    assert codes == {"unknown source node": 901, "unknown destination": 901, "segment not held": 600,
                     "source is destination": 1100, "unknown collection": 100}
    assert all(_holding(leader, s) for s in segment_ids) and not other.shards()


def test_compaction_of_moved_segments_never_misses_a_row(mini: MiniCluster) -> None:
    """Segments held by a worker node are compacted: the worker keeps serving them until the
    leader has loaded the compacted segment, then lets them go."""
    loaded = _load_segments(mini, "lbc", seed=4)
    stub, vectors, live, segment_ids = loaded.stub, loaded.vectors, loaded.live, loaded.segment_ids
    leader, other, leader_id = loaded.leader, loaded.other, loaded.leader.node_id
    with SearchLoop(stub, "lbc", vectors, live) as loop:
        ok(stub.LoadBalance(milvus_pb2.LoadBalanceRequest(collectionName="lbc", src_nodeID=leader_id,
                                                          sealed_segmentIDs=segment_ids[:2])))
        with loop.lock:
            ok(stub.Delete(milvus_pb2.DeleteRequest(collection_name="lbc", expr="id in [5, 305, 605]")).status)
            live[[5, 305, 605]] = False
        _flushed_segments(mini, stub, "lbc")  # the deletes are persisted: compaction purges them
        compaction = stub.ManualCompaction(milvus_pb2.ManualCompactionRequest(collection_name="lbc"))
        ok(compaction.status)
        wait_until(lambda: stub.GetCompactionState(milvus_pb2.GetCompactionStateRequest(
            compactionID=compaction.compactionID)).state == 2, timeout_s=60)  # Completed
        wait_until(lambda: not other.shards() and len(_query_segments(stub, "lbc")) == 1, timeout_s=30)
        rounds = loop.rounds
        wait_until(lambda: loop.rounds > rounds + 10)
    assert loop.errors == [] and loop.rounds > 10
    ((target, holders),) = _query_segments(stub, "lbc").items()
    assert target not in segment_ids and holders == {leader.node_id}
