"""Which etcd member a client talks to: ``EndpointPool`` keeps one gRPC channel per member of
``etcd.endpoints`` and one member "in use" (sticky, chosen at random at first so that many
processes spread over the members). A caller that saw a member fail (refused connection, a
deadline passed while it hung, no leader) reports it with ``failed(member)``: that member is
skipped for ``quarantine_s`` and the next one that answers a quick status request becomes the
member in use (a deadline can also come from a healthy follower waiting on a dead leader, so the
next member in line may be the one that hangs). When no member answers, the one that failed
longest ago is tried again, so a lone etcd that restarts is found as soon as it answers.
Thread-safe.

Replaces pyetcd's ``MultiEndpointEtcd3Client`` failover, whose state is shared between threads
without a lock and which only fails over on the *next* call after an error.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import grpc
from pyetcd import etcdrpc

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 10_000),  # only with active calls: etcd rejects idle pings
    ("grpc.keepalive_timeout_ms", 5_000),
]


def parse_endpoints(endpoints: list[str] | str) -> list[tuple[str, int]]:
    """Parse ``"h:p"``, ``"http://h:p"``, a comma-separated string, or a list of either, into
    (host, port) pairs. Raises ValueError naming a malformed entry, or when none is given."""
    items = [endpoints] if isinstance(endpoints, str) else list(endpoints)
    out = []
    for item in (part.strip() for entry in items for part in str(entry).split(",")):
        if not item:
            continue
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


@dataclass(eq=False)
class Member:
    """One etcd member: its channel and the stubs on it."""

    address: str
    channel: grpc.Channel
    kv: etcdrpc.KVStub = field(init=False)
    lease: etcdrpc.LeaseStub = field(init=False)
    watch: etcdrpc.WatchStub = field(init=False)
    maintenance: etcdrpc.MaintenanceStub = field(init=False)
    failed_at: float = 0.0

    def __post_init__(self) -> None:
        self.kv = etcdrpc.KVStub(self.channel)
        self.lease = etcdrpc.LeaseStub(self.channel)
        self.watch = etcdrpc.WatchStub(self.channel)
        self.maintenance = etcdrpc.MaintenanceStub(self.channel)


class EndpointPool:
    """The members of one etcd cluster and the one in use; see the module docstring."""

    def __init__(self, endpoints: list[str] | str, quarantine_s: float = 2.0,
                 probe_timeout_s: float = 0.5) -> None:
        self.addresses = [f"{h}:{p}" for h, p in parse_endpoints(endpoints)]
        self.quarantine_s = quarantine_s
        self.probe_timeout_s = probe_timeout_s
        self._members = [Member(a, grpc.insecure_channel(a, options=_CHANNEL_OPTIONS))
                         for a in dict.fromkeys(self.addresses)]
        self._current = random.randrange(len(self._members))
        self._lock = threading.Lock()

    def current(self) -> Member:
        """The member in use."""
        with self._lock:
            return self._members[self._current]

    def failed(self, member: Member) -> None:
        """Report that ``member`` failed. When it is the member in use, switch to the next one
        that answers a status request within ``probe_timeout_s`` (skipping those that failed
        less than ``quarantine_s`` ago); when none does, to the one that failed longest ago."""
        with self._lock:
            member.failed_at = time.monotonic()
            if self._members[self._current] is not member:
                return  # another thread already moved on
            n = len(self._members)
            order = [(self._current + k) % n for k in range(1, n)]
        if not order:
            return
        chosen = None
        for i in order:
            candidate = self._members[i]
            if time.monotonic() - candidate.failed_at < self.quarantine_s:
                continue
            if self._answers(candidate):
                chosen = i
                break
            candidate.failed_at = time.monotonic()
        if chosen is None:
            chosen = min(order, key=lambda i: self._members[i].failed_at)
        with self._lock:
            if self._members[self._current] is member:
                self._current = chosen

    def _answers(self, member: Member) -> bool:
        try:
            member.maintenance.Status(etcdrpc.StatusRequest(), timeout=self.probe_timeout_s)
            return True
        except grpc.RpcError:
            return False

    def close(self) -> None:
        for member in self._members:
            member.channel.close()
