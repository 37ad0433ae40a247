"""Builds DataCoord's RoleServer: the core serves the
DataCoord gRPC service itself (common.rpc.ProtocolService)."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer, serve_core
from coordinators.datacoord.catalog import EtcdDataCoordCatalog
from coordinators.datacoord.core import DataCoord
from proto.internal import datacoord_pb2


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    return serve_core(DataCoord(context, EtcdDataCoordCatalog(context.kv)),
                      datacoord_pb2.DESCRIPTOR.services_by_name["DataCoord"], context, host=host, port=port)
