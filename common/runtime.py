"""What a role needs to run: its context (config, etcd, object storage, the log, node id, typed
peers), the discovery of other roles through their etcd sessions, ``RoleComponent`` (the base
of a role's core) and ``RoleServer``, which runs one role's core behind its gRPC service under
an etcd session.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from common.component import Component
from common.config import Config
from common.errors import ParameterInvalid, ServiceNotReady
from common.fastrpc import FastRpcServer
from common.health import LogProbe, role_health
from common.http import HealthServer
from common.interfaces import DataCoord, Log, QueryCoord, QueryNode, RootCoord
from common.kv.base import MetaKV, MetaKVError
from common.metrics import MetricsRegistry
from common.node_metrics import SERVICE as NODE_METRICS, NodeMetricsService
from common.rpc import ProtocolService, bind, make_server
from common.session import Session, list_sessions
from common.storage.base import ObjectStorage
from common.tso import IDAllocator
from proto.internal import meta_pb2

if TYPE_CHECKING:
    from common.kv.etcd import EtcdKV

# Threads serving a role's gRPC calls at once, and how long in-flight calls get to finish on stop.
GRPC_HANDLER_THREADS = 32
STOP_GRACE_S = 1.0
# Exit code of a process that gave up on an unreachable etcd (or a malformed etcd.endpoints).
EXIT_NO_ETCD = 3
_log = logging.getLogger(__name__)


def make_kv(config: Config) -> EtcdKV:
    """The etcd KV of this cluster (``etcd.endpoints`` must be set). Connects lazily.

    Raises ServiceNotReady when no endpoint is set, ParameterInvalid when one is malformed.
    """
    from common.kv.etcd import EtcdKV

    endpoints: str = config.get("etcd", "endpoints")
    if not endpoints.strip():
        raise ServiceNotReady("etcd.endpoints is empty: start the cluster with `milvus-py run standalone` "
                              "or set MILVUSPY_ETCD_ENDPOINTS")
    try:
        return EtcdKV(endpoints, root_path=config.get("etcd", "root_path"),
                      timeout_s=config.get("etcd", "request_timeout_s"))
    except ValueError as exc:
        raise ParameterInvalid(f"etcd.endpoints={endpoints!r}: {exc}") from None


def connect_kv(config: Config, stop: threading.Event | None = None) -> MetaKV:
    """``make_kv``, then wait until etcd answers: retried with backoff (0.2 s doubling to 5 s)
    for ``etcd.connect_timeout_s``, each failed try logged as a warning naming the endpoints.

    Raises ServiceNotReady naming the endpoints and the last error when etcd never answered or
    ``stop`` was set meanwhile (the KV is closed then), ServiceNotReady/ParameterInvalid as
    ``make_kv``.
    """
    stop = stop or threading.Event()
    kv = make_kv(config)
    timeout_s = float(config.get("etcd", "connect_timeout_s"))
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        try:
            kv.check_reachable()
            return kv
        except MetaKVError as exc:
            left = deadline - time.monotonic()
            if left <= 0 or stop.is_set():
                kv.close()
                raise ServiceNotReady(f"etcd unreachable at {config.get('etcd', 'endpoints')} "
                                      f"after {timeout_s:g} s (etcd.connect_timeout_s): {exc}") from None
            _log.warning("etcd not reachable yet at %s (%s); retrying in %.1f s, giving up in %.0f s",
                         config.get("etcd", "endpoints"), exc, min(delay, left), left)
            stop.wait(min(delay, left))
            delay = min(delay * 2, 5.0)


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
    storage, the log, the role's metrics registry, and typed peers (``rootcoord``, ``datacoord``,
    ``querycoord``, ``querynode(address)``) from ``peers``, which the context owns and closes. While an
    elected coordinator instance is active, ``kv`` is the election's fenced view (common/elected.py)."""

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

    def opened_log(self) -> Log | None:
        """The log if this role has asked for it (None: the role does not use the log)."""
        log: Log | None = self.__dict__.get("log")
        return log

    @cached_property
    def metrics(self) -> MetricsRegistry:
        """The role's Prometheus metrics (common/metrics.py), served on its ``/metrics``."""
        return MetricsRegistry(self.node_id)

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
    find it, and serves ``/healthz`` and ``/metrics`` (common/http.py, common/health.py) on
    ``http_port`` (None: ``common.http_port``; 0 = a free port, then ``http_port`` is the bound
    one); stops in the reverse order.

    With ``fast_methods``, those methods of ``fast_service`` are also served over plain TCP
    (common/fastrpc.py) on ``fast_port``, at most ``fast_concurrency`` at once; ``fast_endpoint``
    is then its ``tcp://`` address.
    """

    def __init__(self, logic: Component, serve: Callable[[grpc.Server], None], context: RoleContext,
                 host: str = "127.0.0.1", port: int = 0, advertise_host: str | None = None,
                 fast_service: ProtocolService | None = None, fast_methods: Sequence[str] = (),
                 fast_port: int = 0, fast_concurrency: int = 8, http_port: int | None = None) -> None:
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
        self._log_probe: LogProbe | None = None
        self._http = HealthServer(host, context.config.get("common", "http_port") if http_port is None else http_port,
                                  self.health_problem, context.metrics.render, name=self.role)
        self.http_port = self._http.port

    def health_problem(self) -> str | None:
        """None when this role is healthy, else why not (what /healthz answers)."""
        return role_health(lambda: self.healthy, self.etcd_alive, self._probe)

    def etcd_alive(self) -> bool:
        """Whether etcd renewed this role's session within its TTL."""
        return self._session is not None and self._session.alive

    def _probe(self) -> LogProbe | None:
        if self._log_probe is None and (log := self.context.opened_log()) is not None:
            self._log_probe = LogProbe(log)
        return self._log_probe

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
        self._register()
        self._http.start()

    def _register(self) -> None:
        """Announce this server in etcd: its session (overridden by elected coordinators)."""
        ttl = self.context.config.get("etcd", "session_ttl_s")
        self._session = Session(self.context.kv, self.role, self.context.node_id, self.session_address(), ttl_s=ttl,
                                grpc_address=self.address)
        self._session.register()

    def _unregister(self) -> None:
        """Withdraw what ``_register`` announced."""
        if self._session is not None:
            self._session.stop()

    def session_address(self) -> str:
        """The address others use to reach this role (its gRPC address by default)."""
        return self.address

    def _stop(self) -> None:
        self._http.stop()
        self._unregister()
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
