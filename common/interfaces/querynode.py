"""QueryNode: reads over the shards it leads or holds segments for (the ``QueryNode`` service of
``proto/internal/querynode.proto``). The client sends these over the TCP hot path
(``common/fastrpc.py``) when the node serves one."""
from __future__ import annotations

from typing import Protocol

from common.interfaces.base import Role
from proto.internal import querynode_pb2


class QueryNode(Role, Protocol):
    """Contract: see ``common.interfaces.base`` (MilvusError only, NodeNotAvailable when
    unreachable, requests are not mutated). Both raise ChannelNotFound when the node does not
    serve ``scope.channel`` (as leader, or as worker for ``scope.segment_ids``)."""

    def search(self, request: querynode_pb2.ShardSearchRequest) -> querynode_pb2.ShardSearchResult:
        """Top-k of one shard at ``scope.read_ts``, its remote segments included."""
        ...

    def query(self, request: querynode_pb2.ShardQueryRequest) -> querynode_pb2.ShardQueryResult:
        """The matching rows (or only their count) of one shard at ``scope.read_ts``."""
        ...
