"""Builds the proxy's RoleServer: the MilvusService on the public port (instrumented with
Milvus's request metrics) plus /healthz and /metrics on ``proxy.http_port``."""
from __future__ import annotations

from common.runtime import RoleContext, RoleServer
from proto.milvus import milvus_pb2_grpc
from proxy.core import Proxy
from proxy.request_metrics import ProxyRequestMetrics, instrument
from proxy.service import MilvusService


class ProxyServer(RoleServer):
    """The proxy's RoleServer."""

    def __init__(self, context: RoleContext, host: str, port: int, http_port: int) -> None:
        proxy = Proxy(context)
        service = instrument(MilvusService(proxy), ProxyRequestMetrics(context.metrics))
        super().__init__(proxy, lambda server: milvus_pb2_grpc.add_MilvusServiceServicer_to_server(service, server),
                         context, host=host, port=port, http_port=http_port)


def create_server(context: RoleContext, host: str = "0.0.0.0", port: int | None = None,
                  http_port: int | None = None) -> ProxyServer:
    """The proxy on ``port`` (default ``proxy.port``) with HTTP on ``http_port`` (``proxy.http_port``)."""
    config = context.config
    return ProxyServer(context, host, config.get("proxy", "port") if port is None else port,
                       config.get("proxy", "http_port") if http_port is None else http_port)
