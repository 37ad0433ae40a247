"""The proxy role: the public Milvus API in front of the coordinators and query nodes."""
from __future__ import annotations

from common.component import Component
from common.runtime import RoleContext
from proxy.aliases import AliasTasks
from proxy.balance import BalanceTasks
from proxy.calc_distance import CalcDistanceTask
from proxy.ddl import DdlTasks
from proxy.dml import DmlTasks
from proxy.env import ProxyEnv
from proxy.indexes import IndexTasks
from proxy.loading import LoadTasks
from proxy.metrics import MetricsTasks
from proxy.partitions import PartitionTasks
from proxy.read import ReadTasks
from proxy.segments import SegmentTasks


class Proxy(Component):
    """Holds the task groups; the service delegates every RPC to one of them."""

    role = "proxy"

    def __init__(self, context: RoleContext) -> None:
        super().__init__()
        self.env = ProxyEnv(context)
        self.load = LoadTasks(self.env)
        self.ddl = DdlTasks(self.env, self.load)
        self.partitions = PartitionTasks(self.env, self.load)
        self.aliases = AliasTasks(self.env)
        self.index = IndexTasks(self.env, self.load)
        self.read = ReadTasks(self.env)
        self.dml = DmlTasks(self.env, self.read)
        self.calc = CalcDistanceTask(self.env, self.read)
        self.segments = SegmentTasks(self.env)
        self.metrics = MetricsTasks(self.env)
        self.balance = BalanceTasks(self.env)

    def _stop(self) -> None:
        self.env.cache.close()
        self.env.router.close()
