"""Builds the RoleServer of one QueryCoord instance: elected among the running instances
(common/elected.py), the active one's core serves the QueryCoord gRPC service."""
from __future__ import annotations

from common.elected import serve_elected
from common.runtime import RoleContext, RoleServer
from coordinators.querycoord.catalog import EtcdQueryCoordCatalog
from coordinators.querycoord.core import QueryCoord
from proto.internal import querycoord_pb2


def _core(context: RoleContext) -> QueryCoord:
    return QueryCoord(context, EtcdQueryCoordCatalog(context.kv))


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    return serve_elected("querycoord", _core, querycoord_pb2.DESCRIPTOR.services_by_name["QueryCoord"], context,
                         host=host, port=port)
