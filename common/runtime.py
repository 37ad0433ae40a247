"""What a role needs to run: its context (config, etcd, object storage, broker, node id), the
discovery of other roles through their etcd sessions, and ``RoleServer``, which runs one role's
logic behind its gRPC service under an etcd session.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from common.component import Component
from common.config import Config
from common.errors import NodeNotAvailable, ServiceNotReady
from common.fastrpc import FastRpcServer
from common.node_metrics import NodeMetricsService
from common.kv.base import MetaKV
from common.rpc import InternalClient, bind, make_server
from common.session import Session, list_sessions
from common.storage.base import ObjectStorage
from common.tso import IDAllocator
from proto.internal.metrics_pb2_grpc import add_NodeMetricsServicer_to_server


def make_kv(config: Config) -> MetaKV:
    """The etcd KV of this cluster (``etcd.endpoints`` must be set)."""
    from common.kv.etcd import EtcdKV

    endpoints = [e.strip() for e in config.get("etcd", "endpoints").split(",") if e.strip()]
    if not endpoints:
        raise ServiceNotReady("etcd.endpoints is empty: start the cluster with `milvus-py run standalone` "
                              "or set MILVUSPY_ETCD_ENDPOINTS")
    return EtcdKV(endpoints, root_path=config.get("etcd", "root_path"))


def make_storage(config: Config) -> ObjectStorage:
    """The object storage backend chosen by ``storage.type`` (``local`` or ``minio``)."""
    kind = config.get("storage", "type")
    if kind == "minio":
        from common.storage.minio_store import MinioStorage

        return MinioStorage(
            config.get("storage", "minio_endpoint"), config.get("storage", "minio_access_key"),
            config.get("storage", "minio_secret_key"), config.get("storage", "minio_bucket"),
            root_path=config.get("storage", "minio_root_path"), secure=config.get("storage", "minio_secure"),
        )
    from common.storage.local import LocalStorage

    root = config.get("storage", "local_dir") or str(config.data_dir() / "storage")
    return LocalStorage(root)


def wait_for_address(kv: MetaKV, role: str, timeout_s: float = 60.0) -> str:
    """The address of a live ``role`` session, waiting for one to register.

    Raises ServiceNotReady after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        sessions = list_sessions(kv, role)
        if sessions:  # the newest registration wins over a dead process's not-yet-expired one
            return max(sessions, key=lambda s: s.server_id).address
        if time.monotonic() > deadline:
            raise ServiceNotReady(f"no {role} is running (no session in etcd after {timeout_s:.0f} s)")
        time.sleep(0.05)


class RoleClient:
    """A client of a role found through etcd: re-resolves the address when the peer is gone,
    so a restarted coordinator on a new port is found again. Thread-safe."""

    def __init__(self, kv: MetaKV, role: str, stub_cls: type, timeout_s: float = 30.0) -> None:
        self._kv = kv
        self._role = role
        self._stub_cls = stub_cls
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._client: InternalClient | None = None

    def _current(self) -> InternalClient:
        with self._lock:
            if self._client is None:
                self._client = InternalClient(wait_for_address(self._kv, self._role), self._stub_cls, self._timeout_s)
            return self._client

    def call(self, method: str, request: Any, timeout_s: float | None = None) -> Any:
        """Call ``method``; on an unreachable peer, look the role up again and retry once."""
        client = self._current()
        try:
            return client.call(method, request, timeout_s)
        except NodeNotAvailable:
            with self._lock:
                if self._client is client:
                    self._client = None
                    client.close()
            return self._current().call(method, request, timeout_s)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class RoleContext:
    """Everything a role's logic may need, created lazily and closed once."""

    def __init__(self, config: Config, kv: MetaKV, node_id: int) -> None:
        self.config = config
        self.kv = kv
        self.node_id = node_id
        self._clients: dict[str, RoleClient] = {}
        self._lock = threading.Lock()

    @cached_property
    def storage(self) -> ObjectStorage:
        return make_storage(self.config)

    @cached_property
    def broker(self):  # type: ignore[no-untyped-def]
        """A BrokerClient to the cluster's broker (found through its etcd session)."""
        from common.mq.client import BrokerClient

        return BrokerClient(wait_for_address(self.kv, "broker"))

    def client(self, role: str) -> RoleClient:
        """The shared client of coordinator ``role`` (rootcoord, datacoord or querycoord)."""
        from proto.internal import datacoord_pb2_grpc, querycoord_pb2_grpc, rootcoord_pb2_grpc

        stubs = {"rootcoord": rootcoord_pb2_grpc.RootCoordStub, "datacoord": datacoord_pb2_grpc.DataCoordStub,
                 "querycoord": querycoord_pb2_grpc.QueryCoordStub}
        with self._lock:
            if role not in self._clients:
                self._clients[role] = RoleClient(self.kv, role, stubs[role])
            return self._clients[role]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        if "broker" in self.__dict__:
            self.broker.close()


