"""Builds IndexNode's RoleServer."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer
from nodes.indexnode.core import IndexNode
from nodes.indexnode.service import IndexNodeService
from proto.internal import indexnode_pb2_grpc


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    core = IndexNode(context)
    return RoleServer(core, indexnode_pb2_grpc.add_IndexNodeServicer_to_server,
                      IndexNodeService(core, context.node_id), context, host=host, port=port)
