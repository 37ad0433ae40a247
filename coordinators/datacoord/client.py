"""DataCoord over gRPC: the ``DataCoord`` Protocol (common/interfaces/datacoord.py) as a client."""
from __future__ import annotations

from collections.abc import Callable

from common.rpc import DEFAULT_TIMEOUT_S, RpcClient
from proto.internal import datacoord_pb2, datacoord_pb2_grpc, meta_pb2


class DataCoordClient(RpcClient):
    """``address``: the node's, or a function finding the coordinator (see ``RpcClient``)."""

    def __init__(self, address: str | Callable[[], str], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(datacoord_pb2_grpc.DataCoordStub, address, timeout_s)

    def get_component_state(self, request: meta_pb2.Empty) -> meta_pb2.ComponentStateResponse:
        return self._call(lambda s: s.GetComponentState, request)

    def data_node_heartbeat(self, request: datacoord_pb2.DataNodeHeartbeatRequest
                            ) -> datacoord_pb2.DataNodeHeartbeatResponse:
        return self._call(lambda s: s.DataNodeHeartbeat, request)

    def save_flush_result(self, request: datacoord_pb2.SaveFlushResultRequest) -> None:
        self._call(lambda s: s.SaveFlushResult, request)

    def flush(self, request: datacoord_pb2.FlushRequest) -> datacoord_pb2.FlushResponse:
        return self._call(lambda s: s.Flush, request)

    def get_flush_state(self, request: datacoord_pb2.GetFlushStateRequest) -> datacoord_pb2.GetFlushStateResponse:
        return self._call(lambda s: s.GetFlushState, request)

    def drop_collection(self, request: datacoord_pb2.CollectionRequest) -> None:
        self._call(lambda s: s.DropCollection, request)

    def get_recovery_info(self, request: datacoord_pb2.CollectionRequest) -> datacoord_pb2.RecoveryInfo:
        return self._call(lambda s: s.GetRecoveryInfo, request)

    def get_statistics(self, request: datacoord_pb2.CollectionRequest) -> datacoord_pb2.StatisticsResponse:
        return self._call(lambda s: s.GetStatistics, request)

    def create_index(self, request: datacoord_pb2.CreateIndexRequest) -> None:
        self._call(lambda s: s.CreateIndex, request)

    def describe_index(self, request: datacoord_pb2.DescribeIndexRequest) -> datacoord_pb2.DescribeIndexResponse:
        return self._call(lambda s: s.DescribeIndex, request)

    def drop_index(self, request: datacoord_pb2.DropIndexRequest) -> None:
        self._call(lambda s: s.DropIndex, request)

    def acquire_index_task(self, request: datacoord_pb2.AcquireIndexTaskRequest
                           ) -> datacoord_pb2.AcquireIndexTaskResponse:
        return self._call(lambda s: s.AcquireIndexTask, request)

    def report_index_task(self, request: datacoord_pb2.ReportIndexTaskRequest) -> None:
        self._call(lambda s: s.ReportIndexTask, request)

    def drop_partition(self, request: datacoord_pb2.CollectionRequest) -> None:
        self._call(lambda s: s.DropPartition, request)

    def report_compaction(self, request: datacoord_pb2.ReportCompactionRequest) -> None:
        self._call(lambda s: s.ReportCompaction, request)

    def manual_compaction(self, request: datacoord_pb2.ManualCompactionRequest
                          ) -> datacoord_pb2.ManualCompactionResponse:
        return self._call(lambda s: s.ManualCompaction, request)

    def get_compaction_state(self, request: datacoord_pb2.CompactionStateRequest
                             ) -> datacoord_pb2.CompactionStateResponse:
        return self._call(lambda s: s.GetCompactionState, request)

    def get_segment_info(self, request: datacoord_pb2.CollectionRequest) -> datacoord_pb2.SegmentInfoResponse:
        return self._call(lambda s: s.GetSegmentInfo, request)
