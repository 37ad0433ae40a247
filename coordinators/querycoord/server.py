"""Builds QueryCoord's RoleServer: the core serves the
QueryCoord gRPC service itself (common.rpc.ProtocolService)."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer, serve_core
from coordinators.querycoord.catalog import EtcdQueryCoordCatalog
from coordinators.querycoord.core import QueryCoord
from proto.internal import querycoord_pb2


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    core = QueryCoord(context, EtcdQueryCoordCatalog(context.kv))
    context.metrics.gauge_source("milvus_querycoord_collection_num", "number of loaded collections", (),
                                 lambda: [((), core.loaded_collection_count())])
    context.metrics.gauge_source("milvus_querycoord_querynode_num", "number of live querynodes", (),
                                 lambda: [((), core.live_querynode_count())])
    return serve_core(core,
                      querycoord_pb2.DESCRIPTOR.services_by_name["QueryCoord"], context, host=host, port=port)
