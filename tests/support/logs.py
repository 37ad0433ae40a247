"""The two log backends of the Log contract tests, each as a real server with a client:
the ZeroMQ broker (in-process BrokerServer) and NATS JetStream (an embedded nats-server
child, R1). ``restart()`` stops and starts the server on the same address and data."""
from __future__ import annotations

from pathlib import Path

from common.interfaces.log import Log
from common.mq import BrokerClient, BrokerServer
from common.mq.natsmq import NatsLog
from launcher.embedded_nats import EmbeddedNats

BACKENDS = ["zmq", "natsmq"]


class LogBackend:
    """A started server of ``kind`` under ``data_dir`` and the clients made for it."""

    def __init__(self, kind: str, data_dir: Path) -> None:
        self.kind = kind
        self.data_dir = data_dir
        self._clients: list[Log] = []
        self._zmq: BrokerServer | None = None
        self._nats: EmbeddedNats | None = None
        if kind == "zmq":
            self._zmq = BrokerServer(data_dir / "mq", segment_bytes=4096)
            self.endpoint = self._zmq.start()
        else:
            self._nats = EmbeddedNats(data_dir / "nats").start()
            self.endpoint = self._nats.endpoint

    def client(self, timeout_s: float = 5.0) -> Log:
        """A new client (closed by ``close()``)."""
        log: Log
        if self.kind == "zmq":
            log = BrokerClient(self.endpoint, timeout_s=timeout_s)
        else:
            log = NatsLog([self.endpoint], timeout_s=timeout_s, connect_timeout_s=10)
        self._clients.append(log)
        return log

    def stop(self) -> None:
        if self._zmq is not None:
            self._zmq.stop()
        if self._nats is not None:
            self._nats.stop()

    def start(self) -> None:
        if self._zmq is not None:
            self._zmq = BrokerServer(self.data_dir / "mq", self.endpoint, segment_bytes=4096)
            self._zmq.start()
        if self._nats is not None:
            self._nats.start()

    def close(self) -> None:
        for c in self._clients:
            c.close()
        self.stop()
