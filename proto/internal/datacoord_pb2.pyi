from proto.milvus import common_pb2 as _common_pb2
from proto.internal import meta_pb2 as _meta_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CompactionTaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPACTION_STATE_NONE: _ClassVar[CompactionTaskState]
    COMPACTION_EXECUTING: _ClassVar[CompactionTaskState]
    COMPACTION_INDEXING: _ClassVar[CompactionTaskState]
    COMPACTION_COMPLETED: _ClassVar[CompactionTaskState]
    COMPACTION_FAILED: _ClassVar[CompactionTaskState]
COMPACTION_STATE_NONE: CompactionTaskState
COMPACTION_EXECUTING: CompactionTaskState
COMPACTION_INDEXING: CompactionTaskState
COMPACTION_COMPLETED: CompactionTaskState
COMPACTION_FAILED: CompactionTaskState

class CollectionRequest(_message.Message):
    __slots__ = ("collection", "collection_id", "partition_ids", "replica_number")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_IDS_FIELD_NUMBER: _ClassVar[int]
    REPLICA_NUMBER_FIELD_NUMBER: _ClassVar[int]
    collection: _meta_pb2.CollectionInfo
    collection_id: int
    partition_ids: _containers.RepeatedScalarFieldContainer[int]
    replica_number: int
    def __init__(self, collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ..., collection_id: _Optional[int] = ..., partition_ids: _Optional[_Iterable[int]] = ..., replica_number: _Optional[int] = ...) -> None: ...

class ChannelWatch(_message.Message):
    __slots__ = ("collection", "channel", "checkpoint", "flushed_segment_ids", "flushed_ranges", "flushed_offset")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    FLUSHED_SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    FLUSHED_RANGES_FIELD_NUMBER: _ClassVar[int]
    FLUSHED_OFFSET_FIELD_NUMBER: _ClassVar[int]
    collection: _meta_pb2.CollectionInfo
    channel: str
    checkpoint: _meta_pb2.ChannelCheckpoint
    flushed_segment_ids: _containers.RepeatedScalarFieldContainer[int]
    flushed_ranges: _containers.RepeatedCompositeFieldContainer[SegmentRange]
    flushed_offset: int
    def __init__(self, collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ..., channel: _Optional[str] = ..., checkpoint: _Optional[_Union[_meta_pb2.ChannelCheckpoint, _Mapping]] = ..., flushed_segment_ids: _Optional[_Iterable[int]] = ..., flushed_ranges: _Optional[_Iterable[_Union[SegmentRange, _Mapping]]] = ..., flushed_offset: _Optional[int] = ...) -> None: ...

class SegmentRange(_message.Message):
    __slots__ = ("segment_id", "partition_id", "start_offset", "seal_offset", "compacted_to", "channel")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    SEAL_OFFSET_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_TO_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    partition_id: int
    start_offset: int
    seal_offset: int
    compacted_to: int
    channel: str
    def __init__(self, segment_id: _Optional[int] = ..., partition_id: _Optional[int] = ..., start_offset: _Optional[int] = ..., seal_offset: _Optional[int] = ..., compacted_to: _Optional[int] = ..., channel: _Optional[str] = ...) -> None: ...

class ChannelRecord(_message.Message):
    __slots__ = ("channel", "collection_id", "node_id", "flushed_offset")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FLUSHED_OFFSET_FIELD_NUMBER: _ClassVar[int]
    channel: str
    collection_id: int
    node_id: int
    flushed_offset: int
    def __init__(self, channel: _Optional[str] = ..., collection_id: _Optional[int] = ..., node_id: _Optional[int] = ..., flushed_offset: _Optional[int] = ...) -> None: ...

class DataNodeHeartbeatRequest(_message.Message):
    __slots__ = ("node_id", "seals", "channels", "growing")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SEALS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    GROWING_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    seals: _containers.RepeatedCompositeFieldContainer[SealReport]
    channels: _containers.RepeatedScalarFieldContainer[str]
    growing: _containers.RepeatedCompositeFieldContainer[GrowingSegmentReport]
    def __init__(self, node_id: _Optional[int] = ..., seals: _Optional[_Iterable[_Union[SealReport, _Mapping]]] = ..., channels: _Optional[_Iterable[str]] = ..., growing: _Optional[_Iterable[_Union[GrowingSegmentReport, _Mapping]]] = ...) -> None: ...

