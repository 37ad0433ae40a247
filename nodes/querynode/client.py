"""QueryNode over gRPC: the ``QueryNode`` Protocol (common/interfaces/querynode.py) as a client.
Search and Query go over the TCP hot path when the node serves one (common/fastrpc.py),
everything else over gRPC."""
from __future__ import annotations

import threading
from typing import Any

from common.errors import MilvusError, NodeNotAvailable
from common.fastrpc import FastRpcClient
from common.rpc import DEFAULT_TIMEOUT_S, RpcClient
from proto.internal import meta_pb2, querynode_pb2, querynode_pb2_grpc

_SERVICE = querynode_pb2.DESCRIPTOR.services_by_name["QueryNode"]
# The reads sent over the TCP hot path (see common/fastrpc.py); the querynode serves them.
SEARCH = "Search"
QUERY = "Query"
FAST_METHODS = (SEARCH, QUERY)
# How long the liveness probe of an overdue fast call waits for the node's gRPC answer.
PROBE_TIMEOUT_S = 2.0


class QueryNodeClient(RpcClient):
    """The querynode at ``address`` (its gRPC address; never re-resolved).

    The fast endpoint is learned from the node's GetComponentState on first use and forgotten
    after a transport failure, so a restarted node (new port) is found again.
    """

    def __init__(self, address: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(querynode_pb2_grpc.QueryNodeStub, address, timeout_s)
        self._fast_lock = threading.Lock()
        self._fast: FastRpcClient | None = None
        self._resolved = False

    def get_component_state(self, request: meta_pb2.Empty) -> meta_pb2.ComponentStateResponse:
        return self._call(lambda s: s.GetComponentState, request)

    def search(self, request: querynode_pb2.ShardSearchRequest) -> querynode_pb2.ShardSearchResult:
        fast = self._fast if self._resolved else self._fast_client()
        if fast is None:
            return self._call(lambda s: s.Search, request)
        return self._fast_call(fast, SEARCH, request)

    def query(self, request: querynode_pb2.ShardQueryRequest) -> querynode_pb2.ShardQueryResult:
        fast = self._fast if self._resolved else self._fast_client()
        if fast is None:
            return self._call(lambda s: s.Query, request)
        return self._fast_call(fast, QUERY, request)

    def _fast_call(self, fast: FastRpcClient, method: str, request: Any) -> Any:
        try:
            return fast.call(method, request)
        except NodeNotAvailable:
            self._drop_fast(fast)
            raise

    def _fast_client(self) -> FastRpcClient | None:
        state = self.get_component_state(meta_pb2.Empty())  # NodeNotAvailable propagates
        with self._fast_lock:
            if not self._resolved:
                if state.fast_endpoint:
                    self._fast = FastRpcClient(state.fast_endpoint, _SERVICE, FAST_METHODS, alive=self._alive,
                                               timeout_s=self.timeout_s)
                self._resolved = True
            return self._fast

    def _alive(self) -> bool:
        try:
            self._call(lambda s: s.GetComponentState, meta_pb2.Empty(), timeout_s=PROBE_TIMEOUT_S)
        except MilvusError:
            return False
        return True

    def _drop_fast(self, fast: FastRpcClient) -> None:
        with self._fast_lock:
            if self._fast is fast:
                self._fast = None
                self._resolved = False
        fast.close()

    def close(self) -> None:
        with self._fast_lock:
            fast, self._fast = self._fast, None
            self._resolved = True
        if fast is not None:
            fast.close()
        super().close()
