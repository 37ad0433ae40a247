"""``EtcdKV``: the ``MetaKV`` contract on etcd v3, over the gRPC stubs pyetcd (etcd-sdk-python)
generates, with our own failover between the members of ``etcd.endpoints``
(``common.kv.etcd_endpoints.EndpointPool``; pyetcd's multi-endpoint client is not thread-safe).

Failover (an etcd cluster that loses a minority of its members keeps working for its clients):
every call goes to the member in use with a deadline of ``timeout_s``. A member that refuses
connections, hangs past the deadline (SIGSTOP, a dead host) or has no leader is reported to the
pool, which moves on to the next member, and the call is retried there at once. Idempotent
calls (get, put, delete, multi_save, lease grant, keepalive, revoke) are retried for
``retry_window_s``. ``compare_and_put`` is retried only when etcd cannot have applied it (the
connection was never made, or the member had no leader); after an ambiguous failure (a deadline,
a leader change while it was in flight) it raises ``MetaKVError``, as the caller cannot know
whether it happened. A grant that reached etcd before an error only leaves an unused lease,
which expires. Leases are cluster state: a new leader keeps them (and extends their TTL).

Watches do not use pyetcd's shared ``Watcher``: each watch owns one gRPC stream and one daemon
thread that calls the callback. When the stream breaks (a member dies or restarts), the thread
re-creates it, on the member now in use, from the last seen revision + 1, so no event is lost
or repeated. A member that hangs is found by a progress request sent every ``timeout_s / 2``:
without an answer by the next one, the stream is abandoned. Watches ask etcd to end them when
their member loses its leader (``hasleader`` metadata), so a partitioned member cannot keep a
watch silent. If etcd has compacted the revision to resume from, the watch resumes at the
compacted revision and logs a warning (events between are lost, as in Milvus).
"""
from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import grpc
from pyetcd import etcdrpc
from pyetcd.etcdrpc import kv_pb2

from common.kv.base import (
    Guard,
    LeaseNotFound,
    MetaKV,
    MetaKVError,
    WatchCallback,
    WatchEvent,
    WatchKind,
    check_multi_save,
)
from common.kv.etcd_endpoints import EndpointPool, Member, parse_endpoints

__all__ = ["EtcdKV", "parse_endpoints"]

_log = logging.getLogger(__name__)
T = TypeVar("T")
# Ask etcd to refuse (or end) a call when the member has no leader (etcd's WithRequireLeader).
_REQUIRE_LEADER = (("hasleader", "true"),)

Failure = Literal["unsent", "ambiguous"]


def _prefix_range(full_prefix: str) -> tuple[bytes, bytes]:
    """Return (key, range_end) covering every key that starts with ``full_prefix``."""
    if not full_prefix:
        return b"\0", b"\0"  # the whole keyspace
    key = full_prefix.encode()
    end = bytearray(key)
    for i in reversed(range(len(end))):
        if end[i] < 0xFF:
            end[i] += 1
            return key, bytes(end[: i + 1])
    return key, b"\0"


def _failure(exc: grpc.RpcError) -> Failure | None:
    """How a failed call failed, when the member (not the request) is at fault: ``unsent`` when
    etcd cannot have applied it, ``ambiguous`` when it may have; None for any other error."""
    code = exc.code()
    details = exc.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        if "failed to connect" in details or "no leader" in details:
            return "unsent"
        return "ambiguous"  # a broken connection, "leader changed", "request timed out"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "ambiguous"
    return None


def _is_lease_not_found(exc: grpc.RpcError) -> bool:
    return exc.code() == grpc.StatusCode.NOT_FOUND and "lease not found" in (exc.details() or "")


def _put_op(key: str, value: bytes) -> Any:
    return etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=key.encode(), value=value))


def _delete_op(key: str) -> Any:
    return etcdrpc.RequestOp(request_delete_range=etcdrpc.DeleteRangeRequest(key=key.encode()))


