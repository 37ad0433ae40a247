"""QueryCoord's gRPC service: each method delegates to ``QueryCoord`` in a line or two."""
from __future__ import annotations

from common.rpc import guard_servicer
from common.status import success
from coordinators.querycoord.core import QueryCoord
from proto.internal import querycoord_pb2, querycoord_pb2_grpc
from proto.internal.meta_pb2 import ComponentStateResponse


@guard_servicer(querycoord_pb2.DESCRIPTOR.services_by_name["QueryCoord"])
class QueryCoordService(querycoord_pb2_grpc.QueryCoordServicer):
    def __init__(self, core: QueryCoord, node_id: int) -> None:
        self._core = core
        self._node_id = node_id

    def GetComponentState(self, request, context):
        return ComponentStateResponse(role=self._core.role, server_id=self._node_id, state=self._core.state.value)

    def LoadCollection(self, request, context):
        self._core.load_collection(request)
        return success()

    def ReleaseCollection(self, request, context):
        self._core.release_collection(request.collection_id or request.collection.collection_id)
        return success()

    def GetLoadProgress(self, request, context):
        loaded, progress = self._core.get_load_progress(request.collection_id or request.collection.collection_id)
        return querycoord_pb2.LoadProgressResponse(loaded=loaded, progress=progress)

    def GetShardLeaders(self, request, context):
        leaders = self._core.get_shard_leaders(request.collection_id or request.collection.collection_id)
        return querycoord_pb2.ShardLeadersResponse(leaders=leaders)

    def QueryNodeHeartbeat(self, request, context):
        return querycoord_pb2.QueryNodeHeartbeatResponse(targets=self._core.heartbeat(request))

    def LoadPartitions(self, request, context):
        self._core.load_partitions(request)
        return success()

    def ReleasePartitions(self, request, context):
        self._core.release_partitions(request)
        return success()

    def ShowLoaded(self, request, context):
        collections = self._core.show_loaded(list(request.collection_ids), list(request.partition_ids))
        return querycoord_pb2.ShowLoadedResponse(collections=collections)

    def GetSegmentInfo(self, request, context):
        segments = self._core.segment_info(request.collection_id or request.collection.collection_id)
        return querycoord_pb2.LoadedSegmentsResponse(segments=segments)

    def LoadBalance(self, request, context):
        return self._core.load_balance(request)
