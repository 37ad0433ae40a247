"""``EtcdKV``: the ``MetaKV`` contract on etcd v3, through pyetcd (etcd-sdk-python).

Connection handling (see ../shared/reference/infra.md §2): the client is a
``MultiEndpointEtcd3Client`` with failover and a short ``time_retry``, because a plain client
marks an endpoint failed for 300 s after one error. Idempotent calls (get, put, delete,
multi_save, lease grant and keepalive) are retried for ``retry_window_s`` on connection errors,
so a short etcd restart is invisible; ``compare_and_put`` is never retried (a grant that reached
etcd before the error only leaves an unused lease, which expires).

Watches do not use pyetcd's shared ``Watcher``: each watch owns one gRPC stream and one daemon
thread that calls the callback. When the stream breaks (an etcd restart), the thread re-creates
it from the last seen revision + 1, so no event is lost or repeated. If etcd has compacted
that revision, the watch resumes at the compacted revision and logs a warning (events between
are lost, as in Milvus).
"""
from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import grpc
import pyetcd
from pyetcd import etcdrpc
from pyetcd.etcdrpc import kv_pb2
from pyetcd.exceptions import (
    ConnectionFailedError,
    ConnectionTimeoutError,
    Etcd3Exception,
    NoServerAvailableError,
)

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

_log = logging.getLogger(__name__)
T = TypeVar("T")

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 10_000),  # only with active calls: etcd rejects idle pings
    ("grpc.keepalive_timeout_ms", 5_000),
]
_CONNECTION_ERRORS = (ConnectionFailedError, NoServerAvailableError)


def parse_endpoints(endpoints: list[str] | str) -> list[tuple[str, int]]:
    """Parse ``"h:p"``, ``"http://h:p"``, a comma-separated string or a list into (host, port)."""
    items = endpoints.split(",") if isinstance(endpoints, str) else list(endpoints)
    out = []
    for item in items:
        item = item.strip()
        for scheme in ("http://", "https://"):
            if item.startswith(scheme):
                item = item[len(scheme):]
        host, sep, port = item.rstrip("/").rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"invalid etcd endpoint {item!r}, expected host:port")
        out.append((host, int(port)))
    if not out:
        raise ValueError("no etcd endpoint given")
    return out


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


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, _CONNECTION_ERRORS):
        return True
    return isinstance(exc, grpc.RpcError) and exc.code() == grpc.StatusCode.UNAVAILABLE


def _is_lease_not_found(exc: BaseException) -> bool:
    return (isinstance(exc, grpc.RpcError) and exc.code() == grpc.StatusCode.NOT_FOUND
            and "lease not found" in (exc.details() or ""))


