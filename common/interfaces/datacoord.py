"""DataCoord: channel assignment to datanodes, segments, flush, index builds and compaction
(the ``DataCoord`` service of ``proto/internal/datacoord.proto``)."""
from __future__ import annotations

from typing import Protocol

from common.interfaces.base import Role
from proto.internal import datacoord_pb2


class DataCoord(Role, Protocol):
    """Contract: see ``common.interfaces.base`` (MilvusError only, NodeNotAvailable when
    unreachable, requests are not mutated). Every method but ``get_component_state`` raises
    ServiceNotReady until datacoord has loaded its state."""

    def data_node_heartbeat(self, request: datacoord_pb2.DataNodeHeartbeatRequest
                            ) -> datacoord_pb2.DataNodeHeartbeatResponse:
        """A datanode reports itself and its recent seals; answers the channels it must consume
        and the compaction plans of those channels."""
        ...

    def save_flush_result(self, request: datacoord_pb2.SaveFlushResultRequest) -> None:
        """A datanode persisted sealed segments / deletes of a channel up to a checkpoint."""
        ...

    def flush(self, request: datacoord_pb2.FlushRequest) -> datacoord_pb2.FlushResponse:
        """Seal every growing segment of the collection (a SealMsg on each channel)."""
        ...

    def get_flush_state(self, request: datacoord_pb2.GetFlushStateRequest) -> datacoord_pb2.GetFlushStateResponse:
        """Whether every channel of the collection is persisted up to ``flush_ts``."""
        ...

    def drop_collection(self, request: datacoord_pb2.CollectionRequest) -> None:
        """Forget a collection's segments and indexes, drop its channels and files (idempotent)."""
        ...

    def get_recovery_info(self, request: datacoord_pb2.CollectionRequest) -> datacoord_pb2.RecoveryInfo:
        """Flushed segments, delete logs, checkpoints and finished indexes of a collection."""
        ...

    def get_statistics(self, request: datacoord_pb2.CollectionRequest) -> datacoord_pb2.StatisticsResponse:
        """The persisted row count of a collection (or of ``partition_ids``)."""
        ...

    def create_index(self, request: datacoord_pb2.CreateIndexRequest) -> None:
        """Create an index (the same again succeeds). Raises ParameterInvalid, IndexDuplicate."""
        ...

    def describe_index(self, request: datacoord_pb2.DescribeIndexRequest) -> datacoord_pb2.DescribeIndexResponse:
        """The indexes of a collection (or the one named / on one field) with build progress.
        Raises IndexNotExist when a named one does not exist."""
        ...

    def drop_index(self, request: datacoord_pb2.DropIndexRequest) -> None:
        """Drop an index and its builds (no error when there is none)."""
        ...

    def acquire_index_task(self, request: datacoord_pb2.AcquireIndexTaskRequest
                           ) -> datacoord_pb2.AcquireIndexTaskResponse:
        """An indexnode asks for a build task (``has_task`` false when there is none)."""
        ...

    def report_index_task(self, request: datacoord_pb2.ReportIndexTaskRequest) -> None:
        """An indexnode reports a finished or failed build."""
        ...

    def drop_partition(self, request: datacoord_pb2.CollectionRequest) -> None:
        """Drop the data of ``partition_ids``: growing rows are discarded on every channel,
        flushed segments and their builds forgotten and their files removed."""
        ...

    def report_compaction(self, request: datacoord_pb2.ReportCompactionRequest) -> None:
        """A datanode reports the result of a compaction plan it ran (a duplicate is ignored)."""
        ...

    def manual_compaction(self, request: datacoord_pb2.ManualCompactionRequest
                          ) -> datacoord_pb2.ManualCompactionResponse:
        """Plan compactions of a collection's flushed segments (compaction_id -1: nothing to do)."""
        ...

    def get_compaction_state(self, request: datacoord_pb2.CompactionStateRequest
                             ) -> datacoord_pb2.CompactionStateResponse:
        """The plans of a compaction and their states."""
        ...

    def get_segment_info(self, request: datacoord_pb2.CollectionRequest) -> datacoord_pb2.SegmentInfoResponse:
        """The flushed segments of a collection."""
        ...
