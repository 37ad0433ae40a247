"""The proxy's timestamps (``proxy.env.TimestampGroup``): concurrent requests share one
AllocTimestamp round trip, yet every timestamp is newer than anything obtained before its
request began, so writes acknowledged before a Strong read are visible to it."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from proto.milvus import common_pb2, milvus_pb2
from proxy.env import TimestampGroup
from tests.support.mini_requests import DIM, create_collection, insert, ok, wait_until
from tests.support.minicluster import MiniCluster


class FakeTso:
    """A TSO whose range is taken when a round trip is sent; ``gate`` holds the answer back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.next = 1
        self.counts: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail: Exception | None = None

    def take(self, count: int) -> int:
        with self._lock:
            first, self.next = self.next, self.next + count
            self.counts.append(count)
        return first

    def alloc(self, count: int) -> int:
        first = self.take(count)
        self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        return first


def _waiting(group: TimestampGroup, n: int) -> None:
    wait_until(lambda: len(group._waiting) == n, timeout_s=10)


def test_concurrent_requests_share_one_round_trip() -> None:
    tso = FakeTso()
    group = TimestampGroup(tso.alloc)
    tso.gate.clear()
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(group.next)
        wait_until(lambda: tso.counts == [1], timeout_s=10)   # in flight
        rest = [pool.submit(group.next) for _ in range(7)]
        _waiting(group, 7)                                      # queued behind it
        tso.gate.set()
        stamps = [first.result(10)] + [f.result(10) for f in rest]
    assert tso.counts == [1, 7] and group.round_trips == 2
    assert stamps[0] == 1 and sorted(stamps[1:]) == list(range(2, 9))


def test_a_request_never_joins_a_round_trip_sent_before_it_asked() -> None:
    """Another proxy's write acknowledged while this proxy's round trip is in flight has a
    timestamp above that round trip's: a request that starts afterwards must get a newer one."""
    tso = FakeTso()
    group = TimestampGroup(tso.alloc)
    tso.gate.clear()
    with ThreadPoolExecutor(2) as pool:
        early = pool.submit(group.next)
        wait_until(lambda: tso.counts == [1], timeout_s=10)
        acknowledged_elsewhere = tso.take(1)
        late = pool.submit(group.next)
        _waiting(group, 1)
        tso.gate.set()
        assert early.result(10) < acknowledged_elsewhere < late.result(10)


def test_timestamps_of_one_proxy_are_unique_and_increase_per_caller() -> None:
    tso = FakeTso()

    def slow(count: int) -> int:
        time.sleep(0.001)
        return tso.alloc(count)

    group = TimestampGroup(slow)

    def run() -> list[int]:
        return [group.next() for _ in range(100)]

    with ThreadPoolExecutor(8) as pool:
        sequences = [f.result(30) for f in [pool.submit(run) for _ in range(8)]]
    for seq in sequences:
        assert all(a < b for a, b in zip(seq, seq[1:]))
    every = [ts for seq in sequences for ts in seq]
    assert len(set(every)) == 800
    assert group.round_trips < 800 and sum(tso.counts) == 800


def test_a_failed_round_trip_fails_its_requests_only() -> None:
    tso = FakeTso()
    group = TimestampGroup(tso.alloc)
    tso.gate.clear()
    tso.fail = RuntimeError("rootcoord unavailable")
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(group.next)
        wait_until(lambda: tso.counts == [1], timeout_s=10)
        rest = [pool.submit(group.next) for _ in range(2)]
        _waiting(group, 2)
        tso.gate.set()
        for future in [first, *rest]:
            with pytest.raises(RuntimeError, match="unavailable"):
                future.result(10)
    tso.fail = None
    assert group.next() == 4 and tso.counts == [1, 2, 1]


def test_concurrent_writes_acknowledged_before_a_strong_read_are_visible(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cluster = MiniCluster(tmp_path, wiring="direct").start()
    try:
        stub = cluster.milvus()
        create_collection(stub, "ts")
        vectors = np.zeros((1, DIM), dtype=np.float32)

        def strong_ids(expr: str) -> list[int]:
            result = stub.Query(milvus_pb2.QueryRequest(collection_name="ts", expr=expr, output_fields=["id"],
                                                        consistency_level=common_pb2.Strong))
            ok(result.status)
            return sorted(result.fields_data[0].scalars.long_data.data)

        def writer(worker: int) -> list[int]:
            stamps = []
            for i in range(15):
                pk = worker * 1000 + i
                stamps.append(insert(stub, "ts", np.array([pk], dtype=np.int64), vectors).timestamp)
                assert strong_ids(f"id == {pk}") == [pk]       # acknowledged, then read: visible
                deleted = stub.Delete(milvus_pb2.DeleteRequest(collection_name="ts", expr=f"id in [{pk}]"))
                ok(deleted.status)
                stamps.append(deleted.timestamp)
                assert strong_ids(f"id == {pk}") == []         # the delete is newer than the insert
            return stamps

        with ThreadPoolExecutor(4) as pool:
            results = [f.result(120) for f in [pool.submit(writer, w) for w in range(4)]]
        for stamps in results:
            assert all(a < b for a, b in zip(stamps, stamps[1:]))
        assert len({ts for stamps in results for ts in stamps}) == 4 * 30
        assert strong_ids("id >= 0") == []
    finally:
        cluster.stop()
