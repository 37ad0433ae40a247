"""DataNode's gRPC service (health only: the node pulls its work from datacoord)."""
from __future__ import annotations

from common.rpc import guard_servicer
from nodes.datanode.core import DataNode
from proto.internal import datanode_pb2, datanode_pb2_grpc
from proto.internal.meta_pb2 import ComponentStateResponse


@guard_servicer(datanode_pb2.DESCRIPTOR.services_by_name["DataNode"])
class DataNodeService(datanode_pb2_grpc.DataNodeServicer):
    def __init__(self, core: DataNode, node_id: int) -> None:
        self._core = core
        self._node_id = node_id

    def GetComponentState(self, request, context):
        return ComponentStateResponse(role=self._core.role, server_id=self._node_id, state=self._core.state.value)
