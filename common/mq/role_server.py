"""The log broker as a role: a ``BrokerServer`` (ZeroMQ) whose endpoint is published in its
etcd session, plus the usual gRPC health service."""
from __future__ import annotations

from pathlib import Path

from common.component import Component
from common.mq.server import BrokerServer
from common.rpc import guard_servicer
from common.runtime import RoleContext, RoleServer
from proto.internal import broker_pb2, broker_pb2_grpc
from proto.internal.meta_pb2 import ComponentStateResponse


class Broker(Component):
    role = "broker"

    def __init__(self, data_dir: Path, bind: str) -> None:
        super().__init__()
        self._server = BrokerServer(data_dir, bind)
        self.endpoint = ""

    def _start(self) -> None:
        self.endpoint = self._server.start()

    def _stop(self) -> None:
        self._server.stop()


@guard_servicer(broker_pb2.DESCRIPTOR.services_by_name["Broker"])
class BrokerService(broker_pb2_grpc.BrokerServicer):
    def __init__(self, broker: Broker, node_id: int) -> None:
        self._broker = broker
        self._node_id = node_id

    def GetComponentState(self, request, context):
        return ComponentStateResponse(role="broker", server_id=self._node_id, state=self._broker.state.value)


class BrokerRoleServer(RoleServer):
    """Publishes the broker's ZeroMQ endpoint (not its gRPC address) in the session; a
    wildcard bind (``tcp://0.0.0.0:5555``) is published with the advertised host."""

    def session_address(self) -> str:
        endpoint: str = self.logic.endpoint  # type: ignore[attr-defined]
        scheme, _, rest = endpoint.partition("://")
        host, _, port = rest.rpartition(":")
        if host in ("0.0.0.0", "*", "[::]"):
            return f"{scheme}://{self._advertise_host}:{port}"
        return endpoint


def create_server(context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> RoleServer:
    config = context.config
    data_dir = Path(config.get("broker", "data_dir") or config.data_dir() / "broker")
    broker = Broker(data_dir, config.get("broker", "bind"))
    return BrokerRoleServer(broker, broker_pb2_grpc.add_BrokerServicer_to_server,
                            BrokerService(broker, context.node_id), context, host=host, port=port)