class EtcdKV(MetaKV):
    """``MetaKV`` on an etcd cluster; see the module docstring for failover and watches."""

    def __init__(self, endpoints: list[str] | str, root_path: str, *, timeout_s: float = 2.0,
                 retry_window_s: float = 6.0) -> None:
        super().__init__(root_path)
        self._pool = EndpointPool(endpoints)
        self.endpoints = self._pool.addresses
        self.timeout_s = timeout_s
        self._retry_window_s = retry_window_s
        self._watches: set[_EtcdWatch] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.guard: Guard | None = None
        self._owner = True  # False for a fenced view: close() leaves the client open

    def fenced(self, guard: Guard) -> EtcdKV:
        view = copy.copy(self)  # shares the client, its watches and their lock
        view.guard = guard
        view._owner = False
        return view

    def _guard_compare(self, guard: Guard) -> Any:
        return etcdrpc.Compare(result=etcdrpc.Compare.EQUAL, target=etcdrpc.Compare.VALUE,
                               key=self.full_key(guard.key).encode(), value=guard.value)

    def _write(self, what: str, key: str, ops: list[Any], plain: Callable[[Member], Any]) -> None:
        """Apply ``ops`` (transaction operations): as ``plain`` (the same write as one request)
        without a guard, else in one transaction that also compares the guard key (Fenced when
        it does not hold)."""
        if self.guard is None:
            self._call(what, key, plain)
            return
        guard = self.guard
        guard.check_alive()
        req = etcdrpc.TxnRequest(compare=[self._guard_compare(guard)], success=ops, failure=[])
        resp = self._call(what, key, lambda m: m.kv.Txn(req, self.timeout_s))
        if not resp.succeeded:
            raise guard.fenced_error()

    @property
    def endpoint_in_use(self) -> str:
        """``host:port`` of the member this client sends its next call to."""
        return self._pool.current().address

    # -- error handling ----------------------------------------------------------------------
    def _call(self, what: str, key: str, fn: Callable[[Member], T], *, idempotent: bool = True,
              max_tries: int = 0) -> T:
        """``fn(member)`` on the member in use, failing over and retrying as the module says
        (at most ``max_tries`` times when given)."""
        if self._closed:
            raise MetaKVError(f"etcd {what} on a closed EtcdKV[key={key}]")
        deadline = time.monotonic() + self._retry_window_s
        delay = 0.05
        tries = 0
        while True:
            member = self._pool.current()
            tries += 1
            try:
                return fn(member)
            except grpc.RpcError as exc:
                if _is_lease_not_found(exc):
                    raise LeaseNotFound(f"etcd {what}: lease not found[key={key}]") from exc
                failure = _failure(exc)
                if failure is not None:
                    self._pool.failed(member)
                retry = failure == "unsent" or (failure == "ambiguous" and idempotent)
                out_of_time = time.monotonic() + delay > deadline or tries == max_tries
                if not retry or self._closed or out_of_time:
                    raise MetaKVError(self._message(what, key, member, exc)) from exc
                _log.info("etcd %s on %s failed (%s); trying %s", what, member.address,
                          exc.code().name, self._pool.current().address)
            if self._pool.current() is member:  # nowhere else to go: wait a little
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _message(self, what: str, key: str, member: Member, exc: grpc.RpcError) -> str:
        detail = f"{exc.code().name}: {exc.details()}"
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            detail = f"no answer from {member.address} in {self.timeout_s:g} s"
        return f"etcd {what} failed[key={key}, endpoints={','.join(self.endpoints)}]: {detail}"

    def check_reachable(self) -> None:
        """Ask each member at most once (no retry window) for a linearizable read: returns when
        one answers, so a quorum is reachable; raises ``MetaKVError`` naming the endpoints."""
        req = etcdrpc.RangeRequest(key=self.full_key("connect-probe").encode())
        self._call("connect", "connect-probe", lambda m: m.kv.Range(req, self.timeout_s),
                   max_tries=len(self.endpoints))

    # -- plain keys --------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        full = self.full_key(key)
        req = etcdrpc.RangeRequest(key=full.encode())
        resp = self._call("get", full, lambda m: m.kv.Range(req, self.timeout_s))
        return bytes(resp.kvs[0].value) if resp.kvs else None

    def put(self, key: str, value: bytes, lease: int | None = None) -> None:
        full = self.full_key(key)
        req = etcdrpc.PutRequest(key=full.encode(), value=bytes(value), lease=lease or 0)
        self._write("put", full, [etcdrpc.RequestOp(request_put=req)], lambda m: m.kv.Put(req, self.timeout_s))

    def delete(self, key: str) -> None:
        full = self.full_key(key)
        req = etcdrpc.DeleteRangeRequest(key=full.encode())
        self._write("delete", full, [etcdrpc.RequestOp(request_delete_range=req)],
                    lambda m: m.kv.DeleteRange(req, self.timeout_s))

    def get_prefix(self, prefix: str) -> list[tuple[str, bytes]]:
        full = self.full_key(prefix)
        start, end = _prefix_range(full)
        req = etcdrpc.RangeRequest(key=start, range_end=end)
        resp = self._call("get_prefix", full, lambda m: m.kv.Range(req, self.timeout_s))
        items = [(kv.key.decode(), bytes(kv.value)) for kv in resp.kvs]
        return [(self.relative_key(k), v) for k, v in sorted(items)]

    def delete_prefix(self, prefix: str) -> None:
        full = self.full_key(prefix)
        start, end = _prefix_range(full)
        req = etcdrpc.DeleteRangeRequest(key=start, range_end=end)
        self._write("delete_prefix", full, [etcdrpc.RequestOp(request_delete_range=req)],
                    lambda m: m.kv.DeleteRange(req, self.timeout_s))

    # -- transactions ------------------------------------------------------------------------
    def multi_save(self, puts: dict[str, bytes], deletes: Sequence[str] = ()) -> None:
        check_multi_save(puts, deletes)
        ops = [_put_op(self.full_key(k), bytes(v)) for k, v in puts.items()]
        ops += [_delete_op(self.full_key(k)) for k in deletes]
        if not ops:
            return
        first = self.full_key(next(iter(puts), next(iter(deletes), "")))
        req = etcdrpc.TxnRequest(compare=[], success=ops, failure=[])
        self._write("multi_save", f"{first} (+{len(ops) - 1} more)", ops, lambda m: m.kv.Txn(req, self.timeout_s))

    def compare_and_put(self, key: str, expected: bytes | None, value: bytes,
                        lease: int | None = None) -> bool:
        full = self.full_key(key)
        if expected is None:
            compare = etcdrpc.Compare(result=etcdrpc.Compare.EQUAL, target=etcdrpc.Compare.CREATE,
                                      key=full.encode(), create_revision=0)
        else:
            compare = etcdrpc.Compare(result=etcdrpc.Compare.EQUAL, target=etcdrpc.Compare.VALUE,
                                      key=full.encode(), value=bytes(expected))
        compares = [compare]
        if self.guard is not None:
            self.guard.check_alive()
            compares.append(self._guard_compare(self.guard))
        put = etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=full.encode(), value=bytes(value), lease=lease or 0))
        req = etcdrpc.TxnRequest(compare=compares, success=[put], failure=[])
        resp = self._call("compare_and_put", full, lambda m: m.kv.Txn(req, self.timeout_s),
                          idempotent=False)
        if not resp.succeeded and self.guard is not None and self.get(self.guard.key) != self.guard.value:
            raise self.guard.fenced_error()  # the guard failed, not (only) the comparison
        return bool(resp.succeeded)

    # -- leases ------------------------------------------------------------------------------
    def grant_lease(self, ttl_s: int) -> int:
        if ttl_s <= 0:
            raise ValueError(f"lease ttl must be positive, got {ttl_s}")
        req = etcdrpc.LeaseGrantRequest(TTL=ttl_s)
        resp = self._call("grant_lease", f"ttl={ttl_s}", lambda m: m.lease.LeaseGrant(req, self.timeout_s))
        return int(resp.ID)

    def keepalive_once(self, lease_id: int) -> None:
        what = f"lease={lease_id:#x}"
        req = etcdrpc.LeaseKeepAliveRequest(ID=lease_id)
        responses = self._call("keepalive", what, lambda m: list(m.lease.LeaseKeepAlive(
            iter([req]), self.timeout_s, metadata=_REQUIRE_LEADER)))
        if not responses or responses[-1].TTL <= 0:
            raise LeaseNotFound(f"etcd keepalive: lease not found[{what}]")

    def revoke_lease(self, lease_id: int) -> None:
        req = etcdrpc.LeaseRevokeRequest(ID=lease_id)
        try:
            self._call("revoke_lease", f"lease={lease_id:#x}",
                       lambda m: m.lease.LeaseRevoke(req, self.timeout_s))
        except LeaseNotFound:
            pass

    # -- watches -----------------------------------------------------------------------------
    def current_revision(self) -> int:
        """Return etcd's current store revision."""
        start, end = _prefix_range(self.full_key(""))
        req = etcdrpc.RangeRequest(key=start, range_end=end, count_only=True)
        resp = self._call("revision", "", lambda m: m.kv.Range(req, self.timeout_s))
        return int(resp.header.revision)

    def watch_prefix(self, prefix: str, callback: WatchCallback) -> Callable[[], None]:
        full = self.full_key(prefix)
        start_revision = self.current_revision() + 1
        watch = _EtcdWatch(self, full, callback, start_revision)
        with self._lock:
            if self._closed:
                raise MetaKVError("watch on a closed EtcdKV")
            self._watches.add(watch)
        watch.start()

        def cancel() -> None:
            watch.cancel()
            with self._lock:
                self._watches.discard(watch)

        return cancel

    def close(self) -> None:
        if not self._owner:
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
            watches, self._watches = list(self._watches), set()
        for watch in watches:
            watch.cancel()
        self._pool.close()


