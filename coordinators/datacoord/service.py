"""DataCoord's gRPC service: each method delegates to ``DataCoord`` in a line or two."""
from __future__ import annotations

from common.rpc import guard_servicer
from common.status import success
from coordinators.datacoord.core import DataCoord
from proto.internal import datacoord_pb2, datacoord_pb2_grpc
from proto.internal.meta_pb2 import ComponentStateResponse


@guard_servicer(datacoord_pb2.DESCRIPTOR.services_by_name["DataCoord"])
class DataCoordService(datacoord_pb2_grpc.DataCoordServicer):
    def __init__(self, core: DataCoord, node_id: int) -> None:
        self._core = core
        self._node_id = node_id

    def GetComponentState(self, request, context):
        return ComponentStateResponse(role=self._core.role, server_id=self._node_id, state=self._core.state.value)

    def DataNodeHeartbeat(self, request, context):
        self._core.require_ready()
        return self._core.datanode_heartbeat(request.node_id, request.seals, request.channels)

    def SaveFlushResult(self, request, context):
        self._core.require_ready()
        self._core.save_flush_result(request)
        return success()

    def Flush(self, request, context):
        self._core.require_ready()
        flush_ts, flushed, sealed = self._core.flush(request.collection)
        return datacoord_pb2.FlushResponse(flush_ts=flush_ts, segment_ids=flushed, sealed_segment_ids=sealed)

    def GetFlushState(self, request, context):
        self._core.require_ready()
        return datacoord_pb2.GetFlushStateResponse(
            flushed=self._core.get_flush_state(request.collection_id, request.flush_ts))

    def DropCollection(self, request, context):
        self._core.require_ready()
        self._core.drop_collection(request.collection_id or request.collection.collection_id)
        return success()

    def GetRecoveryInfo(self, request, context):
        self._core.require_ready()
        return self._core.get_recovery_info(request.collection_id, request.collection)

    def GetStatistics(self, request, context):
        self._core.require_ready()
        return datacoord_pb2.StatisticsResponse(
            row_count=self._core.get_statistics(request.collection_id, request.collection, request.partition_ids))

    def CreateIndex(self, request, context):
        self._core.require_ready()
        self._core.create_index(request.collection, request.index)
        return success()

    def DescribeIndex(self, request, context):
        self._core.require_ready()
        indexes = self._core.describe_index(request.collection_id, request.index_name, request.field_name)
        return datacoord_pb2.DescribeIndexResponse(indexes=indexes)

    def DropIndex(self, request, context):
        self._core.require_ready()
        self._core.drop_index(request.collection_id, request.index_name, request.field_name)
        return success()

    def AcquireIndexTask(self, request, context):
        self._core.require_ready()
        return self._core.acquire_index_task(request.node_id)

    def ReportIndexTask(self, request, context):
        self._core.require_ready()
        self._core.report_index_task(request)
        return success()

    def DropPartition(self, request, context):
        self._core.require_ready()
        self._core.drop_partitions(request.collection_id or request.collection.collection_id, request.partition_ids)
        return success()

    def ReportCompaction(self, request, context):
        self._core.require_ready()
        self._core.report_compaction(request)
        return success()

    def ManualCompaction(self, request, context):
        self._core.require_ready()
        compaction_id, plans = self._core.manual_compaction(request)
        return datacoord_pb2.ManualCompactionResponse(compaction_id=compaction_id, plan_count=plans)

    def GetCompactionState(self, request, context):
        self._core.require_ready()
        return datacoord_pb2.CompactionStateResponse(tasks=self._core.compaction_tasks(request.compaction_id))

    def GetSegmentInfo(self, request, context):
        self._core.require_ready()
        segments = self._core.get_segment_info(request.collection_id or request.collection.collection_id)
        return datacoord_pb2.SegmentInfoResponse(segments=segments)
