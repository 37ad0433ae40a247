"""Hybrid timestamps and ID allocation, both persisted in the ``MetaKV``.

A timestamp is ``(physical_ms << 18) | logical``, as in Milvus: physical is Unix time in ms,
logical counts up to 2**18 - 1 within one millisecond.

``TimestampOracle`` (one writer per key: the rootcoord) persists an upper bound on the physical
time it may hand out, ``save_window_ms`` ahead of the clock. It never hands out a physical time
above the persisted bound, and after a restart it starts strictly above the persisted bound, so
timestamps stay increasing across restarts even if the wall clock went backwards.

``IDAllocator`` reserves blocks of IDs with ``compare_and_put`` on a counter key, so several
allocators (in several processes) sharing one KV never hand out the same ID. A CAS whose outcome
is unknown (an etcd failover) is retried from a fresh read: at worst a block of IDs is skipped.
"""
from __future__ import annotations

import threading
import time

from common.errors import IoFailed
from common.kv.base import MetaKV, MetaKVError

LOGICAL_BITS = 18
MAX_LOGICAL = 1 << LOGICAL_BITS
_LOGICAL_MASK = MAX_LOGICAL - 1


def compose_ts(physical_ms: int, logical: int) -> int:
    """Return the hybrid timestamp for ``physical_ms`` and ``logical`` (< 2**18)."""
    if not 0 <= logical < MAX_LOGICAL:
        raise ValueError(f"logical part out of range: {logical}")
    return (physical_ms << LOGICAL_BITS) | logical


def parse_ts(ts: int) -> tuple[int, int]:
    """Return ``(physical_ms, logical)`` of a hybrid timestamp."""
    return ts >> LOGICAL_BITS, ts & _LOGICAL_MASK


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class TimestampOracle:
    """Thread-safe allocator of strictly increasing hybrid timestamps (see module docstring).

    The constructor reads and persists the window (``IoFailed`` when the KV is unreachable).
    """

    def __init__(self, kv: MetaKV, key: str = "tso", save_window_ms: int = 3000) -> None:
        if save_window_ms <= 0:
            raise ValueError("save_window_ms must be positive")
        self.kv = kv
        self.key = key
        self.save_window_ms = save_window_ms
        self._lock = threading.Lock()
        raw = kv.get(key)
        last_saved = int(raw) if raw else 0
        # Start strictly above anything a previous incarnation may have handed out.
        self._physical = max(_now_ms(), last_saved + 1)
        self._logical = 0
        self._saved_upper = last_saved
        self._save(self._physical + save_window_ms)

    def _save(self, upper: int) -> None:
        self.kv.put(self.key, str(upper).encode())
        self._saved_upper = upper

    def alloc(self, count: int = 1) -> int:
        """Reserve ``count`` consecutive timestamps and return the first.

        Every returned range is strictly above every earlier one, in this process and across
        restarts. Raises ``ValueError`` when ``count`` is not in [1, 2**18), ``IoFailed`` when
        the window cannot be persisted (nothing is handed out then).
        """
        if not 0 < count < MAX_LOGICAL:
            raise ValueError(f"timestamp count must be in [1, {MAX_LOGICAL}), got {count}")
        with self._lock:
            physical, logical = self._physical, self._logical
            now = _now_ms()
            if now > physical:
                physical, logical = now, 0
            if logical + count > MAX_LOGICAL:  # logical overflow: borrow the next millisecond
                physical, logical = physical + 1, 0
            if physical > self._saved_upper - self.save_window_ms // 3:
                self._save(physical + self.save_window_ms)  # raises before handing anything out
            self._physical, self._logical = physical, logical + count
            return compose_ts(physical, logical)


class IDAllocator:
    """Thread-safe allocator of unique int64 IDs, starting at 1 (see module docstring)."""

    def __init__(self, kv: MetaKV, key: str = "idalloc", block: int = 100_000,
                 max_retries: int = 100) -> None:
        if block <= 0:
            raise ValueError("block must be positive")
        self.kv = kv
        self.key = key
        self.block = block
        self.max_retries = max_retries
        self._lock = threading.Lock()
        self._next = 0
        self._limit = 0

    def _reserve(self, size: int) -> None:
        """Move the shared counter forward by ``size``; the old value starts our new block."""
        for _ in range(self.max_retries):
            raw = self.kv.get(self.key)
            start = int(raw) if raw else 1
            try:
                if self.kv.compare_and_put(self.key, raw, str(start + size).encode()):
                    self._next, self._limit = start, start + size
                    return
            except MetaKVError:
                # The outcome is unknown (etcd failed over while the CAS was in flight). Reading
                # the counter again is safe: if the CAS did apply, that block is only skipped.
                time.sleep(0.05)
        raise IoFailed(f"id allocation kept conflicting[key={self.key}, "
                       f"retries={self.max_retries}]")

    def alloc(self, count: int = 1) -> tuple[int, int]:
        """Return ``(start, end)``: the half-open range of ``count`` fresh, unique IDs."""
        if count <= 0:
            raise ValueError(f"id count must be positive, got {count}")
        with self._lock:
            if self._limit - self._next < count:
                self._reserve(max(self.block, count))
            start = self._next
            self._next += count
            return start, start + count

    def alloc_one(self) -> int:
        """Return one fresh ID."""
        return self.alloc(1)[0]
