"""``MemoryKV``: the ``MetaKV`` contract in-process, for unit tests and single-process runs.

Several ``MemoryKV`` views (each with its own root path) can share one ``MemoryStore``, like
several clusters sharing one etcd: ``MemoryKV("a")`` then ``kv.sibling("b")``.

Threads: watch callbacks run on one daemon dispatcher thread per store, one at a time and in
revision order (as with ``EtcdKV``, never on the caller's thread). ``drain_watches()`` waits
until every event queued so far has been delivered, which makes tests deterministic. Leases
expire by the monotonic clock: expired keys are removed before every operation and by a reaper
thread that runs while leases exist, so their ``delete`` events fire without other traffic.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
_REAP_INTERVAL_S = 0.05


@dataclass
class _Lease:
    ttl_s: int
    deadline: float
    keys: set[str] = field(default_factory=set)


@dataclass
class _Watch:
    full_prefix: str
    callback: WatchCallback
    view: MemoryKV
    cancelled: bool = False


class MemoryStore:
    """The shared state behind one or more ``MemoryKV`` views (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.data: dict[str, tuple[bytes, int]] = {}  # full key -> (value, lease id or 0)
        self.leases: dict[int, _Lease] = {}
        self.revision = 0
        self.watches: list[_Watch] = []
        self._lease_ids = itertools.count(0x1000)
        self._events: deque[tuple[_Watch, WatchEvent]] = deque()
        self._cond = threading.Condition(self.lock)
        self._pending = 0
        self._dispatcher: threading.Thread | None = None
        self._reaper: threading.Thread | None = None

    # -- mutations (caller holds the lock) ---------------------------------------------------
    def expire_locked(self) -> None:
        now = time.monotonic()
        for lease_id in [i for i, lease in self.leases.items() if lease.deadline <= now]:
            self.revoke_locked(lease_id)

    def revoke_locked(self, lease_id: int) -> None:
        lease = self.leases.pop(lease_id, None)
        if lease is None or not lease.keys:
            return
        self.revision += 1
        for key in sorted(lease.keys):
            self.delete_locked(key, new_revision=False)

    def put_locked(self, key: str, value: bytes, lease_id: int, *, new_revision: bool = True) -> None:
        if lease_id and lease_id not in self.leases:
            raise LeaseNotFound(f"lease not found[lease={lease_id:#x}]")
        old = self.data.get(key)
        if old is not None and old[1] and old[1] in self.leases:
            self.leases[old[1]].keys.discard(key)
        if new_revision:
            self.revision += 1
        self.data[key] = (bytes(value), lease_id)
        if lease_id:
            self.leases[lease_id].keys.add(key)
        self._emit_locked("put", key, bytes(value))

    def delete_locked(self, key: str, *, new_revision: bool = True) -> None:
        old = self.data.pop(key, None)
        if old is None:
            return
        if old[1] and old[1] in self.leases:
            self.leases[old[1]].keys.discard(key)
        if new_revision:
            self.revision += 1
        self._emit_locked("delete", key, b"")

    # -- watches -----------------------------------------------------------------------------
    def _emit_locked(self, kind: WatchKind, full_key: str, value: bytes) -> None:
        for watch in self.watches:
            if full_key.startswith(watch.full_prefix):
                event = WatchEvent(kind, watch.view.relative_key(full_key), value, self.revision)
                self._events.append((watch, event))
                self._pending += 1
        if self._events:
            self._ensure_dispatcher_locked()
            self._cond.notify_all()

    def _ensure_dispatcher_locked(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._dispatch, name="memorykv-watch",
                                                daemon=True)
            self._dispatcher.start()

    def _dispatch(self) -> None:
        while True:
            with self.lock:
                while not self._events:
                    if not self.watches:  # idle with nothing to watch: let the thread end
                        self._dispatcher = None
                        return
                    self._cond.wait(timeout=1.0)
                watch, event = self._events.popleft()
            try:
                if not watch.cancelled:
                    watch.callback(event)
            except Exception:  # a bad callback must not stop delivery to the others
                _log.exception("watch callback failed for %s", event.key)
            finally:
                with self.lock:
                    self._pending -= 1
                    self._cond.notify_all()

    def drain(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._pending} watch events still undelivered")
                self._cond.wait(timeout=left)

    # -- lease reaper ------------------------------------------------------------------------
    def ensure_reaper_locked(self) -> None:
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap, name="memorykv-leases", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        while True:
            time.sleep(_REAP_INTERVAL_S)
            with self.lock:
                self.expire_locked()
                if not self.leases:
                    self._reaper = None
                    return

    def new_lease_id(self) -> int:
        return next(self._lease_ids)


class MemoryKV(MetaKV):
    """In-process ``MetaKV``; see the module docstring for threading and expiry."""

    def __init__(self, root_path: str = "", *, store: MemoryStore | None = None,
                 guard: Guard | None = None) -> None:
        super().__init__(root_path)
        self.store = store if store is not None else MemoryStore()
        self.guard = guard
        self._closed = False

    def fenced(self, guard: Guard) -> MemoryKV:
        return MemoryKV(self.root_path, store=self.store, guard=guard)

    def sibling(self, root_path: str) -> MemoryKV:
        """Return another view on the same store under a different root path."""
        return MemoryKV(root_path, store=self.store)

    def _check(self) -> None:
        if self._closed:
            raise MetaKVError("MemoryKV is closed")
        self.store.expire_locked()

    def _check_write(self) -> None:
        """``_check``, and the guard of a fenced view (caller holds the store lock)."""
        self._check()
        if self.guard is not None:
            self.guard.check_alive()
            item = self.store.data.get(self.full_key(self.guard.key))
            if item is None or item[0] != self.guard.value:
                raise self.guard.fenced_error()

    def get(self, key: str) -> bytes | None:
        with self.store.lock:
            self._check()
            item = self.store.data.get(self.full_key(key))
            return None if item is None else item[0]

    def put(self, key: str, value: bytes, lease: int | None = None) -> None:
        with self.store.lock:
            self._check_write()
            self.store.put_locked(self.full_key(key), value, lease or 0)

    def delete(self, key: str) -> None:
        with self.store.lock:
            self._check_write()
            self.store.delete_locked(self.full_key(key))

    def get_prefix(self, prefix: str) -> list[tuple[str, bytes]]:
        full = self.full_key(prefix)
        with self.store.lock:
            self._check()
            items = [(k, v[0]) for k, v in self.store.data.items() if k.startswith(full)]
        return [(self.relative_key(k), v) for k, v in sorted(items)]

    def delete_prefix(self, prefix: str) -> None:
        full = self.full_key(prefix)
        with self.store.lock:
            self._check_write()
            keys = sorted(k for k in self.store.data if k.startswith(full))
            if keys:
                self.store.revision += 1
            for key in keys:
                self.store.delete_locked(key, new_revision=False)

    def multi_save(self, puts: dict[str, bytes], deletes: Sequence[str] = ()) -> None:
        check_multi_save(puts, deletes)
        with self.store.lock:
            self._check_write()
            self.store.revision += 1
            for key, value in puts.items():
                self.store.put_locked(self.full_key(key), value, 0, new_revision=False)
            for key in deletes:
                self.store.delete_locked(self.full_key(key), new_revision=False)

    def compare_and_put(self, key: str, expected: bytes | None, value: bytes,
                        lease: int | None = None) -> bool:
        full = self.full_key(key)
        with self.store.lock:
            self._check_write()
            item = self.store.data.get(full)
            current = None if item is None else item[0]
            if current != expected:
                return False
            self.store.put_locked(full, value, lease or 0)
            return True

    def grant_lease(self, ttl_s: int) -> int:
        if ttl_s <= 0:
            raise ValueError(f"lease ttl must be positive, got {ttl_s}")
        with self.store.lock:
            self._check()
            lease_id = self.store.new_lease_id()
            self.store.leases[lease_id] = _Lease(ttl_s, time.monotonic() + ttl_s)
            self.store.ensure_reaper_locked()
            return lease_id

    def keepalive_once(self, lease_id: int) -> None:
        with self.store.lock:
            self._check()
            lease = self.store.leases.get(lease_id)
            if lease is None:
                raise LeaseNotFound(f"lease not found[lease={lease_id:#x}]")
            lease.deadline = time.monotonic() + lease.ttl_s

    def revoke_lease(self, lease_id: int) -> None:
        with self.store.lock:
            self._check()
            self.store.revoke_locked(lease_id)

    def watch_prefix(self, prefix: str, callback: WatchCallback) -> Callable[[], None]:
        watch = _Watch(self.full_key(prefix), callback, self)
        with self.store.lock:
            self._check()
            self.store.watches.append(watch)

        def cancel() -> None:
            with self.store.lock:
                watch.cancelled = True
                if watch in self.store.watches:
                    self.store.watches.remove(watch)
                self.store._cond.notify_all()

        return cancel

    def drain_watches(self, timeout_s: float = 5.0) -> None:
        """Block until every watch event queued so far has been delivered (tests)."""
        self.store.drain(timeout_s)

    def close(self) -> None:
        with self.store.lock:
            if self._closed:
                return
            self._closed = True
            for watch in [w for w in self.store.watches if w.view is self]:
                watch.cancelled = True
                self.store.watches.remove(watch)
            self.store._cond.notify_all()
