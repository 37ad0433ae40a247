"""QueryNode's gRPC service: each method delegates to ``QueryNode``."""
from __future__ import annotations

from collections.abc import Callable

from common.rpc import guard_servicer
from nodes.querynode.core import QueryNode
from proto.internal import querynode_pb2, querynode_pb2_grpc
from proto.internal.meta_pb2 import ComponentStateResponse


@guard_servicer(querynode_pb2.DESCRIPTOR.services_by_name["QueryNode"])
class QueryNodeService(querynode_pb2_grpc.QueryNodeServicer):
    def __init__(self, core: QueryNode, fast_endpoint: Callable[[], str] = lambda: "") -> None:
        self._core = core
        self._fast_endpoint = fast_endpoint

    def GetComponentState(self, request, context):
        return ComponentStateResponse(role=self._core.role, server_id=self._core.node_id, state=self._core.state.value,
                                      fast_endpoint=self._fast_endpoint())

    def Search(self, request, context):
        return querynode_pb2.ShardSearchResult(results=self._core.search(request))

    def Query(self, request, context):
        fields_data, count = self._core.query(request)
        return querynode_pb2.ShardQueryResult(fields_data=fields_data, count=count)
