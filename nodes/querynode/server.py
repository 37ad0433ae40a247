"""Builds QueryNode's RoleServer."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer
from nodes.querynode.core import QueryNode
from nodes.querynode.service import QueryNodeService
from proto.internal import querynode_pb2_grpc


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    holder: list[RoleServer] = []
    core = QueryNode(context, address=lambda: holder[0].address if holder else "")
    server = RoleServer(core, querynode_pb2_grpc.add_QueryNodeServicer_to_server, QueryNodeService(core),
                        context, host=host, port=port)
    holder.append(server)
    return server
