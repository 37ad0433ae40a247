"""Hybrid timestamps and the ID allocator."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

import common.tso as tso_mod
from common.errors import IoFailed
from common.kv import MemoryKV, MetaKV
from common.kv.etcd import EtcdKV
from common.tso import MAX_LOGICAL, IDAllocator, TimestampOracle, compose_ts, parse_ts


@pytest.fixture(params=["memory", "etcd"])
def kv(request: pytest.FixtureRequest) -> Iterator[MetaKV]:
    if request.param == "memory":
        store: MetaKV = MemoryKV("by-dev")
    else:
        store = EtcdKV(request.getfixturevalue("etcd_endpoint"), f"tso-{uuid.uuid4().hex[:8]}")
    yield store
    store.close()


def test_compose_parse_roundtrip() -> None:
    ts = compose_ts(1_700_000_000_123, 42)
    assert ts == (1_700_000_000_123 << 18) | 42
    assert parse_ts(ts) == (1_700_000_000_123, 42)
    assert compose_ts(5, MAX_LOGICAL - 1) < compose_ts(6, 0)
    with pytest.raises(ValueError):
        compose_ts(1, MAX_LOGICAL)


def test_alloc_strictly_increasing_and_ranges(kv: MetaKV) -> None:
    oracle = TimestampOracle(kv)
    last = 0
    for count in [1, 1, 5, 1000, 1, 7]:
        ts = oracle.alloc(count)
        assert ts > last
        last = ts + count - 1  # the whole range [ts, ts + count) is ours
    physical, _ = parse_ts(last)
    assert abs(physical - time.time() * 1000) < 5000
    with pytest.raises(ValueError):
        oracle.alloc(0)
    with pytest.raises(ValueError):
        oracle.alloc(MAX_LOGICAL)


def test_monotonic_across_restart(kv: MetaKV) -> None:
    first = TimestampOracle(kv)
    issued = [first.alloc() for _ in range(100)]
    saved_upper = int(kv.get("tso") or 0)
    second = TimestampOracle(kv)  # a restarted rootcoord, within the save window
    ts = second.alloc()
    assert ts > max(issued)
    assert parse_ts(ts)[0] > saved_upper  # never reuses physical time the old one could hand out
    assert all(parse_ts(t)[0] <= saved_upper for t in issued)


def test_clock_going_backwards_and_logical_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    kv = MemoryKV()
    clock = [1_000_000]
    monkeypatch.setattr(tso_mod, "_now_ms", lambda: clock[0])
    oracle = TimestampOracle(kv, save_window_ms=3000)
    a = oracle.alloc(MAX_LOGICAL - 1)
    b = oracle.alloc(2)  # does not fit in this millisecond: moves physical forward
    assert parse_ts(a) == (1_000_000, 0)
    assert parse_ts(b) == (1_000_001, 0)
    clock[0] = 500_000  # the wall clock jumps back
    c = oracle.alloc()
    assert c > b
    restarted = TimestampOracle(kv, save_window_ms=3000)
    assert parse_ts(restarted.alloc())[0] > 1_000_001 + 2000  # beyond the persisted window
    clock[0] = 2_000_000
    assert parse_ts(restarted.alloc()) == (2_000_000, 0)
    assert int(kv.get("tso") or 0) >= 2_000_000


def test_alloc_fails_cleanly_when_window_cannot_be_saved(monkeypatch: pytest.MonkeyPatch) -> None:
    kv = MemoryKV()
    clock = [1_000_000]
    monkeypatch.setattr(tso_mod, "_now_ms", lambda: clock[0])
    oracle = TimestampOracle(kv, save_window_ms=3000)
    last = oracle.alloc()
    kv.close()  # every KV call now fails
    clock[0] += 10_000
    with pytest.raises(IoFailed):
        oracle.alloc()
    assert oracle._physical == parse_ts(last)[0]  # nothing was handed out past the bound


def test_alloc_from_many_threads(kv: MetaKV) -> None:
    oracle = TimestampOracle(kv)
    per_thread: list[list[int]] = []

    def worker() -> None:
        mine = [oracle.alloc() for _ in range(500)]
        per_thread.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(seq == sorted(seq) and len(set(seq)) == len(seq) for seq in per_thread)
    everything = [ts for seq in per_thread for ts in seq]
    assert len(set(everything)) == 8 * 500


def test_id_allocator_unique_across_instances_and_threads(kv: MetaKV) -> None:
    allocators = [IDAllocator(kv, block=50), IDAllocator(kv, block=50)]
    ranges: list[tuple[int, int]] = []
    lock = threading.Lock()

    def worker(alloc: IDAllocator, count: int) -> None:
        for _ in range(40):
            got = alloc.alloc(count)
            with lock:
                ranges.append(got)

    threads = [threading.Thread(target=worker, args=(allocators[i % 2], 1 + i * 3))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for start, end in ranges for i in range(start, end)]
    assert len(ids) == len(set(ids)) == sum(40 * (1 + i * 3) for i in range(6))
    assert min(ids) >= 1
    # A "restarted" allocator never reuses an id, even those reserved but unused.
    start, end = IDAllocator(kv, block=50).alloc(3)
    assert start > max(ids) and end - start == 3


def test_id_allocator_large_requests_and_errors() -> None:
    kv = MemoryKV()
    alloc = IDAllocator(kv, block=10)
    assert alloc.alloc(1) == (1, 2)
    assert alloc.alloc(25) == (11, 36)  # bigger than a block: reserved on its own
    assert alloc.alloc_one() == 36
    with pytest.raises(ValueError):
        alloc.alloc(0)


def test_id_allocator_gives_up_on_endless_conflicts() -> None:
    class Conflicting(MemoryKV):
        def compare_and_put(self, key: str, expected: bytes | None, value: bytes) -> bool:
            return False

    with pytest.raises(IoFailed, match="conflicting"):
        IDAllocator(Conflicting(), max_retries=3).alloc(1)


