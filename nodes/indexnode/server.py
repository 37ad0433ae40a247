"""Builds IndexNode's RoleServer: the core serves the
IndexNode gRPC service itself (common.rpc.ProtocolService)."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer, serve_core
from nodes.indexnode.core import IndexNode
from proto.internal import indexnode_pb2


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    return serve_core(IndexNode(context),
                      indexnode_pb2.DESCRIPTOR.services_by_name["IndexNode"], context, host=host, port=port)
