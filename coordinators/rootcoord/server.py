"""Builds RootCoord's RoleServer."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer
from coordinators.rootcoord.catalog import EtcdRootCoordCatalog
from coordinators.rootcoord.core import RootCoord
from coordinators.rootcoord.service import RootCoordService
from proto.internal import rootcoord_pb2_grpc


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    core = RootCoord(context.config, context.kv, EtcdRootCoordCatalog(context.kv))
    return RoleServer(core, rootcoord_pb2_grpc.add_RootCoordServicer_to_server,
                      RootCoordService(core, context.node_id), context, host=host, port=port)