def allocate_node_id(kv: MetaKV) -> int:
    """A cluster-unique id for a new role process."""
    start, _ = IDAllocator(kv, key="nodeid", block=1).alloc(1)
    return start


def _advertised(config: Config, bind_host: str) -> str:
    """The host others should dial: ``common.advertise_host``, else the bind host, else (for a
    wildcard bind) this machine's address."""
    configured = config.get("common", "advertise_host")
    if configured:
        return configured  # type: ignore[no-any-return]
    if bind_host in ("0.0.0.0", "::", ""):
        try:  # an IP also works where host names do not resolve (Kubernetes pods)
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return socket.gethostname()
    return bind_host


class RoleServer(Component):
    """Runs one role: starts its logic, serves its gRPC service on ``host:port`` (0 = free port),
    then registers its session in etcd so others can find it; stops in the reverse order.

    With ``fast_methods``, those methods of ``fast_service`` are also served over plain TCP
    (common/fastrpc.py) on ``fast_port``, at most ``fast_concurrency`` at once; ``fast_endpoint``
    is then its ``tcp://`` address.
    """

    def __init__(self, logic: Component, add_servicer: Callable[[Any, grpc.Server], None], servicer: Any,
                 context: RoleContext, host: str = "127.0.0.1", port: int = 0,
                 advertise_host: str | None = None, fast_service: ServiceDescriptor | None = None,
                 fast_methods: Sequence[str] = (), fast_port: int = 0, fast_concurrency: int = 8) -> None:
        self.role = logic.role
        super().__init__()
        self.logic = logic
        self.context = context
        self._add_servicer = add_servicer
        self._servicer = servicer
        self._host = host
        self._port = port
        self._advertise_host = advertise_host or _advertised(context.config, host)
        self._server: grpc.Server | None = None
        self._session: Session | None = None
        self._fast: FastRpcServer | None = None
        if fast_service is not None and fast_methods:
            self._fast = FastRpcServer(servicer, fast_service, fast_methods, host, fast_port,
                                       advertise_host=self._advertise_host, concurrency=fast_concurrency)
        self.address = ""
        self.fast_endpoint = ""

    def _start(self) -> None:
        self._server = make_server()
        self._add_servicer(self._servicer, self._server)
        add_NodeMetricsServicer_to_server(NodeMetricsService(self), self._server)
        bound = bind(self._server, self._host, self._port)
        self.address = f"{self._advertise_host}:{bound}"
        self._server.start()
        self.logic.start()
        if self._fast is not None:
            self.fast_endpoint = self._fast.start()
        ttl = self.context.config.get("etcd", "session_ttl_s")
        self._session = Session(self.context.kv, self.role, self.context.node_id, self.session_address(), ttl_s=ttl,
                                grpc_address=self.address)
        self._session.register()

    def session_address(self) -> str:
        """The address others use to reach this role (its gRPC address by default)."""
        return self.address

    def _stop(self) -> None:
        if self._session is not None:
            self._session.stop()
        if self._fast is not None:
            self._fast.stop()
        if self._server is not None:
            self._server.stop(grace=1.0)
        self.logic.stop()
        self.context.close()
