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
    server = serve_elected("datacoord", _core, datacoord_pb2.DESCRIPTOR.services_by_name["DataCoord"], context,
                           host=host, port=port)
    elected = server.logic
    context.metrics.gauge_source(
        "milvus_datacoord_segment_num", "number of segments", ("segment_state",),
        lambda: elected.read_if_active(lambda core: [((s,), n) for s, n in core.segment_state_counts().items()], []))
    context.metrics.gauge_source(
        "milvus_datacoord_stored_rows_num", "number of rows stored in flushed segments", ("collection_id",),
        lambda: elected.read_if_active(lambda core: [((str(c),), n) for c, n in core.stored_rows().items()], []))
    return server
