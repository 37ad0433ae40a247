"""The peers of a role process: a typed gRPC client per role, coordinators found through their
etcd sessions (and looked up again when unreachable, or at once when the session of the
instance they talk to goes away), querynodes by address. The launcher is
the one place that knows every role's client; roles see only the ``common.runtime.Peers``
Protocol."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar, cast

from common.errors import NodeNotAvailable
from common.interfaces import DataCoord, QueryCoord, QueryNode, RootCoord
from common.kv.base import MetaKV
from common.rpc import DEFAULT_TIMEOUT_S, RpcClient
from common.runtime import wait_for_address
from common.session import SessionEvent, watch_sessions
from coordinators.datacoord.client import DataCoordClient
from coordinators.querycoord.client import QueryCoordClient
from coordinators.rootcoord.client import RootCoordClient
from nodes.querynode.client import QueryNodeClient

_Client = TypeVar("_Client", bound=RpcClient)


class GrpcPeers:
    """``common.runtime.Peers`` over gRPC: one shared client per coordinator (and timeout) and
    per querynode address, created on first use. Thread-safe."""

    def __init__(self, kv: MetaKV) -> None:
        self._kv = kv
        self._lock = threading.Lock()
        self._coordinators: dict[tuple[str, float], RpcClient] = {}
        self._querynodes: dict[str, QueryNodeClient] = {}
        self._watches: dict[str, Callable[[], None]] = {}  # coordinator role -> cancel its session watch
        self._closed = False

    def rootcoord(self) -> RootCoord:
        return self._coordinator("rootcoord", RootCoordClient, DEFAULT_TIMEOUT_S)

    def datacoord(self) -> DataCoord:
        return self._coordinator("datacoord", DataCoordClient, DEFAULT_TIMEOUT_S)

    def querycoord(self, timeout_s: float | None = None) -> QueryCoord:
        return self._coordinator("querycoord", QueryCoordClient, timeout_s or DEFAULT_TIMEOUT_S)

    def querynode(self, address: str) -> QueryNode:
        client = self._querynodes.get(address)
        if client is None:
            with self._lock:
                self._check_open()
                client = self._querynodes.get(address)
                if client is None:
                    client = self._querynodes[address] = QueryNodeClient(address)
        return client

    def _coordinator(self, role: str, client_cls: Callable[[Callable[[], str], float], _Client],
                     timeout_s: float) -> _Client:
        key = (role, timeout_s)
        client = self._coordinators.get(key)
        if client is None:
            with self._lock:
                self._check_open()
                client = self._coordinators.get(key)
                if client is None:
                    client = self._coordinators[key] = client_cls(lambda: wait_for_address(self._kv, role), timeout_s)
                    if role not in self._watches:
                        self._watches[role] = watch_sessions(self._kv, role,
                                                             lambda event: self._session_changed(role, event))
        return cast(_Client, client)

    def _session_changed(self, role: str, event: SessionEvent) -> None:
        """A coordinator instance's session went away: drop the connections to it."""
        if event.kind != "remove":
            return
        with self._lock:
            clients = [c for (r, _), c in self._coordinators.items() if r == role]
        for client in clients:
            client.drop(event.info.address)

    def _check_open(self) -> None:
        if self._closed:
            raise NodeNotAvailable("the peers of this role are closed")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients: list[RpcClient | QueryNodeClient] = [*self._coordinators.values(), *self._querynodes.values()]
            self._coordinators.clear()
            self._querynodes.clear()
            cancels, self._watches = list(self._watches.values()), {}
        for cancel in cancels:
            cancel()
        for client in clients:
            client.close()
