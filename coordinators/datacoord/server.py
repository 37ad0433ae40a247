"""Builds DataCoord's RoleServer."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer
from coordinators.datacoord.catalog import EtcdDataCoordCatalog
from coordinators.datacoord.core import DataCoord
from coordinators.datacoord.service import DataCoordService
from proto.internal import datacoord_pb2_grpc


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    core = DataCoord(context, EtcdDataCoordCatalog(context.kv))
    return RoleServer(core, datacoord_pb2_grpc.add_DataCoordServicer_to_server,
                      DataCoordService(core, context.node_id), context, host=host, port=port)
