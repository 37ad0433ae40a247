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
    __slots__ = ("channel", "node_id", "address")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    node_id: int
    address: str
    def __init__(self, channel: _Optional[str] = ..., node_id: _Optional[int] = ..., address: _Optional[str] = ...) -> None: ...

class ShardLeadersResponse(_message.Message):
    __slots__ = ("status", "leaders")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LEADERS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    leaders: _containers.RepeatedCompositeFieldContainer[ShardLeader]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., leaders: _Optional[_Iterable[_Union[ShardLeader, _Mapping]]] = ...) -> None: ...

class ChannelStatus(_message.Message):
    __slots__ = ("channel", "collection_id", "serviceable")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICEABLE_FIELD_NUMBER: _ClassVar[int]
    channel: str
    collection_id: int
    serviceable: bool
    def __init__(self, channel: _Optional[str] = ..., collection_id: _Optional[int] = ..., serviceable: _Optional[bool] = ...) -> None: ...

class QueryNodeHeartbeatRequest(_message.Message):
    __slots__ = ("node_id", "address", "channels", "sealed_segment_ids", "indexed_build_ids")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SEALED_SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    INDEXED_BUILD_IDS_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    address: str
    channels: _containers.RepeatedCompositeFieldContainer[ChannelStatus]
    sealed_segment_ids: _containers.RepeatedScalarFieldContainer[int]
    indexed_build_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, node_id: _Optional[int] = ..., address: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[ChannelStatus, _Mapping]]] = ..., sealed_segment_ids: _Optional[_Iterable[int]] = ..., indexed_build_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class ChannelTarget(_message.Message):
    __slots__ = ("collection", "channel", "checkpoint", "delta_logs", "sealed_segments", "indexes", "segment_ranges")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    DELTA_LOGS_FIELD_NUMBER: _ClassVar[int]
    SEALED_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_RANGES_FIELD_NUMBER: _ClassVar[int]
    collection: _meta_pb2.CollectionInfo
    channel: str
    checkpoint: _meta_pb2.ChannelCheckpoint
    delta_logs: _containers.RepeatedCompositeFieldContainer[_meta_pb2.DeltaLogInfo]
    sealed_segments: _containers.RepeatedCompositeFieldContainer[_datacoord_pb2.SegmentWithIndex]
    indexes: _containers.RepeatedCompositeFieldContainer[_meta_pb2.IndexInfo]
    segment_ranges: _containers.RepeatedCompositeFieldContainer[_datacoord_pb2.SegmentRange]
    def __init__(self, collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ..., channel: _Optional[str] = ..., checkpoint: _Optional[_Union[_meta_pb2.ChannelCheckpoint, _Mapping]] = ..., delta_logs: _Optional[_Iterable[_Union[_meta_pb2.DeltaLogInfo, _Mapping]]] = ..., sealed_segments: _Optional[_Iterable[_Union[_datacoord_pb2.SegmentWithIndex, _Mapping]]] = ..., indexes: _Optional[_Iterable[_Union[_meta_pb2.IndexInfo, _Mapping]]] = ..., segment_ranges: _Optional[_Iterable[_Union[_datacoord_pb2.SegmentRange, _Mapping]]] = ...) -> None: ...

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
    __slots__ = ("collection", "assignments", "fully_loaded", "load_time_ms")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    FULLY_LOADED_FIELD_NUMBER: _ClassVar[int]
    LOAD_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    collection: _meta_pb2.CollectionInfo
    assignments: _containers.RepeatedCompositeFieldContainer[ChannelAssignment]
    fully_loaded: bool
    load_time_ms: int
    def __init__(self, collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ..., assignments: _Optional[_Iterable[_Union[ChannelAssignment, _Mapping]]] = ..., fully_loaded: _Optional[bool] = ..., load_time_ms: _Optional[int] = ...) -> None: ...
