"""The log broker as a role: a ``BrokerServer`` (ZeroMQ) whose endpoint is published in its
etcd session, plus the usual gRPC health service."""
from __future__ import annotations

from pathlib import Path

from common.mq.server import BrokerServer
from common.rpc import ProtocolService
from common.runtime import RoleComponent, RoleContext, RoleServer
from proto.internal import broker_pb2


class Broker(RoleComponent):
    """Runs the ZeroMQ BrokerServer; its gRPC service answers only GetComponentState."""

    role = "broker"

    def __init__(self, data_dir: Path, bind: str, node_id: int) -> None:
        super().__init__(node_id)
        self._server = BrokerServer(data_dir, bind)
        self.endpoint = ""

    def _start(self) -> None:
        self.endpoint = self._server.start()

    def _stop(self) -> None:
        self._server.stop()


class BrokerRoleServer(RoleServer):
    """Publishes the broker's ZeroMQ endpoint (not its gRPC address) in the session; a
    wildcard bind (``tcp://0.0.0.0:5555``) is published with the advertised host."""

    def __init__(self, broker: Broker, context: RoleContext, host: str, port: int) -> None:
        service = ProtocolService(broker_pb2.DESCRIPTOR.services_by_name["Broker"], broker)
        super().__init__(broker, service.add_to, context, host=host, port=port)
        self.broker = broker

    def session_address(self) -> str:
        endpoint = self.broker.endpoint
        scheme, _, rest = endpoint.partition("://")
        host, _, port = rest.rpartition(":")
        if host in ("0.0.0.0", "*", "[::]"):
            return f"{scheme}://{self._advertise_host}:{port}"
        return endpoint


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    config = context.config
    data_dir = Path(config.get("broker", "data_dir") or config.data_dir() / "broker")
    broker = Broker(data_dir, config.get("broker", "bind"), context.node_id)
    return BrokerRoleServer(broker, context, host=host, port=port)
