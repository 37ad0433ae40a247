"""DataNode over gRPC: the ``DataNode`` Protocol (common/interfaces/datanode.py) as a client."""
from __future__ import annotations

from collections.abc import Callable

from common.rpc import DEFAULT_TIMEOUT_S, RpcClient
from proto.internal import datanode_pb2_grpc, meta_pb2


class DataNodeClient(RpcClient):
    """``address``: the node's, or a function finding the coordinator (see ``RpcClient``)."""

    def __init__(self, address: str | Callable[[], str], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(datanode_pb2_grpc.DataNodeStub, address, timeout_s)

    def get_component_state(self, request: meta_pb2.Empty) -> meta_pb2.ComponentStateResponse:
        return self._call(lambda s: s.GetComponentState, request)
