"""Builds QueryCoord's RoleServer."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer
from coordinators.querycoord.catalog import EtcdQueryCoordCatalog
from coordinators.querycoord.core import QueryCoord
from coordinators.querycoord.service import QueryCoordService
from proto.internal import querycoord_pb2_grpc


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    core = QueryCoord(context, EtcdQueryCoordCatalog(context.kv))
    return RoleServer(core, querycoord_pb2_grpc.add_QueryCoordServicer_to_server,
                      QueryCoordService(core, context.node_id), context, host=host, port=port)
