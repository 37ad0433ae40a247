"""Coordinators in active-standby (docs/architecture.md, "Coordinators HA"): several instances
of rootcoord, datacoord or querycoord may run; the one elected through etcd
(``common.election``) runs the role's core, the others stand by.

``ElectedCore`` is the logic such an instance's RoleServer serves: it builds the core with
``factory(context)`` only when elected, with ``context.kv`` fenced by the election, so a
standby neither loads state, nor schedules, nor writes; the new core loads the state its
predecessor left in etcd. Every RPC reaches the core only while the election still holds its
lease; otherwise (a standby, or an active instance whose lease is in doubt) it is refused with
ServiceNotReady, which clients answer by looking the active instance up again. Reading an
attribute of an ``ElectedCore`` reads the active core's (tests and in-process peers call the
core's methods through it).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.descriptor import ServiceDescriptor

from common.election import ActiveStandby
from common.errors import ServiceNotReady
from common.kv.base import MetaKV
from common.rpc import ProtocolService, method_name
from common.runtime import RoleComponent, RoleContext, RoleServer
from common.session import SessionInfo
from proto.internal import meta_pb2

#: What GetComponentState answers for a standby instance (Milvus: StateCode StandBy).
STANDBY_STATE = "standby"
_T = TypeVar("_T")


class ElectedCore(RoleComponent):
    """The logic of one coordinator instance: its core while elected, nothing while standing
    by (see the module docstring)."""

    def __init__(self, role: str, factory: Callable[[RoleContext], RoleComponent], context: RoleContext) -> None:
        self.role = role
        super().__init__(context.node_id)
        self._factory = factory
        self._context = context
        self.cluster_kv = context.kv  # unfenced: the election's and the standby's
        self._switch = threading.Lock()
        self._core: RoleComponent | None = None
        self._valid: Callable[[], bool] = lambda: False

    def activate(self, kv: MetaKV) -> None:
        """Build and start the core on ``kv`` (fenced by the election). Raises what the core's
        start raises."""
        with self._switch:
            self._context.kv = kv
            core = self._factory(self._context)
            core.start()
            self._valid = kv.guard.alive if kv.guard is not None else (lambda: True)
            self._core = core

    def deactivate(self) -> None:
        """Stop the core (idempotent); this instance stands by."""
        with self._switch:
            core, self._core = self._core, None
            self._valid = lambda: False
            self._context.kv = self.cluster_kv
        if core is not None:
            core.stop()

    @property
    def active(self) -> bool:
        return self._core is not None

    def read_if_active(self, read: Callable[[Any], _T], default: _T) -> _T:
        """``read(core)`` while a core is active, else ``default`` (what a standby reports for
        its role's metrics)."""
        core = self._core
        return read(core) if core is not None else default

    def current(self) -> RoleComponent:
        """The active core. Raises ServiceNotReady on a standby or an instance whose lease is
        in doubt."""
        core = self._core
        if core is None or not self._valid():
            raise ServiceNotReady(f"{self.role} {self.node_id} is a standby instance; ask the active one")
        return core

    def get_component_state(self, request: meta_pb2.Empty) -> meta_pb2.ComponentStateResponse:
        core = self._core
        if core is None or not self._valid():
            return meta_pb2.ComponentStateResponse(role=self.role, server_id=self.node_id, state=STANDBY_STATE)
        return core.get_component_state(request)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "_core" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.current(), name)

    def _stop(self) -> None:
        self.deactivate()


class _Dispatch:
    """The RPC methods of ``service``, each calling the same method of the active core."""

    def __init__(self, service: ServiceDescriptor, elected: ElectedCore) -> None:
        for method in service.methods:
            name = method_name(method.name)
            if name == "get_component_state":
                setattr(self, name, elected.get_component_state)
            else:
                setattr(self, name, _forward(elected, name))


def _forward(elected: ElectedCore, name: str) -> Callable[[Any], Any]:
    return lambda request: getattr(elected.current(), name)(request)


class ElectedServer(RoleServer):
    """A RoleServer whose instance is elected (``common.election``) instead of registering a
    plain session: only the active instance has the role's discoverable session."""

    logic: ElectedCore

    def _register(self) -> None:
        ttl = int(self.context.config.get("etcd", "coordinator_session_ttl_s"))
        info = SessionInfo.of_this_process(self.role, self.context.node_id, self.session_address(), self.address)
        self.election = ActiveStandby(self.logic.cluster_kv, info, ttl, self.logic.activate, self.logic.deactivate)
        self.election.start()

    def etcd_alive(self) -> bool:
        """Whether etcd renewed this instance's election lease within its TTL."""
        election = getattr(self, "election", None)
        return election is not None and election.lease_alive()

    def _unregister(self) -> None:
        election = getattr(self, "election", None)
        if election is not None:
            election.stop()


def serve_elected(role: str, factory: Callable[[RoleContext], RoleComponent], service: ServiceDescriptor,
                  context: RoleContext, host: str = "127.0.0.1", port: int = 0) -> ElectedServer:
    """The RoleServer of one instance of coordinator ``role``, whose core ``factory`` builds
    when elected; the core implements the Protocol of gRPC ``service``."""
    logic = ElectedCore(role, factory, context)
    return ElectedServer(logic, ProtocolService(service, _Dispatch(service, logic)).add_to, context,
                         host=host, port=port)
