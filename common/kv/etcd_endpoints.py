"""Which etcd member a client talks to: ``EndpointPool`` keeps one gRPC channel per member of
``etcd.endpoints`` and one member "in use" (sticky, chosen at random at first so that many
processes spread over the members). A caller that saw a member fail (refused connection, a
deadline passed while it hung, no leader) reports it with ``failed(member)``: that member is
skipped for ``quarantine_s`` and the next one becomes the member in use. When every member is
in quarantine, the one that failed longest ago is tried again, so a lone etcd that restarts is
found as soon as it answers. Thread-safe.

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
    failed_at: float = 0.0

    def __post_init__(self) -> None:
        self.kv = etcdrpc.KVStub(self.channel)
        self.lease = etcdrpc.LeaseStub(self.channel)
        self.watch = etcdrpc.WatchStub(self.channel)


class EndpointPool:
    """The members of one etcd cluster and the one in use; see the module docstring."""

    def __init__(self, endpoints: list[str] | str, quarantine_s: float = 2.0) -> None:
        self.addresses = [f"{h}:{p}" for h, p in parse_endpoints(endpoints)]
        self.quarantine_s = quarantine_s
        self._members = [Member(a, grpc.insecure_channel(a, options=_CHANNEL_OPTIONS))
                         for a in dict.fromkeys(self.addresses)]
        self._current = random.randrange(len(self._members))
        self._lock = threading.Lock()

    def current(self) -> Member:
        """The member in use."""
        with self._lock:
            return self._members[self._current]

    def failed(self, member: Member) -> None:
        """Report that ``member`` failed; when it is the member in use, switch to the next one."""
        now = time.monotonic()
        with self._lock:
            member.failed_at = now
            if self._members[self._current] is not member:
                return  # another thread already moved on
            n = len(self._members)
            candidates = [(self._current + k) % n for k in range(1, n)]
            healthy = [i for i in candidates if now - self._members[i].failed_at >= self.quarantine_s]
            if healthy:
                self._current = healthy[0]
            elif candidates:  # all failed recently: retry the one that failed longest ago
                self._current = min(candidates, key=lambda i: self._members[i].failed_at)

    def close(self) -> None:
        for member in self._members:
            member.channel.close()
