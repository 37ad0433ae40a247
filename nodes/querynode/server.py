"""Builds QueryNode's RoleServer: the core serves the QueryNode gRPC service itself
(common.rpc.ProtocolService), and Search and Query also over the TCP hot path
(common/fastrpc.py) that the proxy prefers."""
from __future__ import annotations

import os

from common.rpc import ProtocolService
from common.runtime import RoleContext, RoleServer
from nodes.querynode.client import FAST_METHODS
from nodes.querynode.core import QueryNode
from proto.internal import querynode_pb2


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    holder: list[RoleServer] = []
    core = QueryNode(context, address=lambda: holder[0].address if holder else "",
                     fast_endpoint=lambda: holder[0].fast_endpoint if holder else "")
    service = ProtocolService(querynode_pb2.DESCRIPTOR.services_by_name["QueryNode"], core)
    concurrency = int(context.config.get("querynode", "search_concurrency")) or os.cpu_count() or 2
    server = RoleServer(core, service.add_to, context, host=host, port=port, fast_service=service,
                        fast_methods=FAST_METHODS, fast_port=context.config.get("querynode", "fast_port"),
                        fast_concurrency=concurrency)
    holder.append(server)
    return server
