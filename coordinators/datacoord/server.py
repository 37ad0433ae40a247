"""Builds the RoleServer of one DataCoord instance: elected among the running instances
(common/elected.py), the active one's core serves the DataCoord gRPC service."""
from __future__ import annotations

from common.elected import serve_elected
from common.runtime import RoleContext, RoleServer
from coordinators.datacoord.catalog import EtcdDataCoordCatalog
from coordinators.datacoord.core import DataCoord
from proto.internal import datacoord_pb2


def _core(context: RoleContext) -> DataCoord:
    return DataCoord(context, EtcdDataCoordCatalog(context.kv))


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    return serve_elected("datacoord", _core, datacoord_pb2.DESCRIPTOR.services_by_name["DataCoord"], context,
                         host=host, port=port)
