"""Builds DataCoord's RoleServer: the core serves the
DataCoord gRPC service itself (common.rpc.ProtocolService)."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer, serve_core
from coordinators.datacoord.catalog import EtcdDataCoordCatalog
from coordinators.datacoord.core import DataCoord
from proto.internal import datacoord_pb2


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    core = DataCoord(context, EtcdDataCoordCatalog(context.kv))
    context.metrics.gauge_source("milvus_datacoord_segment_num", "number of segments", ("segment_state",),
                                 lambda: [((state,), n) for state, n in core.segment_state_counts().items()])
    context.metrics.gauge_source("milvus_datacoord_stored_rows_num", "number of rows stored in flushed segments",
                                 ("collection_id",),
                                 lambda: [((str(c),), n) for c, n in core.stored_rows().items()])
    return serve_core(core,
                      datacoord_pb2.DESCRIPTOR.services_by_name["DataCoord"], context, host=host, port=port)
