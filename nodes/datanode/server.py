"""Builds DataNode's RoleServer."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer
from nodes.datanode.core import DataNode
from nodes.datanode.service import DataNodeService
from proto.internal import datanode_pb2_grpc


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    core = DataNode(context)
    return RoleServer(core, datanode_pb2_grpc.add_DataNodeServicer_to_server,
                      DataNodeService(core, context.node_id), context, host=host, port=port)
