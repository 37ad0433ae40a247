from proto.milvus import common_pb2 as _common_pb2
from proto.internal import meta_pb2 as _meta_pb2
from proto.internal import datacoord_pb2 as _datacoord_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LoadProgressResponse(_message.Message):
    __slots__ = ("status", "loaded", "progress")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    loaded: bool
    progress: int
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., loaded: _Optional[bool] = ..., progress: _Optional[int] = ...) -> None: ...

class ShardLeader(_message.Message):
    __slots__ = ("channel", "node_id", "address", "replica_id")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    channel: str
    node_id: int
    address: str
    replica_id: int
    def __init__(self, channel: _Optional[str] = ..., node_id: _Optional[int] = ..., address: _Optional[str] = ..., replica_id: _Optional[int] = ...) -> None: ...

class ShardLeadersResponse(_message.Message):
    __slots__ = ("status", "leaders")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LEADERS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    leaders: _containers.RepeatedCompositeFieldContainer[ShardLeader]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., leaders: _Optional[_Iterable[_Union[ShardLeader, _Mapping]]] = ...) -> None: ...

class ChannelStatus(_message.Message):
    __slots__ = ("channel", "collection_id", "serviceable", "partition_load", "partition_ids", "worker", "routed", "index_ids")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICEABLE_FIELD_NUMBER: _ClassVar[int]
    PARTITION_LOAD_FIELD_NUMBER: _ClassVar[int]
    PARTITION_IDS_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    ROUTED_FIELD_NUMBER: _ClassVar[int]
    INDEX_IDS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    collection_id: int
    serviceable: bool
    partition_load: bool
    partition_ids: _containers.RepeatedScalarFieldContainer[int]
    worker: bool
    routed: _containers.RepeatedCompositeFieldContainer[RemoteSegment]
    index_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, channel: _Optional[str] = ..., collection_id: _Optional[int] = ..., serviceable: _Optional[bool] = ..., partition_load: _Optional[bool] = ..., partition_ids: _Optional[_Iterable[int]] = ..., worker: _Optional[bool] = ..., routed: _Optional[_Iterable[_Union[RemoteSegment, _Mapping]]] = ..., index_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class RemoteSegment(_message.Message):
    __slots__ = ("segment_id", "node_id", "address", "partition_id")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    node_id: int
    address: str
    partition_id: int
    def __init__(self, segment_id: _Optional[int] = ..., node_id: _Optional[int] = ..., address: _Optional[str] = ..., partition_id: _Optional[int] = ...) -> None: ...

class QueryNodeHeartbeatRequest(_message.Message):
    __slots__ = ("node_id", "address", "channels", "sealed_segment_ids", "indexed_build_ids", "segments")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SEALED_SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    INDEXED_BUILD_IDS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    address: str
    channels: _containers.RepeatedCompositeFieldContainer[ChannelStatus]
    sealed_segment_ids: _containers.RepeatedScalarFieldContainer[int]
    indexed_build_ids: _containers.RepeatedScalarFieldContainer[int]
    segments: _containers.RepeatedCompositeFieldContainer[LoadedSegment]
    def __init__(self, node_id: _Optional[int] = ..., address: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[ChannelStatus, _Mapping]]] = ..., sealed_segment_ids: _Optional[_Iterable[int]] = ..., indexed_build_ids: _Optional[_Iterable[int]] = ..., segments: _Optional[_Iterable[_Union[LoadedSegment, _Mapping]]] = ...) -> None: ...

class LoadedSegment(_message.Message):
    __slots__ = ("segment_id", "collection_id", "partition_id", "channel", "num_rows", "mem_size", "index_id", "index_name", "node_id")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NUM_ROWS_FIELD_NUMBER: _ClassVar[int]
    MEM_SIZE_FIELD_NUMBER: _ClassVar[int]
    INDEX_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    collection_id: int
    partition_id: int
    channel: str
    num_rows: int
    mem_size: int
    index_id: int
    index_name: str
    node_id: int
    def __init__(self, segment_id: _Optional[int] = ..., collection_id: _Optional[int] = ..., partition_id: _Optional[int] = ..., channel: _Optional[str] = ..., num_rows: _Optional[int] = ..., mem_size: _Optional[int] = ..., index_id: _Optional[int] = ..., index_name: _Optional[str] = ..., node_id: _Optional[int] = ...) -> None: ...

class LoadedSegmentsResponse(_message.Message):
    __slots__ = ("status", "segments")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    segments: _containers.RepeatedCompositeFieldContainer[LoadedSegment]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[LoadedSegment, _Mapping]]] = ...) -> None: ...