class GrowingSegmentReport(_message.Message):
    __slots__ = ("channel", "segment_id", "partition_id", "num_rows")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_ROWS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    segment_id: int
    partition_id: int
    num_rows: int
    def __init__(self, channel: _Optional[str] = ..., segment_id: _Optional[int] = ..., partition_id: _Optional[int] = ..., num_rows: _Optional[int] = ...) -> None: ...

class SealReport(_message.Message):
    __slots__ = ("channel", "offset", "segment_ids")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    offset: int
    segment_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, channel: _Optional[str] = ..., offset: _Optional[int] = ..., segment_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class DataNodeHeartbeatResponse(_message.Message):
    __slots__ = ("status", "channels", "segment_max_rows", "compactions")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_MAX_ROWS_FIELD_NUMBER: _ClassVar[int]
    COMPACTIONS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    channels: _containers.RepeatedCompositeFieldContainer[ChannelWatch]
    segment_max_rows: int
    compactions: _containers.RepeatedCompositeFieldContainer[CompactionPlan]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., channels: _Optional[_Iterable[_Union[ChannelWatch, _Mapping]]] = ..., segment_max_rows: _Optional[int] = ..., compactions: _Optional[_Iterable[_Union[CompactionPlan, _Mapping]]] = ...) -> None: ...

class SaveFlushResultRequest(_message.Message):
    __slots__ = ("node_id", "channel", "collection_id", "segments", "delta_logs", "checkpoint", "seal_offset")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    DELTA_LOGS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    SEAL_OFFSET_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    channel: str
    collection_id: int
    segments: _containers.RepeatedCompositeFieldContainer[_meta_pb2.SegmentInfo]
    delta_logs: _containers.RepeatedCompositeFieldContainer[_meta_pb2.DeltaLogInfo]
    checkpoint: _meta_pb2.ChannelCheckpoint
    seal_offset: int
    def __init__(self, node_id: _Optional[int] = ..., channel: _Optional[str] = ..., collection_id: _Optional[int] = ..., segments: _Optional[_Iterable[_Union[_meta_pb2.SegmentInfo, _Mapping]]] = ..., delta_logs: _Optional[_Iterable[_Union[_meta_pb2.DeltaLogInfo, _Mapping]]] = ..., checkpoint: _Optional[_Union[_meta_pb2.ChannelCheckpoint, _Mapping]] = ..., seal_offset: _Optional[int] = ...) -> None: ...

class FlushRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: _meta_pb2.CollectionInfo
    def __init__(self, collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ...) -> None: ...

class FlushResponse(_message.Message):
    __slots__ = ("status", "flush_ts", "segment_ids", "sealed_segment_ids")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FLUSH_TS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    SEALED_SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    flush_ts: int
    segment_ids: _containers.RepeatedScalarFieldContainer[int]
    sealed_segment_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., flush_ts: _Optional[int] = ..., segment_ids: _Optional[_Iterable[int]] = ..., sealed_segment_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class GetFlushStateRequest(_message.Message):
    __slots__ = ("collection_id", "flush_ts")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FLUSH_TS_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    flush_ts: int
    def __init__(self, collection_id: _Optional[int] = ..., flush_ts: _Optional[int] = ...) -> None: ...

class GetFlushStateResponse(_message.Message):
    __slots__ = ("status", "flushed")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FLUSHED_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    flushed: bool
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., flushed: _Optional[bool] = ...) -> None: ...

class SegmentWithIndex(_message.Message):
    __slots__ = ("segment", "indexes")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    segment: _meta_pb2.SegmentInfo
    indexes: _containers.RepeatedCompositeFieldContainer[_meta_pb2.SegmentIndexInfo]
    def __init__(self, segment: _Optional[_Union[_meta_pb2.SegmentInfo, _Mapping]] = ..., indexes: _Optional[_Iterable[_Union[_meta_pb2.SegmentIndexInfo, _Mapping]]] = ...) -> None: ...

class RecoveryInfo(_message.Message):
    __slots__ = ("status", "segments", "delta_logs", "checkpoints", "indexes", "segment_ranges")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    DELTA_LOGS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_RANGES_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    segments: _containers.RepeatedCompositeFieldContainer[SegmentWithIndex]
    delta_logs: _containers.RepeatedCompositeFieldContainer[_meta_pb2.DeltaLogInfo]
    checkpoints: _containers.RepeatedCompositeFieldContainer[_meta_pb2.ChannelCheckpoint]
    indexes: _containers.RepeatedCompositeFieldContainer[_meta_pb2.IndexInfo]
    segment_ranges: _containers.RepeatedCompositeFieldContainer[SegmentRange]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[SegmentWithIndex, _Mapping]]] = ..., delta_logs: _Optional[_Iterable[_Union[_meta_pb2.DeltaLogInfo, _Mapping]]] = ..., checkpoints: _Optional[_Iterable[_Union[_meta_pb2.ChannelCheckpoint, _Mapping]]] = ..., indexes: _Optional[_Iterable[_Union[_meta_pb2.IndexInfo, _Mapping]]] = ..., segment_ranges: _Optional[_Iterable[_Union[SegmentRange, _Mapping]]] = ...) -> None: ...