class EtcdKV(MetaKV):
    """``MetaKV`` on etcd; see the module docstring for reconnects and watches."""

    def __init__(self, endpoints: list[str] | str, root_path: str, *, timeout_s: float = 5.0,
                 retry_window_s: float = 3.0) -> None:
        super().__init__(root_path)
        self.endpoints = [f"{h}:{p}" for h, p in parse_endpoints(endpoints)]
        self._retry_window_s = retry_window_s
        eps = [pyetcd.Endpoint(h, p, secure=False, time_retry=0.5, opts=_CHANNEL_OPTIONS)
               for h, p in parse_endpoints(endpoints)]
        self._client = pyetcd.MultiEndpointEtcd3Client(endpoints=eps, timeout=timeout_s,
                                                       failover=True)
        self._tx = self._client.transactions
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

    def _write(self, what: str, key: str, ops: list[Any], *, plain: Callable[[], Any]) -> None:
        """Apply ``ops`` (transaction operations): through ``plain`` without a guard, else in one
        transaction that also compares the guard key (Fenced when it does not hold)."""
        if self.guard is None:
            self._call(what, key, plain)
            return
        guard = self.guard
        guard.check_alive()
        compare = [self._tx.value(self.full_key(guard.key)) == guard.value]
        ok, _ = self._call(what, key, lambda: self._client.transaction(compare=compare, success=ops, failure=[]))
        if not ok:
            raise guard.fenced_error()

    # -- error handling ----------------------------------------------------------------------
    def _call(self, what: str, key: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        if self._closed:
            raise MetaKVError(f"etcd {what} on a closed EtcdKV[key={key}]")
        deadline = time.monotonic() + self._retry_window_s
        delay = 0.05
        while True:
            try:
                return fn()
            except (grpc.RpcError, Etcd3Exception, ValueError) as exc:
                if _is_lease_not_found(exc):
                    raise LeaseNotFound(f"etcd {what}: lease not found[key={key}]") from exc
                retry = idempotent and _is_connection_error(exc)
                if not retry or time.monotonic() + delay > deadline:
                    raise MetaKVError(self._message(what, key, exc)) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _message(self, what: str, key: str, exc: BaseException) -> str:
        if isinstance(exc, grpc.RpcError):
            detail = f"{exc.code().name}: {exc.details()}"
        else:
            detail = str(exc) or type(exc).__name__
        if isinstance(exc, ConnectionTimeoutError):
            detail = "deadline exceeded"
        return f"etcd {what} failed[key={key}, endpoints={','.join(self.endpoints)}]: {detail}"

    # -- plain keys --------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        full = self.full_key(key)
        value, _meta = self._call("get", full, lambda: self._client.get(full))
        return cast("bytes | None", value)  # pyetcd is untyped: the value, None when absent

    def put(self, key: str, value: bytes, lease: int | None = None) -> None:
        full = self.full_key(key)
        self._write("put", full, [self._tx.put(full, bytes(value), lease=lease or None)],
                    plain=lambda: self._client.put(full, bytes(value), lease=lease or 0))

    def delete(self, key: str) -> None:
        full = self.full_key(key)
        self._write("delete", full, [self._tx.delete(full)], plain=lambda: self._client.delete(full))

    def get_prefix(self, prefix: str) -> list[tuple[str, bytes]]:
        full = self.full_key(prefix)
        start, end = _prefix_range(full)
        resp = self._call("get_prefix", full,
                          lambda: self._client.get_response(start, range_end=end))
        items = [(kv.key.decode(), kv.value) for kv in resp.kvs]
        return [(self.relative_key(k), v) for k, v in sorted(items)]

    def delete_prefix(self, prefix: str) -> None:
        full = self.full_key(prefix)
        start, end = _prefix_range(full)
        req = etcdrpc.DeleteRangeRequest(key=start, range_end=end)
        self._write("delete_prefix", full, [self._tx.delete(start, range_end=end)],
                    plain=lambda: self._client.kvstub.DeleteRange(req, self._client.timeout))

    # -- transactions ------------------------------------------------------------------------
    def multi_save(self, puts: dict[str, bytes], deletes: Sequence[str] = ()) -> None:
        check_multi_save(puts, deletes)
        ops: list[Any] = [self._tx.put(self.full_key(k), bytes(v)) for k, v in puts.items()]
        ops += [self._tx.delete(self.full_key(k)) for k in deletes]
        if not ops:
            return
        first = self.full_key(next(iter(puts), next(iter(deletes), "")))
        self._write("multi_save", f"{first} (+{len(ops) - 1} more)", ops,
                    plain=lambda: self._client.transaction(compare=[], success=ops, failure=[]))

    def compare_and_put(self, key: str, expected: bytes | None, value: bytes,
                        lease: int | None = None) -> bool:
        full = self.full_key(key)
        if expected is None:
            compare = [self._tx.create(full) == 0]
        else:
            compare = [self._tx.value(full) == bytes(expected)]
        if self.guard is not None:
            self.guard.check_alive()
            compare.append(self._tx.value(self.full_key(self.guard.key)) == self.guard.value)
        ok, _ = self._call("compare_and_put", full, lambda: self._client.transaction(
            compare=compare, success=[self._tx.put(full, bytes(value), lease=lease or None)], failure=[]),
            idempotent=False)
        if not ok and self.guard is not None and self.get(self.guard.key) != self.guard.value:
            raise self.guard.fenced_error()  # the guard failed, not (only) the comparison
        return bool(ok)

    # -- leases ------------------------------------------------------------------------------
    def grant_lease(self, ttl_s: int) -> int:
        if ttl_s <= 0:
            raise ValueError(f"lease ttl must be positive, got {ttl_s}")
        # Retried like an idempotent call: a grant that did reach etcd before the connection
        # broke leaves an unused lease, which simply expires after ttl_s.
        lease = self._call("grant_lease", f"ttl={ttl_s}", lambda: self._client.lease(ttl_s))
        return int(lease.id)

    def keepalive_once(self, lease_id: int) -> None:
        what = f"lease={lease_id:#x}"
        responses = self._call("keepalive", what, lambda: list(self._client.refresh_lease(lease_id)))
        if not responses or responses[-1].TTL <= 0:
            raise LeaseNotFound(f"etcd keepalive: lease not found[{what}]")

    def revoke_lease(self, lease_id: int) -> None:
        try:
            self._call("revoke_lease", f"lease={lease_id:#x}",
                       lambda: self._client.revoke_lease(lease_id))
        except LeaseNotFound:
            pass

    # -- watches -----------------------------------------------------------------------------
    def current_revision(self) -> int:
        """Return etcd's current store revision."""
        resp = self._call("revision", "", lambda: self._client.get_response(
            self.full_key(""), count_only=True))
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

    def _channel(self) -> grpc.Channel:
        return cast(grpc.Channel, self._client.channel)  # pyetcd is untyped

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
        self._client.close()


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
            except (grpc.RpcError, Etcd3Exception, ValueError) as exc:
                if self._stop.is_set():
                    return
                _log.info("etcd watch on %s broke (%s); resuming from revision %d",
                          self.full_prefix, exc, self.next_revision)
            self._stop.wait(delay)
            delay = min(delay * 2, 1.0)

    def _stream_once(self) -> None:
        key, end = _prefix_range(self.full_prefix)
        create = etcdrpc.WatchCreateRequest(key=key, range_end=end,
                                            start_revision=self.next_revision)
        attempt_done = threading.Event()

        def requests() -> Any:
            yield etcdrpc.WatchRequest(create_request=create)
            attempt_done.wait()  # keep the send side open until this attempt ends

        stub = etcdrpc.WatchStub(self.kv._channel())
        try:
            with self._call_lock:
                if self._stop.is_set():
                    return
                self._call = stub.Watch(requests())
            for resp in self._call:
                if resp.compact_revision:
                    _log.warning("etcd watch on %s: revision %d compacted, resuming at %d; "
                                 "events in between are lost", self.full_prefix,
                                 self.next_revision, resp.compact_revision)
                    self.next_revision = resp.compact_revision
                    return
                for ev in resp.events:
                    self._deliver(ev)
                if resp.events:  # a response holds whole revisions: resume after the last one
                    self.next_revision = max(self.next_revision,
                                             int(resp.events[-1].kv.mod_revision) + 1)
                if resp.canceled:
                    return
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