class ChannelTarget(_message.Message):
    __slots__ = ("collection", "channel", "checkpoint", "delta_logs", "sealed_segments", "indexes", "segment_ranges", "partition_load", "partition_ids", "worker", "remote_segments")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    DELTA_LOGS_FIELD_NUMBER: _ClassVar[int]
    SEALED_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_RANGES_FIELD_NUMBER: _ClassVar[int]
    PARTITION_LOAD_FIELD_NUMBER: _ClassVar[int]
    PARTITION_IDS_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    REMOTE_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    collection: _meta_pb2.CollectionInfo
    channel: str
    checkpoint: _meta_pb2.ChannelCheckpoint
    delta_logs: _containers.RepeatedCompositeFieldContainer[_meta_pb2.DeltaLogInfo]
    sealed_segments: _containers.RepeatedCompositeFieldContainer[_datacoord_pb2.SegmentWithIndex]
    indexes: _containers.RepeatedCompositeFieldContainer[_meta_pb2.IndexInfo]
    segment_ranges: _containers.RepeatedCompositeFieldContainer[_datacoord_pb2.SegmentRange]
    partition_load: bool
    partition_ids: _containers.RepeatedScalarFieldContainer[int]
    worker: bool
    remote_segments: _containers.RepeatedCompositeFieldContainer[RemoteSegment]
    def __init__(self, collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ..., channel: _Optional[str] = ..., checkpoint: _Optional[_Union[_meta_pb2.ChannelCheckpoint, _Mapping]] = ..., delta_logs: _Optional[_Iterable[_Union[_meta_pb2.DeltaLogInfo, _Mapping]]] = ..., sealed_segments: _Optional[_Iterable[_Union[_datacoord_pb2.SegmentWithIndex, _Mapping]]] = ..., indexes: _Optional[_Iterable[_Union[_meta_pb2.IndexInfo, _Mapping]]] = ..., segment_ranges: _Optional[_Iterable[_Union[_datacoord_pb2.SegmentRange, _Mapping]]] = ..., partition_load: _Optional[bool] = ..., partition_ids: _Optional[_Iterable[int]] = ..., worker: _Optional[bool] = ..., remote_segments: _Optional[_Iterable[_Union[RemoteSegment, _Mapping]]] = ...) -> None: ...

class QueryNodeHeartbeatResponse(_message.Message):
    __slots__ = ("status", "targets")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    targets: _containers.RepeatedCompositeFieldContainer[ChannelTarget]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., targets: _Optional[_Iterable[_Union[ChannelTarget, _Mapping]]] = ...) -> None: ...

class ChannelAssignment(_message.Message):
    __slots__ = ("channel", "node_id")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    channel: str
    node_id: int
    def __init__(self, channel: _Optional[str] = ..., node_id: _Optional[int] = ...) -> None: ...

class CollectionLoadInfo(_message.Message):
    __slots__ = ("collection", "assignments", "fully_loaded", "load_time_ms", "partition_load", "partition_ids", "placements", "replicas")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    FULLY_LOADED_FIELD_NUMBER: _ClassVar[int]
    LOAD_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    PARTITION_LOAD_FIELD_NUMBER: _ClassVar[int]
    PARTITION_IDS_FIELD_NUMBER: _ClassVar[int]
    PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    collection: _meta_pb2.CollectionInfo
    assignments: _containers.RepeatedCompositeFieldContainer[ChannelAssignment]
    fully_loaded: bool
    load_time_ms: int
    partition_load: bool
    partition_ids: _containers.RepeatedScalarFieldContainer[int]
    placements: _containers.RepeatedCompositeFieldContainer[SegmentPlacement]
    replicas: _containers.RepeatedCompositeFieldContainer[Replica]
    def __init__(self, collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ..., assignments: _Optional[_Iterable[_Union[ChannelAssignment, _Mapping]]] = ..., fully_loaded: _Optional[bool] = ..., load_time_ms: _Optional[int] = ..., partition_load: _Optional[bool] = ..., partition_ids: _Optional[_Iterable[int]] = ..., placements: _Optional[_Iterable[_Union[SegmentPlacement, _Mapping]]] = ..., replicas: _Optional[_Iterable[_Union[Replica, _Mapping]]] = ...) -> None: ...

