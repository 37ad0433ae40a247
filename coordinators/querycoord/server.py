"""Builds QueryCoord's RoleServer: the core serves the
QueryCoord gRPC service itself (common.rpc.ProtocolService)."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer, serve_core
from coordinators.querycoord.catalog import EtcdQueryCoordCatalog
from coordinators.querycoord.core import QueryCoord
from proto.internal import querycoord_pb2


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    return serve_core(QueryCoord(context, EtcdQueryCoordCatalog(context.kv)),
                      querycoord_pb2.DESCRIPTOR.services_by_name["QueryCoord"], context, host=host, port=port)
