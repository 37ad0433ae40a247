"""The proxy role: the public Milvus API in front of the coordinators and query nodes."""
from __future__ import annotations

from common.component import Component
from common.runtime import RoleContext
from proxy.ddl import DdlTasks
from proxy.dml import DmlTasks
from proxy.env import ProxyEnv
from proxy.read import ReadTasks


class Proxy(Component):
    """Holds the task groups; the service delegates every RPC to one of them."""

    role = "proxy"

    def __init__(self, context: RoleContext) -> None:
        super().__init__()
        self.env = ProxyEnv(context)
        self.ddl = DdlTasks(self.env)
        self.read = ReadTasks(self.env)
        self.dml = DmlTasks(self.env, self.read)

    def _stop(self) -> None:
        self.env.router.close()
