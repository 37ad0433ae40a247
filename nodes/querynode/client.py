"""The client other roles use to call one querynode: Search and Query go over the TCP hot
path when the node serves one (common/fastrpc.py), everything else over gRPC."""
from __future__ import annotations

import threading
from typing import Any

from common.errors import MilvusError, NodeNotAvailable
from common.fastrpc import FastRpcClient
from common.rpc import InternalClient
from proto.internal import meta_pb2, querynode_pb2, querynode_pb2_grpc

_SERVICE = querynode_pb2.DESCRIPTOR.services_by_name["QueryNode"]
# The reads sent over the TCP hot path (see common/fastrpc.py); the querynode serves them.
FAST_METHODS = ("Search", "Query")
# How long the liveness probe of an overdue fast call waits for the node's gRPC answer.
PROBE_TIMEOUT_S = 2.0


class QueryNodeClient:
    """``call(method, request)`` like ``InternalClient.call``, choosing the transport per method.

    The fast endpoint is learned from the node's GetComponentState on first use and forgotten
    after a transport failure, so a restarted node (new port) is found again.
    """

    def __init__(self, address: str, timeout_s: float = 30.0) -> None:
        self.address = address
        self._grpc = InternalClient(address, querynode_pb2_grpc.QueryNodeStub, timeout_s=timeout_s)
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._fast: FastRpcClient | None = None
        self._resolved = False

    def call(self, method: str, request: Any, timeout_s: float | None = None) -> Any:
        """Invoke ``method``; raises the MilvusError its Status carries or NodeNotAvailable."""
        fast = self._fast_client() if method in FAST_METHODS else None
        if fast is None:
            return self._grpc.call(method, request, timeout_s)
        try:
            return fast.call(method, request, timeout_s)
        except NodeNotAvailable:
            self._drop_fast(fast)
            raise

    def _fast_client(self) -> FastRpcClient | None:
        with self._lock:
            if self._resolved:
                return self._fast
        state = self._grpc.call("GetComponentState", meta_pb2.Empty())  # NodeNotAvailable propagates
        with self._lock:
            if not self._resolved:
                self._resolved = True
                if state.fast_endpoint:
                    self._fast = FastRpcClient(state.fast_endpoint, _SERVICE, FAST_METHODS, alive=self._alive,
                                               timeout_s=self._timeout_s)
            return self._fast

    def _alive(self) -> bool:
        try:
            self._grpc.call("GetComponentState", meta_pb2.Empty(), timeout_s=PROBE_TIMEOUT_S)
        except MilvusError:
            return False
        return True

    def _drop_fast(self, fast: FastRpcClient) -> None:
        with self._lock:
            if self._fast is fast:
                self._fast = None
                self._resolved = False
        fast.close()

    def close(self) -> None:
        with self._lock:
            fast, self._fast = self._fast, None
            self._resolved = True
        if fast is not None:
            fast.close()
        self._grpc.close()


class NodeClients:
    """One QueryNodeClient per querynode address, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, QueryNodeClient] = {}

    def node(self, address: str) -> QueryNodeClient:
        with self._lock:
            client = self._clients.get(address)
            if client is None:
                client = self._clients[address] = QueryNodeClient(address)
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
