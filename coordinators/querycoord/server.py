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
    server = serve_elected("querycoord", _core, querycoord_pb2.DESCRIPTOR.services_by_name["QueryCoord"], context,
                           host=host, port=port)
    elected = server.logic
    context.metrics.gauge_source(
        "milvus_querycoord_collection_num", "number of loaded collections", (),
        lambda: elected.read_if_active(lambda core: [((), core.loaded_collection_count())], []))
    context.metrics.gauge_source(
        "milvus_querycoord_querynode_num", "number of live querynodes", (),
        lambda: elected.read_if_active(lambda core: [((), core.live_querynode_count())], []))
    return server
