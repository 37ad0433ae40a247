"""etcd as a cluster: ``etcd.endpoints`` with three real members (tests/support/etcd_cluster.py),
and the client side surviving the loss of a minority. With one member killed (SIGKILL) or hung
(SIGSTOP) — the leader, or the member the client is using — KV calls, CAS, multi_save, leases,
sessions, watches and TSO/ID allocation keep working; then the member comes back.

The failover times are printed (``-s``); they are not asserted beyond the client's retry window.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from common.config import load_config
from common.kv import MetaKVError, WatchEvent
from common.kv.etcd import EtcdKV
from common.runtime import make_kv
from common.session import Session, list_sessions, session_key
from common.tso import IDAllocator, TimestampOracle
from tests.support.etcd_cluster import EtcdCluster

SESSION_TTL_S = 5


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_endpoint_list_reaches_every_member(etcd_cluster: EtcdCluster, tmp_path: Path) -> None:
    """The members named by the environment, a config file (comma string or YAML list) or a
    Python list are all three members."""
    members = etcd_cluster.endpoints.split(",")
    from_env = load_config(environ={"MILVUSPY_ETCD_ENDPOINTS": etcd_cluster.endpoints.replace(",", ", ")})
    config_file = tmp_path / "milvus-py.yaml"
    config_file.write_text("etcd:\n  endpoints:\n" + "".join(f"    - {m}\n" for m in members))
    from_file = load_config(config_file, environ={})
    kinds = [make_kv(from_env), make_kv(from_file), EtcdKV(etcd_cluster.endpoints, "by-dev"), EtcdKV(members, "by-dev"),
             EtcdKV([etcd_cluster.endpoints], "by-dev"), EtcdKV([f"http://{m}" for m in members], "by-dev")]
    for kv in kinds:
        assert isinstance(kv, EtcdKV) and kv.endpoints == members
    kinds[0].put("k", b"v")
    for kv in kinds:
        assert kv.get("k") == b"v"
        kv.close()


class Watched:
    """Every event a watch delivered."""

    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: WatchEvent) -> None:
        with self.lock:
            self.events.append(event)

    def keys(self) -> set[str]:
        with self.lock:
            return {e.key for e in self.events}


class Writer(threading.Thread):
    """Puts ``w/0000``, ``w/0001``, ... through its own client until stopped (at most ``limit``
    keys), remembering which puts etcd acknowledged and how long the longest one took."""

    def __init__(self, kv: EtcdKV, limit: int = 2000) -> None:
        super().__init__(daemon=True)
        self.kv = kv
        self.limit = limit
        self.acked: list[str] = []
        self.failed: list[str] = []
        self.longest_s = 0.0
        self.halt = threading.Event()

    def run(self) -> None:
        for i in range(self.limit):
            if self.halt.is_set():
                return
            key = f"w/{i:04d}"
            start = time.monotonic()
            try:
                self.kv.put(key, str(i).encode())
                self.acked.append(key)
            except MetaKVError:
                self.failed.append(key)
            self.longest_s = max(self.longest_s, time.monotonic() - start)
            time.sleep(0.01)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)


def _exercise(kv: EtcdKV, tso: TimestampOracle, ids: IDAllocator, round_: int) -> float:
    """Every kind of call once; returns how long they took together."""
    start = time.monotonic()
    kv.put(f"p/{round_}", b"x")
    assert kv.get(f"p/{round_}") == b"x"
    assert kv.compare_and_put(f"cas/{round_}", None, b"1")
    assert not kv.compare_and_put(f"cas/{round_}", None, b"2")
    assert kv.compare_and_put(f"cas/{round_}", b"1", b"3")
    kv.multi_save({f"m/{round_}/a": b"1", f"m/{round_}/b": b"2"}, deletes=[f"p/{round_}"])
    assert [k for k, _ in kv.get_prefix(f"m/{round_}/")] == [f"m/{round_}/a", f"m/{round_}/b"]
    lease = kv.grant_lease(5)
    kv.put(f"l/{round_}", b"", lease=lease)
    kv.keepalive_once(lease)
    kv.revoke_lease(lease)
    assert kv.get(f"l/{round_}") is None
    ids.alloc(1)
    tso.alloc()
    return time.monotonic() - start


@pytest.mark.parametrize("fault", ["kill", "pause"])
@pytest.mark.parametrize("victim", ["leader", "in-use"])
def test_minority_loss_is_survived(etcd_cluster: EtcdCluster, victim: str, fault: str) -> None:
    root = f"ha-{victim}-{fault}"
    kv = EtcdKV(etcd_cluster.endpoints, root)
    writer_kv = EtcdKV(etcd_cluster.endpoints, root)
    leader = etcd_cluster.leader()
    if victim == "in-use":  # a follower that this client uses (the leader is the other case)
        while etcd_cluster.index_of(kv.endpoint_in_use) == leader:
            kv._pool.failed(kv._pool.current())
        target = etcd_cluster.index_of(kv.endpoint_in_use)
    else:
        target = leader
    lost: list[int] = []
    session = Session(kv, "querynode", 7, "127.0.0.1:1", ttl_s=SESSION_TTL_S, on_lost=lambda: lost.append(1))
    session.register()
    watched = Watched()
    cancel = kv.watch_prefix("w/", watched)
    tso = TimestampOracle(kv, save_window_ms=200)  # persists often: every alloc may write
    ids = IDAllocator(kv, block=1)
    _exercise(kv, tso, ids, 0)
    ts_before = tso.alloc()
    writer = Writer(writer_kv)
    writer.start()
    wait_for(lambda: len(writer.acked) >= 20)

    fault_at = time.monotonic()
    (etcd_cluster.kill if fault == "kill" else etcd_cluster.pause)(target)
    took = _exercise(kv, tso, ids, 1)
    first_ok_s = time.monotonic() - fault_at
    acked_at_fault = len(writer.acked)
    wait_for(lambda: len(writer.acked) >= acked_at_fault + 20)
    # The watch delivers while the member is still down (a hung member's stream is abandoned,
    # not waited for), and the session outlives its lease's TTL without a keepalive.
    acked_now = set(writer.acked)
    wait_for(lambda: acked_now <= watched.keys(), timeout_s=5)
    watch_caught_up_s = time.monotonic() - fault_at
    time.sleep(SESSION_TTL_S + 1)
    assert kv.get(session_key("querynode", 7)) is not None and lost == []
    assert [s.server_id for s in list_sessions(kv, "querynode")] == [7]
    assert tso.alloc() > ts_before
    assert etcd_cluster.leader() != target

    (etcd_cluster.resume if fault == "pause" else etcd_cluster.restart)(target)
    _exercise(kv, tso, ids, 2)
    writer.stop()
    acked = set(writer.acked)
    wait_for(lambda: acked <= watched.keys())
    time.sleep(0.3)
    revisions = [e.revision for e in watched.events]
    assert revisions == sorted(set(revisions)), "watch events repeated or out of order"
    assert {k for k, _ in kv.get_prefix("w/")} == watched.keys()
    assert writer.failed == []
    print(f"\n{fault} {victim}: first round of calls done {first_ok_s:.2f} s after the fault "
          f"(round took {took:.2f} s); watch caught up after {watch_caught_up_s:.2f} s; "
          f"longest put {writer.longest_s:.2f} s; "
          f"{len(acked)} puts, all seen once by the watch")
    cancel()
    session.stop()
    kv.close()
    writer_kv.close()


def test_restarted_member_serves_again(etcd_cluster: EtcdCluster) -> None:
    """After a member comes back, losing another one is survived too (the client returns to it)."""
    kv = EtcdKV(etcd_cluster.endpoints, "rejoin")
    for i in range(3):
        etcd_cluster.kill(i)
        kv.put(f"k{i}", b"v")
        etcd_cluster.restart(i)
    assert [k for k, _ in kv.get_prefix("k")] == ["k0", "k1", "k2"]
    kv.close()


def test_majority_loss_fails_within_the_retry_window(etcd_cluster: EtcdCluster) -> None:
    """Without a quorum a write raises MetaKVError naming the endpoints (it does not hang)."""
    kv = EtcdKV(etcd_cluster.endpoints, "quorum", timeout_s=0.5, retry_window_s=1.5)
    watched = Watched()
    cancel = kv.watch_prefix("", watched)
    kv.put("a", b"1")
    etcd_cluster.kill(0)
    etcd_cluster.kill(1)
    start = time.monotonic()
    with pytest.raises(MetaKVError, match="endpoints=127.0.0.1:"):
        kv.put("a", b"2")
    assert time.monotonic() - start < 5
    etcd_cluster.restart(0)
    kv.put("a", b"3")  # quorum back: writes and the watch work again
    assert kv.get("a") == b"3"
    wait_for(lambda: [e.value for e in watched.events][-1:] == [b"3"])
    assert [e.value for e in watched.events] in ([b"1", b"3"], [b"1", b"2", b"3"])  # "2" may have been applied
    cancel()
    kv.close()
