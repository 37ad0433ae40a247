"""Service sessions: each running role registers ``session/{role}/{server_id}`` under a lease.

The value is JSON ``{"role", "server_id", "address", "pid", "hostname", "start_time_ms"}``.
``Session.register()`` keeps the lease alive from a daemon thread every ``ttl_s / 3`` (sooner
after a failed keepalive, e.g. while the etcd client fails over to another member); a
process that dies (even by SIGKILL) stops refreshing, and its key disappears after ``ttl_s``.
If the lease is lost anyway (a long pause, etcd data loss), the thread registers again with a
new lease and calls ``on_lost`` first, when given.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

from common.kv.base import LeaseNotFound, MetaKV, MetaKVError, WatchEvent

_log = logging.getLogger(__name__)
SESSION_PREFIX = "session/"


@dataclass(frozen=True)
class SessionInfo:
    """What a live server announces about itself."""

    role: str
    server_id: int
    address: str
    pid: int = 0
    hostname: str = ""
    start_time_ms: int = 0
    grpc_address: str = ""  # where its gRPC services answer, when ``address`` is not that (broker)

    @classmethod
    def of_this_process(cls, role: str, server_id: int, address: str, grpc_address: str = "") -> SessionInfo:
        """The info of a server of this process, started now."""
        return cls(role, int(server_id), address, os.getpid(), socket.gethostname(), int(time.time() * 1000),
                   grpc_address if grpc_address != address else "")

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SessionInfo:
        data = json.loads(raw)
        return cls(role=str(data["role"]), server_id=int(data["server_id"]),
                   address=str(data.get("address", "")), pid=int(data.get("pid", 0)),
                   hostname=str(data.get("hostname", "")),
                   start_time_ms=int(data.get("start_time_ms", 0)),
                   grpc_address=str(data.get("grpc_address", "")))


@dataclass(frozen=True)
class SessionEvent:
    """A server appeared (``add``) or went away (``remove``)."""

    kind: Literal["add", "remove"]
    info: SessionInfo


def session_key(role: str, server_id: int) -> str:
    return f"{SESSION_PREFIX}{role}/{server_id}"


class Session:
    """One server's registration; ``register()`` then ``stop()``."""

    def __init__(self, kv: MetaKV, role: str, server_id: int, address: str, ttl_s: int = 10,
                 *, on_lost: Callable[[], None] | None = None, grpc_address: str = "") -> None:
        if "/" in role or not role:
            raise ValueError(f"invalid session role {role!r}")
        self.kv = kv
        self.info = SessionInfo.of_this_process(role, server_id, address, grpc_address)
        self.ttl_s = ttl_s
        self.on_lost = on_lost
        self.lease_id: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewed_at: float | None = None  # monotonic time of the last put or keepalive that etcd accepted

    @property
    def key(self) -> str:
        return session_key(self.info.role, self.info.server_id)

    def register(self) -> None:
        """Put the session key under a new lease and start the keepalive thread.

        Raises ``MetaKVError`` when the KV is unreachable.
        """
        self._put_with_new_lease()
        self._stop.clear()
        self._thread = threading.Thread(target=self._keepalive_loop, daemon=True,
                                        name=f"session-{self.info.role}-{self.info.server_id}")
        self._thread.start()

    def _put_with_new_lease(self) -> None:
        lease_id = self.kv.grant_lease(self.ttl_s)
        self.kv.put(self.key, self.info.to_json(), lease=lease_id)
        self.lease_id = lease_id
        self._renewed_at = time.monotonic()

    @property
    def alive(self) -> bool:
        """Whether etcd accepted this session's registration or keepalive within the last
        ``ttl_s`` (False before ``register`` and once etcd has been unreachable that long)."""
        return self._renewed_at is not None and time.monotonic() - self._renewed_at < self.ttl_s

    def _keepalive_loop(self) -> None:
        interval = max(self.ttl_s / 3.0, 0.1)
        wait = interval
        while not self._stop.wait(wait):
            wait = min(interval, 0.5)  # after a failure, try again soon: the lease is running out
            try:
                assert self.lease_id is not None
                self.kv.keepalive_once(self.lease_id)
                self._renewed_at = time.monotonic()
                wait = interval
            except LeaseNotFound:
                if self._stop.is_set():
                    return
                _log.warning("session %s lost its lease; registering again", self.key)
                if self.on_lost is not None:
                    self.on_lost()
                try:
                    self._put_with_new_lease()
                except MetaKVError as exc:
                    _log.warning("session %s: re-register failed: %s", self.key, exc)
            except MetaKVError as exc:
                _log.warning("session %s: keepalive failed: %s", self.key, exc)

    def stop(self, revoke: bool = True) -> None:
        """Stop refreshing; with ``revoke`` also delete the key now (else it expires after ttl)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.ttl_s)
        self._thread = None
        if revoke and self.lease_id is not None:
            try:
                self.kv.revoke_lease(self.lease_id)
            except MetaKVError as exc:
                _log.warning("session %s: revoke failed (it expires in %ss): %s", self.key,
                             self.ttl_s, exc)
            self.lease_id = None


def _parse(key: str, raw: bytes) -> SessionInfo | None:
    try:
        return SessionInfo.from_json(raw)
    except (ValueError, KeyError, TypeError):
        _log.warning("ignoring malformed session value at %s", key)
        return None


def list_sessions(kv: MetaKV, role: str | None = None) -> list[SessionInfo]:
    """Return the live sessions (of ``role``, or all), sorted by (role, server_id)."""
    prefix = SESSION_PREFIX if role is None else f"{SESSION_PREFIX}{role}/"
    infos = [info for key, raw in kv.get_prefix(prefix) if (info := _parse(key, raw))]
    return sorted(infos, key=lambda i: (i.role, i.server_id))


def watch_sessions(kv: MetaKV, role: str | None,
                   callback: Callable[[SessionEvent], None]) -> Callable[[], None]:
    """Call ``callback`` with an ``add`` for every live session, then for every change.

    ``remove`` events carry the info last seen for that server. Events come from the KV's
    watch thread (the initial ``add`` events from the caller's thread, before this returns).
    Returns a cancel function.
    """
    prefix = SESSION_PREFIX if role is None else f"{SESSION_PREFIX}{role}/"
    lock = threading.Lock()
    known: dict[str, SessionInfo] = {}
    removed: set[str] = set()  # keys deleted while the initial listing was in flight
    listing = [True]

    def on_event(event: WatchEvent) -> None:
        with lock:
            if event.kind == "put":
                info = _parse(event.key, event.value)
                removed.discard(event.key)
                if info is None or known.get(event.key) == info:
                    return
                known[event.key] = info
                out = SessionEvent("add", info)
            else:
                if listing[0]:
                    removed.add(event.key)
                gone = known.pop(event.key, None)
                if gone is None:
                    return
                out = SessionEvent("remove", gone)
            callback(out)

    cancel = kv.watch_prefix(prefix, on_event)
    for key, raw in kv.get_prefix(prefix):
        with lock:
            info = _parse(key, raw)
            if info is None or key in known or key in removed:
                continue
            known[key] = info
            callback(SessionEvent("add", info))
    with lock:
        listing[0] = False
        removed.clear()
    return cancel
