"""Builds DataNode's RoleServer: the core serves the
DataNode gRPC service itself (common.rpc.ProtocolService)."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer, serve_core
from nodes.datanode.core import DataNode
from nodes.datanode.monitoring import register_datanode_metrics
from proto.internal import datanode_pb2


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    core = DataNode(context)
    register_datanode_metrics(context.metrics, core.channels, lambda: context.log)
    return serve_core(core,
                      datanode_pb2.DESCRIPTOR.services_by_name["DataNode"], context, host=host, port=port)
