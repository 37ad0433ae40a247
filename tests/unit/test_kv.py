"""MetaKV contract tests, run against MemoryKV and EtcdKV (a real etcd)."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from common.errors import IoFailed
from common.kv import Fenced, Guard, LeaseNotFound, MemoryKV, MetaKV, MetaKVError, WatchEvent
from common.kv.etcd import EtcdKV, parse_endpoints
from common.kv.memory import MemoryStore
from launcher.embedded_etcd import EmbeddedEtcd

KVFactory = Callable[[str], MetaKV]


def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@pytest.fixture(params=["memory", "etcd"])
def kv_factory(request: pytest.FixtureRequest) -> Iterator[KVFactory]:
    """make(root) -> a MetaKV with that root, all on one backend (one store / one etcd)."""
    made: list[MetaKV] = []
    if request.param == "memory":
        store = MemoryStore()

        def make(root: str) -> MetaKV:
            made.append(MemoryKV(root, store=store))
            return made[-1]
    else:
        endpoint = request.getfixturevalue("etcd_endpoint")
        base = f"t-{uuid.uuid4().hex[:8]}"

        def make(root: str) -> MetaKV:
            made.append(EtcdKV(endpoint, f"{base}/{root}"))
            return made[-1]
    yield make
    for kv in made:
        kv.close()


@pytest.fixture
def kv(kv_factory: KVFactory) -> MetaKV:
    return kv_factory("by-dev/meta")


class Recorder:
    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: WatchEvent) -> None:
        with self.lock:
            self.events.append(event)

    def simple(self) -> list[tuple[str, str, bytes]]:
        with self.lock:
            return [(e.kind, e.key, e.value) for e in self.events]


def test_put_get_delete(kv: MetaKV) -> None:
    assert kv.get("missing") is None
    kv.put("a", b"1")
    assert kv.get("a") == b"1"
    kv.put("a", b"\x00\xffbinary")
    assert kv.get("a") == b"\x00\xffbinary"
    kv.put("empty", b"")
    assert kv.get("empty") == b""
    kv.delete("a")
    kv.delete("a")  # deleting a missing key is fine
    assert kv.get("a") is None


def test_prefix_ops_sorted_and_exact(kv: MetaKV) -> None:
    for key in ["c/2", "c/10", "c/1", "cc/1", "b"]:
        kv.put(key, key.encode())
    assert kv.get_prefix("c/") == [("c/1", b"c/1"), ("c/10", b"c/10"), ("c/2", b"c/2")]
    assert [k for k, _ in kv.get_prefix("c")] == ["c/1", "c/10", "c/2", "cc/1"]
    assert [k for k, _ in kv.get_prefix("")] == ["b", "c/1", "c/10", "c/2", "cc/1"]
    assert kv.get_prefix("zzz") == []
    kv.delete_prefix("c/")
    assert [k for k, _ in kv.get_prefix("")] == ["b", "cc/1"]


def test_root_path_isolation(kv_factory: KVFactory) -> None:
    one, two, lookalike = kv_factory("c1/meta"), kv_factory("c2/meta"), kv_factory("c1/meta2")
    rec = Recorder()
    cancel = one.watch_prefix("", rec)
    one.put("k", b"one")
    two.put("k", b"two")
    lookalike.put("k", b"look")
    assert one.get("k") == b"one" and two.get("k") == b"two"
    assert one.get_prefix("") == [("k", b"one")]
    two.delete_prefix("")
    lookalike.delete_prefix("")
    assert one.get("k") == b"one" and two.get("k") is None
    wait_for(lambda: rec.simple() == [("put", "k", b"one")])
    time.sleep(0.1)
    assert rec.simple() == [("put", "k", b"one")]
    cancel()


def test_multi_save(kv: MetaKV) -> None:
    kv.put("old", b"x")
    kv.multi_save({"a": b"1", "b": b"2"}, deletes=["old", "never-existed"])
    assert kv.get_prefix("") == [("a", b"1"), ("b", b"2")]
    kv.multi_save({}, [])
    with pytest.raises(ValueError):
        kv.multi_save({"a": b"3"}, deletes=["a"])
    assert kv.get("a") == b"1"


def test_multi_save_is_atomic_for_readers(kv: MetaKV) -> None:
    keys = [f"k{i}" for i in range(10)]
    kv.multi_save({k: b"0" for k in keys})
    stop = threading.Event()
    seen: list[set[bytes]] = []

    def reader() -> None:
        while not stop.is_set():
            seen.append({v for _, v in kv.get_prefix("k")})

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(1, 40):
        kv.multi_save({k: str(i).encode() for k in keys})
    stop.set()
    thread.join()
    assert seen and all(len(values) == 1 for values in seen)


def test_watch_sees_multi_save_as_one_revision(kv: MetaKV) -> None:
    rec = Recorder()
    cancel = kv.watch_prefix("", rec)
    kv.put("gone", b"g")
    kv.multi_save({"x": b"1", "y": b"2"}, deletes=["gone"])
    wait_for(lambda: len(rec.events) == 4)
    batch = rec.events[1:]
    assert {e.revision for e in batch} == {batch[0].revision}
    assert batch[0].revision > rec.events[0].revision
    assert sorted((e.kind, e.key) for e in batch) == [("delete", "gone"), ("put", "x"), ("put", "y")]
    cancel()


def test_compare_and_put(kv: MetaKV) -> None:
    assert kv.compare_and_put("c", None, b"1") is True
    assert kv.compare_and_put("c", None, b"2") is False
    assert kv.compare_and_put("c", b"wrong", b"2") is False
    assert kv.get("c") == b"1"
    assert kv.compare_and_put("c", b"1", b"2") is True
    assert kv.get("c") == b"2"
    assert kv.compare_and_put("other", b"", b"x") is False  # b"" is not "missing"


def test_compare_and_put_concurrent_counter(kv: MetaKV) -> None:
    def worker() -> None:
        for _ in range(15):
            while True:
                raw = kv.get("counter")
                if kv.compare_and_put("counter", raw, str(int(raw or 0) + 1).encode()):
                    break

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert kv.get("counter") == b"60"


def test_lease_keepalive_then_expiry(kv: MetaKV) -> None:
    rec = Recorder()
    cancel = kv.watch_prefix("lease/", rec)
    lease = kv.grant_lease(1)
    kv.put("lease/k", b"v", lease=lease)
    for _ in range(6):  # 1.5 s, longer than the ttl
        time.sleep(0.25)
        kv.keepalive_once(lease)
    assert kv.get("lease/k") == b"v"
    wait_for(lambda: kv.get("lease/k") is None, timeout_s=5)
    wait_for(lambda: ("delete", "lease/k", b"") in rec.simple())
    with pytest.raises(LeaseNotFound):
        kv.keepalive_once(lease)
    with pytest.raises(LeaseNotFound):
        kv.put("lease/other", b"v", lease=lease)
    cancel()


def test_revoke_lease_deletes_keys(kv: MetaKV) -> None:
    lease = kv.grant_lease(30)
    kv.put("r/a", b"1", lease=lease)
    kv.put("r/b", b"2", lease=lease)
    kv.put("r/c", b"3")
    kv.revoke_lease(lease)
    assert kv.get_prefix("r/") == [("r/c", b"3")]
    kv.revoke_lease(lease)  # already gone: no error
    with pytest.raises(LeaseNotFound):
        kv.keepalive_once(lease)


def test_watch_events_and_cancel(kv: MetaKV) -> None:
    kv.put("w/before", b"0")
    rec = Recorder()
    cancel = kv.watch_prefix("w/", rec)
    kv.put("w/a", b"1")
    kv.put("outside", b"x")
    kv.put("w/a", b"2")
    kv.delete("w/a")
    kv.put("w/b", b"3")
    kv.delete_prefix("w/")
    expected = [("put", "w/a", b"1"), ("put", "w/a", b"2"), ("delete", "w/a", b""),
                ("put", "w/b", b"3"), ("delete", "w/b", b""), ("delete", "w/before", b"")]
    wait_for(lambda: len(rec.events) >= len(expected))
    assert rec.simple() == expected
    revisions = [e.revision for e in rec.events]
    assert revisions == sorted(revisions)
    cancel()
    cancel()  # idempotent
    kv.put("w/after", b"4")
    time.sleep(0.2)
    assert len(rec.events) == len(expected)


def test_failing_callback_does_not_stop_watch(kv: MetaKV) -> None:
    got: list[str] = []

    def callback(event: WatchEvent) -> None:
        got.append(event.key)
        if event.key == "boom":
            raise RuntimeError("callback bug")

    cancel = kv.watch_prefix("", callback)
    kv.put("boom", b"")
    kv.put("after", b"")
    wait_for(lambda: got == ["boom", "after"])
    cancel()


def test_errors_are_io_failed() -> None:
    assert issubclass(MetaKVError, IoFailed) and issubclass(LeaseNotFound, MetaKVError)
    kv = MemoryKV("x")
    kv.close()
    with pytest.raises(MetaKVError):
        kv.get("a")


def test_etcd_unreachable_raises_meta_kv_error() -> None:
    from common.net import free_port

    kv = EtcdKV(f"127.0.0.1:{free_port()}", "root", timeout_s=1, retry_window_s=0.3)
    start = time.monotonic()
    with pytest.raises(MetaKVError, match="etcd put failed"):
        kv.put("a", b"1")
    with pytest.raises(MetaKVError, match="compare_and_put"):
        kv.compare_and_put("a", None, b"1")
    assert time.monotonic() - start < 5
    kv.close()


def test_parse_endpoints() -> None:
    assert parse_endpoints("127.0.0.1:2379") == [("127.0.0.1", 2379)]
    assert parse_endpoints("http://a:1, b:2") == [("a", 1), ("b", 2)]
    assert parse_endpoints(["http://h:3/"]) == [("h", 3)]
    with pytest.raises(ValueError):
        parse_endpoints("nohost")


def test_etcd_watch_survives_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    etcd = EmbeddedEtcd(tmp_path, unsafe_no_fsync=True).start()
    try:
        kv = EtcdKV(etcd.endpoint, "restart")
        rec = Recorder()
        cancel = kv.watch_prefix("", rec)
        kv.put("a", b"1")
        wait_for(lambda: len(rec.events) == 1)
        etcd.stop()
        etcd.start()
        writer = EtcdKV(etcd.endpoint, "restart")
        writer.put("b", b"2")  # likely before the watch is re-created: must still arrive
        kv.put("c", b"3")  # the old client reconnects too
        wait_for(lambda: len(rec.events) == 3, timeout_s=10)
        time.sleep(0.2)
        assert rec.simple() == [("put", "a", b"1"), ("put", "b", b"2"), ("put", "c", b"3")]
        cancel()
        writer.close()
        kv.close()
    finally:
        etcd.stop()


def test_fenced_view_writes_only_while_the_guard_holds(kv: MetaKV) -> None:
    alive = [True]
    kv.put("active", b"me")
    view = kv.fenced(Guard("active", b"me", lambda: alive[0]))
    view.put("k1", b"1")
    view.multi_save({"k2": b"2"}, deletes=["k1"])
    assert view.compare_and_put("k2", b"2", b"3")
    assert not view.compare_and_put("k2", b"2", b"4")  # a plain comparison failure
    view.delete("k2")
    view.put("p/a", b"a")
    view.delete_prefix("p/")
    assert kv.get_prefix("") == [("active", b"me")]

    kv.put("active", b"other")  # another instance won
    for write in (lambda: view.put("k", b"v"), lambda: view.delete("active"),
                  lambda: view.delete_prefix(""), lambda: view.multi_save({"k": b"v"}),
                  lambda: view.compare_and_put("k", None, b"v")):
        with pytest.raises(Fenced):
            write()
    assert kv.get_prefix("") == [("active", b"other")]
    assert view.get("active") == b"other"  # reads are not fenced

    kv.put("active", b"me")
    alive[0] = False  # the writer knows its lease is over: refused without asking the store
    with pytest.raises(Fenced):
        view.put("k", b"v")
    assert kv.get("k") is None
    view.close()  # releases nothing of the KV it came from
    assert kv.get("active") == b"me"


def test_compare_and_put_with_lease(kv: MetaKV) -> None:
    lease = kv.grant_lease(5)
    assert kv.compare_and_put("leader", None, b"a", lease=lease)
    assert not kv.compare_and_put("leader", None, b"b", lease=lease)
    kv.revoke_lease(lease)
    assert kv.get("leader") is None


def test_etcd_fails_over_from_a_dead_endpoint(etcd_endpoint: str) -> None:
    """A refused connection sends even a CAS (never applied then) to the next endpoint."""
    from common.net import free_port

    dead = f"127.0.0.1:{free_port()}"
    kv = EtcdKV([dead, etcd_endpoint], f"failover-{uuid.uuid4().hex[:8]}")
    while kv.endpoint_in_use != dead:
        kv._pool.failed(kv._pool.current())
    kv._pool.current().failed_at = 0.0  # as if it never failed: the next call finds it dead
    assert kv.compare_and_put("k", None, b"1")
    assert kv.endpoint_in_use == etcd_endpoint
    assert kv.get("k") == b"1"
    kv.close()


def test_etcd_slow_watch_callback_is_not_a_hung_member(etcd_endpoint: str) -> None:
    """A callback that takes longer than the watch's liveness probe does not count as a member
    that hangs: the stream is kept, and events arrive once each, in order."""
    kv = EtcdKV(etcd_endpoint, f"slow-{uuid.uuid4().hex[:8]}", timeout_s=0.4)
    got: list[str] = []

    def slow(event: WatchEvent) -> None:
        if not got:
            time.sleep(1.2)  # three probe rounds
        got.append(event.key)

    cancel = kv.watch_prefix("", slow)
    for key in ("a", "b", "c"):
        kv.put(key, b"")
    wait_for(lambda: got == ["a", "b", "c"])
    assert kv._pool.current().failed_at == 0.0
    cancel()
    kv.close()
