"""Builds RootCoord's RoleServer: the core serves the
RootCoord gRPC service itself (common.rpc.ProtocolService)."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer, serve_core
from coordinators.rootcoord.catalog import EtcdRootCoordCatalog
from coordinators.rootcoord.core import RootCoord
from proto.internal import rootcoord_pb2


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    core = RootCoord(context.config, context.kv, EtcdRootCoordCatalog(context.kv), context.node_id)
    context.metrics.gauge_source("milvus_rootcoord_collection_num", "number of collections", (),
                                 lambda: [((), core.collection_count())])
    return serve_core(core,
                      rootcoord_pb2.DESCRIPTOR.services_by_name["RootCoord"], context, host=host, port=port)