class StatisticsResponse(_message.Message):
    __slots__ = ("status", "row_count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    row_count: int
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., row_count: _Optional[int] = ...) -> None: ...

class CreateIndexRequest(_message.Message):
    __slots__ = ("collection", "index")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    collection: _meta_pb2.CollectionInfo
    index: _meta_pb2.IndexInfo
    def __init__(self, collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ..., index: _Optional[_Union[_meta_pb2.IndexInfo, _Mapping]] = ...) -> None: ...

class DescribeIndexRequest(_message.Message):
    __slots__ = ("collection_id", "index_name", "field_name")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    index_name: str
    field_name: str
    def __init__(self, collection_id: _Optional[int] = ..., index_name: _Optional[str] = ..., field_name: _Optional[str] = ...) -> None: ...

class IndexProgress(_message.Message):
    __slots__ = ("index", "state", "indexed_rows", "total_rows", "fail_reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INDEXED_ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ROWS_FIELD_NUMBER: _ClassVar[int]
    FAIL_REASON_FIELD_NUMBER: _ClassVar[int]
    index: _meta_pb2.IndexInfo
    state: _common_pb2.IndexState
    indexed_rows: int
    total_rows: int
    fail_reason: str
    def __init__(self, index: _Optional[_Union[_meta_pb2.IndexInfo, _Mapping]] = ..., state: _Optional[_Union[_common_pb2.IndexState, str]] = ..., indexed_rows: _Optional[int] = ..., total_rows: _Optional[int] = ..., fail_reason: _Optional[str] = ...) -> None: ...

class DescribeIndexResponse(_message.Message):
    __slots__ = ("status", "indexes")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    indexes: _containers.RepeatedCompositeFieldContainer[IndexProgress]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., indexes: _Optional[_Iterable[_Union[IndexProgress, _Mapping]]] = ...) -> None: ...

class DropIndexRequest(_message.Message):
    __slots__ = ("collection_id", "index_name", "field_name")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    index_name: str
    field_name: str
    def __init__(self, collection_id: _Optional[int] = ..., index_name: _Optional[str] = ..., field_name: _Optional[str] = ...) -> None: ...

class AcquireIndexTaskRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    def __init__(self, node_id: _Optional[int] = ...) -> None: ...

class AcquireIndexTaskResponse(_message.Message):
    __slots__ = ("status", "has_task", "build_id", "segment", "index", "collection")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HAS_TASK_FIELD_NUMBER: _ClassVar[int]
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    has_task: bool
    build_id: int
    segment: _meta_pb2.SegmentInfo
    index: _meta_pb2.IndexInfo
    collection: _meta_pb2.CollectionInfo
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., has_task: _Optional[bool] = ..., build_id: _Optional[int] = ..., segment: _Optional[_Union[_meta_pb2.SegmentInfo, _Mapping]] = ..., index: _Optional[_Union[_meta_pb2.IndexInfo, _Mapping]] = ..., collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ...) -> None: ...

class ReportIndexTaskRequest(_message.Message):
    __slots__ = ("node_id", "build_id", "state", "index_path", "fail_reason")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INDEX_PATH_FIELD_NUMBER: _ClassVar[int]
    FAIL_REASON_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    build_id: int
    state: _common_pb2.IndexState
    index_path: str
    fail_reason: str
    def __init__(self, node_id: _Optional[int] = ..., build_id: _Optional[int] = ..., state: _Optional[_Union[_common_pb2.IndexState, str]] = ..., index_path: _Optional[str] = ..., fail_reason: _Optional[str] = ...) -> None: ...