class _EtcdWatch:
    """One prefix watch: a gRPC stream re-created from the last revision after errors."""

    def __init__(self, kv: EtcdKV, full_prefix: str, callback: WatchCallback,
                 start_revision: int) -> None:
        self.kv = kv
        self.full_prefix = full_prefix
        self.callback = callback
        self.next_revision = start_revision
        self._stop = threading.Event()
        self._call: Any = None
        self._call_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"etcd-watch:{full_prefix}")

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._stop.set()
        with self._call_lock:
            if self._call is not None:
                self._call.cancel()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        delay = 0.05
        while not self._stop.is_set():
            try:
                self._stream_once()
                delay = 0.05
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    return
                _log.info("etcd watch on %s broke (%s); resuming from revision %d on %s",
                          self.full_prefix, exc.code().name, self.next_revision,
                          self.kv.endpoint_in_use)
            self._stop.wait(delay)
            delay = min(delay * 2, 1.0)

    def _stream_once(self) -> None:
        """One watch stream on the member in use, until it ends, breaks or its member hangs."""
        key, end = _prefix_range(self.full_prefix)
        create = etcdrpc.WatchCreateRequest(key=key, range_end=end,
                                            start_revision=self.next_revision)
        member = self.kv._pool.current()
        attempt_done = threading.Event()
        probe_every = max(self.kv.timeout_s / 2, 0.05)
        seen = {"answer": time.monotonic(), "probe": time.monotonic(), "hung": False,
                "delivering": False}

        def requests() -> Any:
            yield etcdrpc.WatchRequest(create_request=create)
            # Liveness: a progress request each round; no answer of any kind to the previous
            # one means the member hangs (it keeps its sockets open but answers nothing).
            # Not judged while a callback runs: answers then wait in the stream, unread.
            while not attempt_done.wait(probe_every):
                if seen["delivering"]:
                    continue
                if seen["answer"] < seen["probe"]:
                    seen["hung"] = True
                    with self._call_lock:
                        if self._call is not None:
                            self._call.cancel()
                    return
                seen["probe"] = time.monotonic()
                yield etcdrpc.WatchRequest(progress_request=etcdrpc.WatchProgressRequest())

        try:
            with self._call_lock:
                if self._stop.is_set():
                    return
                self._call = member.watch.Watch(requests(), metadata=_REQUIRE_LEADER)
            for resp in self._call:
                seen["answer"] = time.monotonic()
                if resp.compact_revision:
                    _log.warning("etcd watch on %s: revision %d compacted, resuming at %d; "
                                 "events in between are lost", self.full_prefix,
                                 self.next_revision, resp.compact_revision)
                    self.next_revision = resp.compact_revision
                    return
                seen["delivering"] = True
                for ev in resp.events:
                    self._deliver(ev)
                seen["delivering"] = False
                seen["answer"] = time.monotonic()
                if resp.events:  # a response holds whole revisions: resume after the last one
                    self.next_revision = max(self.next_revision,
                                             int(resp.events[-1].kv.mod_revision) + 1)
                if resp.canceled:
                    return
        except grpc.RpcError as exc:
            if not self._stop.is_set() and (seen["hung"] or _failure(exc) is not None):
                self.kv._pool.failed(member)
            raise
        finally:
            attempt_done.set()
            with self._call_lock:
                if self._call is not None:
                    self._call.cancel()
                self._call = None

    def _deliver(self, ev: Any) -> None:
        revision = int(ev.kv.mod_revision)
        if revision < self.next_revision or self._stop.is_set():
            return
        kind: WatchKind = "delete" if ev.type == kv_pb2.Event.DELETE else "put"
        event = WatchEvent(kind, self.kv.relative_key(ev.kv.key.decode()),
                           b"" if kind == "delete" else bytes(ev.kv.value), revision)
        try:
            self.callback(event)
        except Exception:
            _log.exception("watch callback failed for %s", event.key)
