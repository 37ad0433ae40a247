"""Active-standby election of a coordinator's instances through etcd (Milvus's
``enableActiveStandby``; design in docs/architecture.md, "Coordinators HA").

Every instance holds one lease (``ttl_s``), kept alive every ``ttl_s / 3`` by its keepalive
thread. A standby announces itself at ``coordinator/standby/{role}/{server_id}`` and campaigns
every ``CAMPAIGN_INTERVAL_S``: it creates ``coordinator/active/{role}`` under its lease if the
key is absent (one etcd transaction, so one instance wins). The winner calls ``on_active(kv)``
with a view of the KV fenced by the active key (``MetaKV.fenced``: every write the active
instance makes is a transaction conditioned on still holding that key), then registers the
role's discoverable session ``session/{role}/{server_id}`` under the same lease, so clients
find it once its core serves.

The lease dies with the process (kill -9: after ``ttl_s``; a clean stop revokes it at once),
which deletes the active key and the session together; a standby then wins the next campaign.

Fencing: the active instance counts its lease valid until ``sent + ttl_s`` of its last
successful keepalive (etcd restarts the TTL no earlier than it was sent). A margin (``ttl_s /
10``, within 0.2-1 s) before that instant, or at once when etcd says the lease is gone, it calls ``on_standby()``
(the core stops acting), revokes what is left of its lease, and campaigns again as a standby
under a new lease. ``valid()`` is that same check, for callers to refuse work on the spot.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from common.kv.base import Guard, LeaseNotFound, MetaKV, MetaKVError
from common.session import SessionInfo, session_key

_log = logging.getLogger(__name__)
ACTIVE_PREFIX = "coordinator/active/"
STANDBY_PREFIX = "coordinator/standby/"
CAMPAIGN_INTERVAL_S = 0.2


def active_key(role: str) -> str:
    return f"{ACTIVE_PREFIX}{role}"


def active_instance(kv: MetaKV, role: str) -> SessionInfo | None:
    """The active instance of ``role``, None when there is none."""
    raw = kv.get(active_key(role))
    return None if raw is None else SessionInfo.from_json(raw)


def standby_instances(kv: MetaKV, role: str) -> list[SessionInfo]:
    """The standby instances of ``role``, by server id."""
    return sorted((SessionInfo.from_json(raw) for _, raw in kv.get_prefix(f"{STANDBY_PREFIX}{role}/")),
                  key=lambda s: s.server_id)


class ActiveStandby:
    """One instance's part in the election of ``info.role`` (see the module docstring).

    ``on_active(kv)`` runs on the election thread when this instance wins (it should load the
    state and start acting, through ``kv`` only); ``on_standby()`` when it must stop acting.
    Both are called alternately, starting with ``on_active``; ``stop()`` calls ``on_standby``
    when active.
    """

    def __init__(self, kv: MetaKV, info: SessionInfo, ttl_s: int, on_active: Callable[[MetaKV], None],
                 on_standby: Callable[[], None]) -> None:
        if ttl_s < 2:
            raise ValueError(f"the session ttl of an elected coordinator must be >= 2 s, got {ttl_s}")
        self.kv = kv
        self.info = info
        self.ttl_s = ttl_s
        self._on_active = on_active
        self._on_standby = on_standby
        self._lock = threading.Lock()
        self._lease_id: int | None = None
        self._lease_lost = False
        self._valid_until = 0.0  # monotonic
        self._term = 0
        self._active = False
        self._margin_s = min(1.0, max(0.2, ttl_s / 10))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def active(self) -> bool:
        return self._active

    @property
    def lease_id(self) -> int | None:
        return self._lease_id

    def lease_alive(self) -> bool:
        """Whether this instance (active or standby) holds a lease etcd renewed within its TTL."""
        with self._lock:
            return self._lease_id is not None and not self._lease_lost and time.monotonic() < self._valid_until

    def valid(self) -> bool:
        """Whether this instance is active and its lease surely still held."""
        return self._active and not self._lease_lost and time.monotonic() < self._valid_until - self._margin_s

    def start(self) -> None:
        """Take a lease and campaign once now (so a lone instance is active when this returns),
        then keep campaigning and keeping the lease alive from two daemon threads.
        Raises MetaKVError when etcd is unreachable."""
        self._new_lease()
        try:
            self._campaign()
        except MetaKVError as exc:  # the election thread tries again
            _log.warning("%s %d: first campaign failed: %s", self.info.role, self.info.server_id, exc)
        for target, name in ((self._keepalive_loop, "keepalive"), (self._control_loop, "election")):
            thread = threading.Thread(target=target, daemon=True, name=f"{name}-{self.info.role}-{self.info.server_id}")
            thread.start()
            self._threads.append(thread)

    def _new_lease(self) -> None:
        sent = time.monotonic()
        lease_id = self.kv.grant_lease(self.ttl_s)
        with self._lock:
            self._lease_id, self._lease_lost, self._valid_until = lease_id, False, sent + self.ttl_s
            self._term += 1
        self.kv.put(f"{STANDBY_PREFIX}{self.info.role}/{self.info.server_id}", self.info.to_json(), lease=lease_id)

    def _campaign(self) -> None:
        """Become active when the active key is free (standby, lease held)."""
        lease_id = self._lease_id
        if lease_id is None:
            return
        key, mine = active_key(self.info.role), self._value()
        holder = self.kv.get(key)  # a read first: a transaction, even one that fails, is a raft write in etcd
        if holder is None:
            try:
                won = self.kv.compare_and_put(key, None, mine, lease=lease_id)
            except MetaKVError:  # the outcome is unknown (etcd failed over mid-call): the key tells
                won = self.kv.get(key) == mine
            if not won:
                return
        elif holder != mine:  # another instance is active (the key holding ours: an ambiguous win)
            return
        self._active = True
        _log.info("%s %d is now the active instance", self.info.role, self.info.server_id)
        guard = Guard(active_key(self.info.role), self._value(), self.valid)
        try:
            self._on_active(self.kv.fenced(guard))
            # discoverable only once the core serves
            self.kv.put(session_key(self.info.role, self.info.server_id), self.info.to_json(), lease=lease_id)
            self.kv.delete(f"{STANDBY_PREFIX}{self.info.role}/{self.info.server_id}")
        except Exception:
            _log.exception("%s %d failed to take over; standing down", self.info.role, self.info.server_id)
            self._step_down()

    def _value(self) -> bytes:
        """The active key's value: the session info and the term (one per lease), so a view
        fenced in an earlier term of this same instance stays fenced."""
        data = json.loads(self.info.to_json())
        data["term"] = self._term
        return json.dumps(data, sort_keys=True).encode()

    def _step_down(self) -> None:
        """Stop acting, give up what is left of the lease, and stand by under a new one."""
        was_active, self._active = self._active, False
        if was_active:
            _log.warning("%s %d is no longer active (lease %s)", self.info.role, self.info.server_id,
                         "lost" if self._lease_lost else "not renewed in time")
            try:
                self._on_standby()
            except Exception:
                _log.exception("%s %d: stopping the active core failed", self.info.role, self.info.server_id)
        self._revoke()
        if not self._stop.is_set():
            self._new_lease()

    def _revoke(self) -> None:
        with self._lock:
            lease_id, self._lease_id = self._lease_id, None
        if lease_id is not None:
            try:
                self.kv.revoke_lease(lease_id)
            except MetaKVError as exc:
                _log.warning("%s %d: revoke failed (the lease expires by itself): %s", self.info.role,
                             self.info.server_id, exc)

    def _control_loop(self) -> None:
        while not self._stop.wait(CAMPAIGN_INTERVAL_S):
            try:
                if self._active:
                    if not self.valid():
                        self._step_down()
                elif self._lease_lost or self._lease_id is None:
                    self._revoke()
                    self._new_lease()
                else:
                    self._campaign()
            except MetaKVError as exc:
                _log.warning("%s %d: election step failed: %s", self.info.role, self.info.server_id, exc)

    def _keepalive_loop(self) -> None:
        interval = self.ttl_s / 3.0
        while not self._stop.wait(interval):
            with self._lock:
                lease_id, term = self._lease_id, self._term
            if lease_id is None:
                continue
            sent = time.monotonic()
            try:
                self.kv.keepalive_once(lease_id)
            except LeaseNotFound:
                with self._lock:
                    self._lease_lost = self._lease_lost or term == self._term
                continue
            except MetaKVError as exc:
                _log.warning("%s %d: keepalive failed: %s", self.info.role, self.info.server_id, exc)
                continue
            with self._lock:
                if term == self._term:
                    self._valid_until = sent + self.ttl_s

    def stop(self, revoke: bool = True) -> None:
        """Stop campaigning and keeping the lease alive; stop acting (``on_standby``) when
        active. With ``revoke`` the lease goes now (a standby takes over at once), else its
        keys expire after ``ttl_s`` (as when the process dies)."""
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=self.ttl_s)
        self._threads.clear()
        if self._active:
            self._active = False
            self._on_standby()
        if revoke:
            self._revoke()
        else:
            self._lease_id = None  # left to expire