class CompactionPlan(_message.Message):
    __slots__ = ("plan_id", "compaction_id", "collection", "partition_id", "channel", "sources", "delta_logs", "target_id")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    COMPACTION_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    DELTA_LOGS_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: int
    compaction_id: int
    collection: _meta_pb2.CollectionInfo
    partition_id: int
    channel: str
    sources: _containers.RepeatedCompositeFieldContainer[_meta_pb2.SegmentInfo]
    delta_logs: _containers.RepeatedCompositeFieldContainer[_meta_pb2.DeltaLogInfo]
    target_id: int
    def __init__(self, plan_id: _Optional[int] = ..., compaction_id: _Optional[int] = ..., collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ..., partition_id: _Optional[int] = ..., channel: _Optional[str] = ..., sources: _Optional[_Iterable[_Union[_meta_pb2.SegmentInfo, _Mapping]]] = ..., delta_logs: _Optional[_Iterable[_Union[_meta_pb2.DeltaLogInfo, _Mapping]]] = ..., target_id: _Optional[int] = ...) -> None: ...

class CompactionTask(_message.Message):
    __slots__ = ("compaction_id", "plan_id", "collection_id", "partition_id", "channel", "sources", "target_id", "state", "fail_reason", "start_ts", "target_rows", "sources_removed", "delta_until")
    COMPACTION_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAIL_REASON_FIELD_NUMBER: _ClassVar[int]
    START_TS_FIELD_NUMBER: _ClassVar[int]
    TARGET_ROWS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    DELTA_UNTIL_FIELD_NUMBER: _ClassVar[int]
    compaction_id: int
    plan_id: int
    collection_id: int
    partition_id: int
    channel: str
    sources: _containers.RepeatedScalarFieldContainer[int]
    target_id: int
    state: CompactionTaskState
    fail_reason: str
    start_ts: int
    target_rows: int
    sources_removed: bool
    delta_until: str
    def __init__(self, compaction_id: _Optional[int] = ..., plan_id: _Optional[int] = ..., collection_id: _Optional[int] = ..., partition_id: _Optional[int] = ..., channel: _Optional[str] = ..., sources: _Optional[_Iterable[int]] = ..., target_id: _Optional[int] = ..., state: _Optional[_Union[CompactionTaskState, str]] = ..., fail_reason: _Optional[str] = ..., start_ts: _Optional[int] = ..., target_rows: _Optional[int] = ..., sources_removed: _Optional[bool] = ..., delta_until: _Optional[str] = ...) -> None: ...

class ReportCompactionRequest(_message.Message):
    __slots__ = ("node_id", "plan_id", "success", "fail_reason", "target")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    FAIL_REASON_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    plan_id: int
    success: bool
    fail_reason: str
    target: _meta_pb2.SegmentInfo
    def __init__(self, node_id: _Optional[int] = ..., plan_id: _Optional[int] = ..., success: _Optional[bool] = ..., fail_reason: _Optional[str] = ..., target: _Optional[_Union[_meta_pb2.SegmentInfo, _Mapping]] = ...) -> None: ...

class ManualCompactionRequest(_message.Message):
    __slots__ = ("collection", "partition_id", "channel", "segment_ids", "target_size_mb")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    TARGET_SIZE_MB_FIELD_NUMBER: _ClassVar[int]
    collection: _meta_pb2.CollectionInfo
    partition_id: int
    channel: str
    segment_ids: _containers.RepeatedScalarFieldContainer[int]
    target_size_mb: int
    def __init__(self, collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ..., partition_id: _Optional[int] = ..., channel: _Optional[str] = ..., segment_ids: _Optional[_Iterable[int]] = ..., target_size_mb: _Optional[int] = ...) -> None: ...

class ManualCompactionResponse(_message.Message):
    __slots__ = ("status", "compaction_id", "plan_count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPACTION_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_COUNT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    compaction_id: int
    plan_count: int
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., compaction_id: _Optional[int] = ..., plan_count: _Optional[int] = ...) -> None: ...

class CompactionStateRequest(_message.Message):
    __slots__ = ("compaction_id",)
    COMPACTION_ID_FIELD_NUMBER: _ClassVar[int]
    compaction_id: int
    def __init__(self, compaction_id: _Optional[int] = ...) -> None: ...

class CompactionStateResponse(_message.Message):
    __slots__ = ("status", "tasks")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    tasks: _containers.RepeatedCompositeFieldContainer[CompactionTask]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[CompactionTask, _Mapping]]] = ...) -> None: ...

class SegmentInfoResponse(_message.Message):
    __slots__ = ("status", "segments")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    segments: _containers.RepeatedCompositeFieldContainer[_meta_pb2.SegmentInfo]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_meta_pb2.SegmentInfo, _Mapping]]] = ...) -> None: ...
