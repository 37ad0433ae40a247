"""Builds the RoleServer of one RootCoord instance: elected among the running instances
(common/elected.py), the active one's core serves the RootCoord gRPC service."""
from __future__ import annotations

from common.elected import serve_elected
from common.runtime import RoleContext, RoleServer
from coordinators.rootcoord.catalog import EtcdRootCoordCatalog
from coordinators.rootcoord.core import RootCoord
from proto.internal import rootcoord_pb2


def _core(context: RoleContext) -> RootCoord:
    return RootCoord(context.config, context.kv, EtcdRootCoordCatalog(context.kv), context.node_id)


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    server = serve_elected("rootcoord", _core, rootcoord_pb2.DESCRIPTOR.services_by_name["RootCoord"], context,
                           host=host, port=port)
    elected = server.logic
    context.metrics.gauge_source("milvus_rootcoord_collection_num", "number of collections", (),
                                 lambda: elected.read_if_active(lambda core: [((), core.collection_count())], []))
    return server
