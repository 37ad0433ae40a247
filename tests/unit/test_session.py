"""Service sessions: registration, listing, expiry, watching."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from common.kv import MemoryKV
from common.kv.etcd import EtcdKV
from common.session import (
    Session,
    SessionEvent,
    SessionInfo,
    list_sessions,
    session_key,
    watch_sessions,
)

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def ids(kv: MemoryKV | EtcdKV, role: str | None = None) -> list[tuple[str, int]]:
    return [(s.role, s.server_id) for s in list_sessions(kv, role)]


def test_register_list_stop() -> None:
    kv = MemoryKV("by-dev/meta")
    a = Session(kv, "querynode", 7, "127.0.0.1:1001")
    b = Session(kv, "querynode", 3, "127.0.0.1:1002")
    c = Session(kv, "query", 1, "127.0.0.1:1003")  # a role that is a prefix of another
    for s in (a, b, c):
        s.register()
    assert ids(kv) == [("query", 1), ("querynode", 3), ("querynode", 7)]
    assert ids(kv, "querynode") == [("querynode", 3), ("querynode", 7)]
    info = list_sessions(kv, "query")[0]
    assert info.address == "127.0.0.1:1003" and info.pid == os.getpid() and info.start_time_ms > 0
    assert SessionInfo.from_json(kv.get(session_key("query", 1)) or b"") == info
    a.stop()
    assert ids(kv, "querynode") == [("querynode", 3)]
    b.stop()
    c.stop()
    assert list_sessions(kv) == []


def test_keepalive_holds_then_expires_after_owner_stops() -> None:
    kv = MemoryKV()
    s = Session(kv, "datanode", 1, "x:1", ttl_s=1)
    s.register()
    time.sleep(1.6)  # longer than the ttl: kept alive by the thread
    assert ids(kv) == [("datanode", 1)]
    s.stop(revoke=False)  # the owner stops refreshing (as if it hung)
    start = time.monotonic()
    wait_for(lambda: list_sessions(kv) == [], timeout_s=3)
    assert time.monotonic() - start < 1.5


def test_lost_lease_registers_again() -> None:
    kv = MemoryKV()
    lost = threading.Event()
    s = Session(kv, "proxy", 2, "x:2", ttl_s=1, on_lost=lost.set)
    s.register()
    first = s.lease_id
    assert first is not None
    kv.revoke_lease(first)  # e.g. etcd lost the lease
    assert list_sessions(kv) == []
    wait_for(lost.is_set)
    wait_for(lambda: ids(kv) == [("proxy", 2)])
    assert s.lease_id != first
    s.stop()


def test_watch_sessions() -> None:
    kv = MemoryKV()
    existing = Session(kv, "querynode", 1, "a:1")
    existing.register()
    other = Session(kv, "datanode", 9, "d:9")  # other role: not reported
    other.register()
    events: list[SessionEvent] = []
    cancel = watch_sessions(kv, "querynode", events.append)
    assert [(e.kind, e.info.server_id) for e in events] == [("add", 1)]
    joiner = Session(kv, "querynode", 2, "a:2")
    joiner.register()
    existing.stop()
    kv.drain_watches()
    assert [(e.kind, e.info.server_id) for e in events] == [("add", 1), ("add", 2), ("remove", 1)]
    assert events[-1].info.address == "a:1"  # remove carries the last known info
    cancel()
    joiner.stop()
    other.stop()
    kv.drain_watches()
    assert len(events) == 3


_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from common.kv.etcd import EtcdKV
from common.session import Session
Session(EtcdKV({endpoint!r}, {kv_root!r}), "datanode", 42, "127.0.0.1:4242", ttl_s=1).register()
print("registered", flush=True)
time.sleep(60)
"""


def test_killed_process_disappears_after_ttl(etcd_endpoint: str) -> None:
    kv_root = f"sess-{uuid.uuid4().hex[:8]}"
    kv = EtcdKV(etcd_endpoint, kv_root)
    events: list[SessionEvent] = []
    cancel = watch_sessions(kv, "datanode", events.append)
    code = _CHILD.format(root=str(ROOT), endpoint=etcd_endpoint, kv_root=kv_root)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"registered"
        assert ids(kv) == [("datanode", 42)]
        time.sleep(1.5)  # the child keeps it alive past its ttl
        assert ids(kv) == [("datanode", 42)]
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed_at = time.monotonic()
        wait_for(lambda: list_sessions(kv) == [], timeout_s=5)
        assert time.monotonic() - killed_at < 3.0
        wait_for(lambda: [e.kind for e in events] == ["add", "remove"])
        assert events[1].info.address == "127.0.0.1:4242"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        cancel()
        kv.close()