class Replica(_message.Message):
    __slots__ = ("replica_id", "node_ids", "assignments", "placements")
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    replica_id: int
    node_ids: _containers.RepeatedScalarFieldContainer[int]
    assignments: _containers.RepeatedCompositeFieldContainer[ChannelAssignment]
    placements: _containers.RepeatedCompositeFieldContainer[SegmentPlacement]
    def __init__(self, replica_id: _Optional[int] = ..., node_ids: _Optional[_Iterable[int]] = ..., assignments: _Optional[_Iterable[_Union[ChannelAssignment, _Mapping]]] = ..., placements: _Optional[_Iterable[_Union[SegmentPlacement, _Mapping]]] = ...) -> None: ...

class ReplicaView(_message.Message):
    __slots__ = ("replica_id", "node_ids", "partition_ids", "shards")
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    PARTITION_IDS_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    replica_id: int
    node_ids: _containers.RepeatedScalarFieldContainer[int]
    partition_ids: _containers.RepeatedScalarFieldContainer[int]
    shards: _containers.RepeatedCompositeFieldContainer[ShardReplicaView]
    def __init__(self, replica_id: _Optional[int] = ..., node_ids: _Optional[_Iterable[int]] = ..., partition_ids: _Optional[_Iterable[int]] = ..., shards: _Optional[_Iterable[_Union[ShardReplicaView, _Mapping]]] = ...) -> None: ...

class ShardReplicaView(_message.Message):
    __slots__ = ("channel", "leader_id", "leader_address", "node_ids")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    leader_id: int
    leader_address: str
    node_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, channel: _Optional[str] = ..., leader_id: _Optional[int] = ..., leader_address: _Optional[str] = ..., node_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class ReplicasResponse(_message.Message):
    __slots__ = ("status", "replicas")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaView]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., replicas: _Optional[_Iterable[_Union[ReplicaView, _Mapping]]] = ...) -> None: ...

class SegmentPlacement(_message.Message):
    __slots__ = ("segment_id", "channel", "node_id", "moving_to", "releasing_from")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    MOVING_TO_FIELD_NUMBER: _ClassVar[int]
    RELEASING_FROM_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    channel: str
    node_id: int
    moving_to: int
    releasing_from: int
    def __init__(self, segment_id: _Optional[int] = ..., channel: _Optional[str] = ..., node_id: _Optional[int] = ..., moving_to: _Optional[int] = ..., releasing_from: _Optional[int] = ...) -> None: ...

class LoadBalanceRequest(_message.Message):
    __slots__ = ("collection_id", "source_node_id", "target_node_ids", "segment_ids", "timeout_s")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    source_node_id: int
    target_node_ids: _containers.RepeatedScalarFieldContainer[int]
    segment_ids: _containers.RepeatedScalarFieldContainer[int]
    timeout_s: float
    def __init__(self, collection_id: _Optional[int] = ..., source_node_id: _Optional[int] = ..., target_node_ids: _Optional[_Iterable[int]] = ..., segment_ids: _Optional[_Iterable[int]] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class LoadBalanceResponse(_message.Message):
    __slots__ = ("status", "moves", "done")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MOVES_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    moves: _containers.RepeatedCompositeFieldContainer[SegmentPlacement]
    done: bool
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., moves: _Optional[_Iterable[_Union[SegmentPlacement, _Mapping]]] = ..., done: _Optional[bool] = ...) -> None: ...

class ShowLoadedRequest(_message.Message):
    __slots__ = ("collection_ids", "partition_ids")
    COLLECTION_IDS_FIELD_NUMBER: _ClassVar[int]
    PARTITION_IDS_FIELD_NUMBER: _ClassVar[int]
    collection_ids: _containers.RepeatedScalarFieldContainer[int]
    partition_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, collection_ids: _Optional[_Iterable[int]] = ..., partition_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class PartitionLoadProgress(_message.Message):
    __slots__ = ("partition_id", "progress")
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    partition_id: int
    progress: int
    def __init__(self, partition_id: _Optional[int] = ..., progress: _Optional[int] = ...) -> None: ...

class LoadedCollection(_message.Message):
    __slots__ = ("collection_id", "progress", "partition_load", "partitions")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PARTITION_LOAD_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    progress: int
    partition_load: bool
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionLoadProgress]
    def __init__(self, collection_id: _Optional[int] = ..., progress: _Optional[int] = ..., partition_load: _Optional[bool] = ..., partitions: _Optional[_Iterable[_Union[PartitionLoadProgress, _Mapping]]] = ...) -> None: ...

class ShowLoadedResponse(_message.Message):
    __slots__ = ("status", "collections")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    collections: _containers.RepeatedCompositeFieldContainer[LoadedCollection]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., collections: _Optional[_Iterable[_Union[LoadedCollection, _Mapping]]] = ...) -> None: ...
