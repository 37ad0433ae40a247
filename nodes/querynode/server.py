"""Builds QueryNode's RoleServer: gRPC for everything, plus the TCP hot path for Search and
Query (common/fastrpc.py) that the proxy prefers."""
from __future__ import annotations

import os

from common.runtime import RoleContext, RoleServer
from nodes.querynode.core import QueryNode
from nodes.querynode.client import FAST_METHODS
from nodes.querynode.service import QueryNodeService
from proto.internal import querynode_pb2, querynode_pb2_grpc


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    holder: list[RoleServer] = []
    core = QueryNode(context, address=lambda: holder[0].address if holder else "")
    service = QueryNodeService(core, fast_endpoint=lambda: holder[0].fast_endpoint if holder else "")
    server = RoleServer(core, querynode_pb2_grpc.add_QueryNodeServicer_to_server, service, context, host=host,
                        port=port, fast_service=querynode_pb2.DESCRIPTOR.services_by_name["QueryNode"],
                        fast_methods=FAST_METHODS, fast_port=context.config.get("querynode", "fast_port"),
                        fast_concurrency=int(context.config.get("querynode", "search_concurrency")) or os.cpu_count() or 2)
    holder.append(server)
    return server
