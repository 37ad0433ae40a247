"""The ``MetaKV`` interface: a small etcd-like key-value store for cluster metadata.

Every key is relative to a root path given at construction (for example ``by-dev/meta``), so
several clusters can share one etcd. The implementations are ``MemoryKV`` (in-process, for
unit tests) and ``EtcdKV`` (etcd through pyetcd).

Guarantees every implementation keeps:
- values are ``bytes``; ``get_prefix`` returns ``(key, value)`` pairs sorted by key;
- ``multi_save`` and ``compare_and_put`` are atomic;
- a key put with a lease disappears (with a ``delete`` watch event) when the lease expires or
  is revoked;
- watch callbacks are called on a background thread, one event at a time and in revision
  order for a given watch; a callback must not block for long;
- failures raise ``MetaKVError`` (an ``IoFailed``), never a raw client error;
- ``fenced(guard)`` returns a view whose writes happen only while the guard holds (the
  fencing of an active coordinator, common/election.py): each write is one transaction that
  also compares ``guard.key`` to ``guard.value``, so a writer that lost its election cannot
  change anything, however late its write arrives.
"""
from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from common.errors import IoFailed

#: Largest number of puts + deletes one ``multi_save`` may carry on a stock etcd
#: (``--max-txn-ops`` defaults to 128). ``EmbeddedEtcd`` raises the server limit.
DEFAULT_MAX_TXN_OPS = 128


class MetaKVError(IoFailed):
    """A metadata store operation failed (code 1001, retriable)."""


class LeaseNotFound(MetaKVError):
    """The lease does not exist: it expired, was revoked, or never existed."""


class Fenced(MetaKVError):
    """A write through a fenced view after its guard stopped holding: nothing was written."""


@dataclass(frozen=True)
class Guard:
    """The condition of a fenced view's writes: ``key`` (relative) holds ``value`` in the store
    and ``alive()`` (the writer's own view of its lease) is true."""

    key: str
    value: bytes
    alive: Callable[[], bool]

    def check_alive(self) -> None:
        """Raise Fenced when the writer knows it is no longer the guard's owner."""
        if not self.alive():
            raise Fenced(f"fenced: this instance no longer holds {self.key}")

    def fenced_error(self) -> Fenced:
        return Fenced(f"fenced: {self.key} is held by another instance; nothing was written")


WatchKind = Literal["put", "delete"]


@dataclass(frozen=True)
class WatchEvent:
    """One change seen by a watch. ``value`` is ``b""`` for deletes; ``key`` is relative."""

    kind: WatchKind
    key: str
    value: bytes
    revision: int = 0


WatchCallback = Callable[[WatchEvent], None]


def normalize_root(root_path: str) -> str:
    """Return ``root_path`` without leading/trailing slashes (``""`` means no root)."""
    return root_path.strip("/")


class MetaKV(abc.ABC):
    """Abstract metadata store; see the module docstring for the shared guarantees."""

    #: The condition of every write of a fenced view; None for a plain KV.
    guard: Guard | None = None

    def __init__(self, root_path: str) -> None:
        self.root_path = normalize_root(root_path)
        self._root_prefix = f"{self.root_path}/" if self.root_path else ""

    # -- key mapping -------------------------------------------------------------------------
    def full_key(self, key: str) -> str:
        """Map a relative key (or prefix) to the key stored in the backend."""
        return self._root_prefix + key

    def relative_key(self, full_key: str) -> str:
        """Map a backend key back to the key relative to the root path."""
        return full_key[len(self._root_prefix):]

    # -- plain keys --------------------------------------------------------------------------
    @abc.abstractmethod
    def get(self, key: str) -> bytes | None:
        """Return the value of ``key``, or None when it does not exist."""

    @abc.abstractmethod
    def put(self, key: str, value: bytes, lease: int | None = None) -> None:
        """Store ``value`` at ``key``, attached to ``lease`` when given.

        Raises ``LeaseNotFound`` when the lease has expired or does not exist.
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; no error when it does not exist."""

    @abc.abstractmethod
    def get_prefix(self, prefix: str) -> list[tuple[str, bytes]]:
        """Return every ``(key, value)`` whose key starts with ``prefix``, sorted by key."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> None:
        """Delete every key that starts with ``prefix``."""

    # -- transactions ------------------------------------------------------------------------
    @abc.abstractmethod
    def multi_save(self, puts: dict[str, bytes], deletes: Sequence[str] = ()) -> None:
        """Apply all ``puts`` and ``deletes`` atomically (all or nothing).

        A key may not appear in both (``ValueError``). A stock etcd accepts at most
        ``DEFAULT_MAX_TXN_OPS`` operations in one call; beyond that etcd refuses the whole call
        (``MetaKVError``) and nothing is applied.
        """

    @abc.abstractmethod
    def compare_and_put(self, key: str, expected: bytes | None, value: bytes,
                        lease: int | None = None) -> bool:
        """Atomically put ``value`` (under ``lease`` when given) if the current value equals
        ``expected``.

        ``expected=None`` means the key must not exist. Returns True when the put happened.
        A ``MetaKVError`` may leave the outcome unknown (etcd failed over while the call was in
        flight: the put may have happened); read the key again to find out.
        Through a fenced view, raises Fenced when the guard does not hold.
        """

    @abc.abstractmethod
    def fenced(self, guard: Guard) -> MetaKV:
        """A view of the same store whose writes (put, delete, delete_prefix, multi_save,
        compare_and_put) happen only while ``guard`` holds, else raise Fenced; reads, leases
        and watches are this KV's. Closing the view releases nothing: the KV it came from owns
        the connections."""

    # -- leases ------------------------------------------------------------------------------
    @abc.abstractmethod
    def grant_lease(self, ttl_s: int) -> int:
        """Create a lease that expires ``ttl_s`` seconds from now unless kept alive; return its id."""

    @abc.abstractmethod
    def keepalive_once(self, lease_id: int) -> None:
        """Reset the lease's time to live to its full TTL. Raises ``LeaseNotFound`` if gone."""

    @abc.abstractmethod
    def revoke_lease(self, lease_id: int) -> None:
        """Revoke the lease now, deleting its keys; no error if it is already gone."""

    # -- watches -----------------------------------------------------------------------------
    @abc.abstractmethod
    def watch_prefix(self, prefix: str, callback: WatchCallback) -> Callable[[], None]:
        """Call ``callback`` for every change, after this call returns, of a key under ``prefix``.

        Returns a function that cancels the watch (idempotent). Events are delivered in
        revision order, from a background thread.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Cancel all watches and release connections. Idempotent."""

    def __enter__(self) -> MetaKV:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_multi_save(puts: dict[str, bytes], deletes: Sequence[str]) -> None:
    """Raise ``ValueError`` when a key is both put and deleted in one ``multi_save``."""
    both = set(puts).intersection(deletes)
    if both:
        raise ValueError(f"multi_save: keys both put and deleted: {sorted(both)}")
