"""A whole cluster in one process for fast tests: every role on free ports, one shared
in-memory KV, local-disk storage and an in-process broker. Query nodes can be added while it
runs. Uses the same RoleServers as the real processes.

``wiring`` says how the roles call each other: ``"grpc"`` (as separate processes do) or
``"direct"`` (each role's context resolves its peers to their in-process cores; every role
still serves gRPC, and the tests talk to the proxy's MilvusService over it).

``stop()`` fails the test when the cluster left threads, sockets or child processes behind
(``tests/support/leaks.py``): what a cluster starts, its stop must end."""
from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import grpc

from common.config import Config, load_config
from common.errors import NodeNotAvailable
from common.interfaces import DataCoord, QueryCoord, QueryNode, RootCoord
from common.kv.base import MetaKV
from common.kv.memory import MemoryKV
from common.rpc import make_channel
from common.runtime import Peers, RoleContext, RoleServer
from launcher.peers import GrpcPeers
from launcher.roles import START_ORDER, build_role
from tests.support.leaks import Resources, assert_no_leaks
from proto.milvus import milvus_pb2_grpc


WIRINGS = ("grpc", "direct")


class InProcessRoles:
    """The role servers of an in-process cluster, for ``InProcessPeers`` to find. Coordinators
    are found by role (the newest active instance added), querynodes by their gRPC address, as
    querycoord hands it out. A peer whose core is not running raises NodeNotAvailable, like an unreachable
    one over gRPC. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: list[RoleServer] = []

    def add(self, server: RoleServer) -> None:
        """Make ``server``'s core reachable (its address may be assigned later, on start)."""
        with self._lock:
            self._servers.append(server)

    def core(self, role: str, address: str = "") -> Any:
        """The running core of ``role`` (at gRPC ``address`` when given). Raises NodeNotAvailable."""
        with self._lock:
            found = [s.logic for s in self._servers if s.role == role and (not address or s.address == address)]
        found = [core for core in found if getattr(core, "active", True)] or found
        if not found or not found[-1].healthy:
            raise NodeNotAvailable(f"no running {role}{' at ' + address if address else ''} in this process")
        return found[-1]


class InProcessPeers:
    """``common.runtime.Peers`` of one role's context: the other roles' cores themselves,
    called directly instead of over gRPC. Closing it closes only this view."""

    def __init__(self, roles: InProcessRoles) -> None:
        self._roles = roles
        self._closed = False

    def _core(self, role: str, address: str = "") -> Any:
        if self._closed:
            raise NodeNotAvailable("the peers of this role are closed")
        return self._roles.core(role, address)

    def rootcoord(self) -> RootCoord:
        return cast(RootCoord, self._core("rootcoord"))

    def datacoord(self) -> DataCoord:
        return cast(DataCoord, self._core("datacoord"))

    def querycoord(self, timeout_s: float | None = None) -> QueryCoord:
        return cast(QueryCoord, self._core("querycoord"))

    def querynode(self, address: str) -> QueryNode:
        return cast(QueryNode, self._core("querynode", address))

    def close(self) -> None:
        self._closed = True


class MiniCluster:
    def __init__(self, data_dir: Path, wiring: str = "grpc", kv: MetaKV | None = None,
                 **overrides: dict) -> None:  # type: ignore[type-arg]
        """``kv``: the metadata store every role shares (default: a new in-memory one); the
        cluster closes it on ``stop()``."""
        if wiring not in WIRINGS:
            raise ValueError(f"wiring must be one of {WIRINGS}, not {wiring!r}")
        self.wiring = wiring
        self._resources_before = Resources.now()
        self._roles = InProcessRoles() if wiring == "direct" else None
        settings = {"common": {"data_dir": str(data_dir), "heartbeat_interval_s": 0.05},
                    "proxy": {"port": 0, "http_port": 0}, "etcd": {"endpoints": "memory"}}
        for section, values in overrides.items():
            settings.setdefault(section, {}).update(values)
        self.config: Config = load_config(environ={}).with_overrides(settings)
        self.kv: MetaKV = kv if kv is not None else MemoryKV("by-dev")
        self.servers: list[RoleServer] = []
        self._next_node_id = 1
        self._channel: grpc.Channel | None = None

    def add(self, role: str) -> RoleServer:
        """Start one more ``role`` (e.g. a second querynode) and return its server."""
        peers: Peers = GrpcPeers(self.kv) if self._roles is None else InProcessPeers(self._roles)
        context = RoleContext(self.config, self.kv, self._next_node_id, peers)
        self._next_node_id += 1
        server = build_role(role, context)
        if self._roles is not None:
            self._roles.add(server)
        server.start()
        self.servers.append(server)
        return server

    def start(self) -> "MiniCluster":
        for role in START_ORDER:
            self.add(role)
        return self

    @property
    def proxy_address(self) -> str:
        proxy = next(s for s in self.servers if s.role == "proxy")
        return f"127.0.0.1:{proxy.address.rsplit(':', 1)[1]}"

    def milvus(self) -> milvus_pb2_grpc.MilvusServiceStub:
        """A stub of the public MilvusService on the proxy."""
        if self._channel is None:
            self._channel = make_channel(self.proxy_address)
        return milvus_pb2_grpc.MilvusServiceStub(self._channel)

    def stop(self, keep_children: Iterable[int] = ()) -> None:
        """Stop every role and check for leaks; ``keep_children``: child processes the test
        started meanwhile and still owns (an etcd member it restarted)."""
        if self._channel is not None:
            self._channel.close()
        for server in reversed(self.servers):
            server.stop()
        self.kv.close()
        assert_no_leaks(self._resources_before, keep_children=keep_children)
