"""What a role needs to run: its context (config, etcd, object storage, the log, node id, typed
peers), the discovery of other roles through their etcd sessions, ``RoleComponent`` (the base
of a role's core) and ``RoleServer``, which runs one role's core behind its gRPC service under
an etcd session.
"""
from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Protocol

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from common.component import Component
from common.config import Config
from common.errors import ServiceNotReady
from common.fastrpc import FastRpcServer
from common.interfaces import DataCoord, Log, QueryCoord, QueryNode, RootCoord
from common.kv.base import MetaKV
from common.node_metrics import SERVICE as NODE_METRICS, NodeMetricsService
from common.rpc import ProtocolService, bind, make_server
from common.session import Session, list_sessions
from common.storage.base import ObjectStorage
from common.tso import IDAllocator
from proto.internal import meta_pb2

# Threads serving a role's gRPC calls at once, and how long in-flight calls get to finish on stop.
GRPC_HANDLER_THREADS = 32
STOP_GRACE_S = 1.0


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


class Peers(Protocol):
    """How a role reaches the other roles: typed peers, each raising NodeNotAvailable when the
    peer cannot be reached. Implementations: gRPC clients found through etcd sessions
    (``launcher.peers.GrpcPeers``, what role processes use) and the in-process cores of a test
    cluster (``tests.support.minicluster.InProcessPeers``)."""

    def rootcoord(self) -> RootCoord: ...

    def datacoord(self) -> DataCoord: ...

    def querycoord(self, timeout_s: float | None = None) -> QueryCoord:
        """querycoord; over a network each call waits at most ``timeout_s`` (None: the default)."""
        ...

    def querynode(self, address: str) -> QueryNode:
        """The querynode serving gRPC at ``address``."""
        ...

    def close(self) -> None:
        """Release what the peers hold (connections); later calls raise NodeNotAvailable."""
        ...


class RoleContext:
    """Everything a role's core may need, created lazily and closed once: config, etcd, object
    storage, the log, and typed peers (``rootcoord``, ``datacoord``, ``querycoord``,
    ``querynode(address)``) from ``peers``, which the context owns and closes."""

    def __init__(self, config: Config, kv: MetaKV, node_id: int, peers: Peers) -> None:
        self.config = config
        self.kv = kv
        self.node_id = node_id
        self._peers = peers

    @cached_property
    def storage(self) -> ObjectStorage:
        return make_storage(self.config)

    @cached_property
    def log(self) -> Log:
        """The cluster's log, of the backend ``mq.type`` names (common/mq/factory.py): a
        BrokerClient to the broker found through its etcd session, or a NatsLog."""
        from common.mq.factory import make_log

        return make_log(self.config, self.kv, name=f"milvus-py-{self.node_id}")

    @property
    def rootcoord(self) -> RootCoord:
        return self._peers.rootcoord()

    @property
    def datacoord(self) -> DataCoord:
        return self._peers.datacoord()

    @property
    def querycoord(self) -> QueryCoord:
        return self._peers.querycoord()

    def querycoord_with_timeout(self, timeout_s: float) -> QueryCoord:
        """querycoord, each call waiting at most ``timeout_s`` for its answer over a network."""
        return self._peers.querycoord(timeout_s)

    def querynode(self, address: str) -> QueryNode:
        """The querynode serving gRPC at ``address``."""
        return self._peers.querynode(address)

    def close(self) -> None:
        self._peers.close()
        if "log" in self.__dict__:
            self.log.close()


def allocate_node_id(kv: MetaKV) -> int:
    """A cluster-unique id for a new role process."""
    start, _ = IDAllocator(kv, key="nodeid", block=1).alloc(1)
    return start


def _advertised(config: Config, bind_host: str) -> str:
    """The host others should dial: ``common.advertise_host``, else the bind host, else (for a
    wildcard bind) this machine's address."""
    configured: str = config.get("common", "advertise_host")
    if configured:
        return configured
    if bind_host in ("0.0.0.0", "::", ""):
        try:  # an IP also works where host names do not resolve (Kubernetes pods)
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return socket.gethostname()
    return bind_host


class RoleComponent(Component):
    """The base of a role's core: a Component of node ``node_id`` that reports its health as
    the role's GetComponentState answers it (common/interfaces/base.py)."""

    def __init__(self, node_id: int) -> None:
        super().__init__()
        self.node_id = node_id

    def get_component_state(self, request: meta_pb2.Empty) -> meta_pb2.ComponentStateResponse:
        return meta_pb2.ComponentStateResponse(role=self.role, server_id=self.node_id, state=self.state.value)


class RoleServer(Component):
    """Runs one role: starts its core, serves its gRPC service(s) on ``host:port`` (0 = free
    port; ``serve`` adds them to the server), then registers its session in etcd so others can
    find it; stops in the reverse order.

    With ``fast_methods``, those methods of ``fast_service`` are also served over plain TCP
    (common/fastrpc.py) on ``fast_port``, at most ``fast_concurrency`` at once; ``fast_endpoint``
    is then its ``tcp://`` address.
    """

    def __init__(self, logic: Component, serve: Callable[[grpc.Server], None], context: RoleContext,
                 host: str = "127.0.0.1", port: int = 0, advertise_host: str | None = None,
                 fast_service: ProtocolService | None = None, fast_methods: Sequence[str] = (),
                 fast_port: int = 0, fast_concurrency: int = 8) -> None:
        self.role = logic.role
        super().__init__()
        self.logic = logic
        self.context = context
        self._serve = serve
        self._host = host
        self._port = port
        self._advertise_host = advertise_host or _advertised(context.config, host)
        self._server: grpc.Server | None = None
        self._handlers: ThreadPoolExecutor | None = None
        self._session: Session | None = None
        self._fast: FastRpcServer | None = None
        if fast_service is not None and fast_methods:
            self._fast = FastRpcServer(fast_service, fast_methods, host, fast_port,
                                       advertise_host=self._advertise_host, concurrency=fast_concurrency)
        self.address = ""
        self.fast_endpoint = ""

    def _start(self) -> None:
        self._handlers = ThreadPoolExecutor(max_workers=GRPC_HANDLER_THREADS, thread_name_prefix=f"{self.role}-grpc")
        self._server = make_server(self._handlers)
        self._serve(self._server)
        ProtocolService(NODE_METRICS, NodeMetricsService(self)).add_to(self._server)
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
            self._server.stop(grace=STOP_GRACE_S).wait()
        if self._handlers is not None:
            self._handlers.shutdown(wait=True)
        self.logic.stop()
        self.context.close()


def serve_core(core: RoleComponent, service: ServiceDescriptor, context: RoleContext, host: str = "127.0.0.1",
               port: int = 0) -> RoleServer:
    """The RoleServer of ``core``, which implements the Protocol of gRPC ``service``."""
    return RoleServer(core, ProtocolService(service, core).add_to, context, host=host, port=port)
