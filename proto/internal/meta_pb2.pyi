from proto.milvus import common_pb2 as _common_pb2
from proto.milvus import schema_pb2 as _schema_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SegmentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEGMENT_STATE_NONE: _ClassVar[SegmentState]
    GROWING: _ClassVar[SegmentState]
    SEALED: _ClassVar[SegmentState]
    FLUSHED: _ClassVar[SegmentState]
    DROPPED: _ClassVar[SegmentState]
SEGMENT_STATE_NONE: SegmentState
GROWING: SegmentState
SEALED: SegmentState
FLUSHED: SegmentState
DROPPED: SegmentState

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ComponentStateResponse(_message.Message):
    __slots__ = ("status", "role", "server_id", "state", "fast_endpoint")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAST_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    role: str
    server_id: int
    state: str
    fast_endpoint: str
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., role: _Optional[str] = ..., server_id: _Optional[int] = ..., state: _Optional[str] = ..., fast_endpoint: _Optional[str] = ...) -> None: ...

class PartitionInfo(_message.Message):
    __slots__ = ("partition_id", "name", "created_ts")
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_TS_FIELD_NUMBER: _ClassVar[int]
    partition_id: int
    name: str
    created_ts: int
    def __init__(self, partition_id: _Optional[int] = ..., name: _Optional[str] = ..., created_ts: _Optional[int] = ...) -> None: ...

class CollectionInfo(_message.Message):
    __slots__ = ("collection_id", "name", "db_name", "schema", "shards_num", "channels", "partitions", "consistency_level", "properties", "created_ts", "update_ts", "aliases")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DB_NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SHARDS_NUM_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    CREATED_TS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    name: str
    db_name: str
    schema: _schema_pb2.CollectionSchema
    shards_num: int
    channels: _containers.RepeatedScalarFieldContainer[str]
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionInfo]
    consistency_level: _common_pb2.ConsistencyLevel
    properties: _containers.RepeatedCompositeFieldContainer[_common_pb2.KeyValuePair]
    created_ts: int
    update_ts: int
    aliases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection_id: _Optional[int] = ..., name: _Optional[str] = ..., db_name: _Optional[str] = ..., schema: _Optional[_Union[_schema_pb2.CollectionSchema, _Mapping]] = ..., shards_num: _Optional[int] = ..., channels: _Optional[_Iterable[str]] = ..., partitions: _Optional[_Iterable[_Union[PartitionInfo, _Mapping]]] = ..., consistency_level: _Optional[_Union[_common_pb2.ConsistencyLevel, str]] = ..., properties: _Optional[_Iterable[_Union[_common_pb2.KeyValuePair, _Mapping]]] = ..., created_ts: _Optional[int] = ..., update_ts: _Optional[int] = ..., aliases: _Optional[_Iterable[str]] = ...) -> None: ...

class SegmentInfo(_message.Message):
    __slots__ = ("segment_id", "collection_id", "partition_id", "channel", "num_rows", "state", "insert_log", "min_ts", "max_ts", "start_offset", "mem_size", "compaction_from", "compact_ts")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NUM_ROWS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INSERT_LOG_FIELD_NUMBER: _ClassVar[int]
    MIN_TS_FIELD_NUMBER: _ClassVar[int]
    MAX_TS_FIELD_NUMBER: _ClassVar[int]
    START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    MEM_SIZE_FIELD_NUMBER: _ClassVar[int]
    COMPACTION_FROM_FIELD_NUMBER: _ClassVar[int]
    COMPACT_TS_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    collection_id: int
    partition_id: int
    channel: str
    num_rows: int
    state: SegmentState
    insert_log: str
    min_ts: int
    max_ts: int
    start_offset: int
    mem_size: int
    compaction_from: _containers.RepeatedScalarFieldContainer[int]
    compact_ts: int
    def __init__(self, segment_id: _Optional[int] = ..., collection_id: _Optional[int] = ..., partition_id: _Optional[int] = ..., channel: _Optional[str] = ..., num_rows: _Optional[int] = ..., state: _Optional[_Union[SegmentState, str]] = ..., insert_log: _Optional[str] = ..., min_ts: _Optional[int] = ..., max_ts: _Optional[int] = ..., start_offset: _Optional[int] = ..., mem_size: _Optional[int] = ..., compaction_from: _Optional[_Iterable[int]] = ..., compact_ts: _Optional[int] = ...) -> None: ...

class DeltaLogInfo(_message.Message):
    __slots__ = ("collection_id", "channel", "path", "num_rows", "max_ts")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    NUM_ROWS_FIELD_NUMBER: _ClassVar[int]
    MAX_TS_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    channel: str
    path: str
    num_rows: int
    max_ts: int
    def __init__(self, collection_id: _Optional[int] = ..., channel: _Optional[str] = ..., path: _Optional[str] = ..., num_rows: _Optional[int] = ..., max_ts: _Optional[int] = ...) -> None: ...

class ChannelCheckpoint(_message.Message):
    __slots__ = ("channel", "offset", "flush_ts")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FLUSH_TS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    offset: int
    flush_ts: int
    def __init__(self, channel: _Optional[str] = ..., offset: _Optional[int] = ..., flush_ts: _Optional[int] = ...) -> None: ...

class IndexInfo(_message.Message):
    __slots__ = ("collection_id", "index_id", "index_name", "field_id", "field_name", "index_type", "metric_type", "params_json", "user_params", "create_ts")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    FIELD_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    INDEX_TYPE_FIELD_NUMBER: _ClassVar[int]
    METRIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    USER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TS_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    index_id: int
    index_name: str
    field_id: int
    field_name: str
    index_type: str
    metric_type: str
    params_json: str
    user_params: _containers.RepeatedCompositeFieldContainer[_common_pb2.KeyValuePair]
    create_ts: int
    def __init__(self, collection_id: _Optional[int] = ..., index_id: _Optional[int] = ..., index_name: _Optional[str] = ..., field_id: _Optional[int] = ..., field_name: _Optional[str] = ..., index_type: _Optional[str] = ..., metric_type: _Optional[str] = ..., params_json: _Optional[str] = ..., user_params: _Optional[_Iterable[_Union[_common_pb2.KeyValuePair, _Mapping]]] = ..., create_ts: _Optional[int] = ...) -> None: ...

class SegmentIndexInfo(_message.Message):
    __slots__ = ("segment_id", "index_id", "build_id", "state", "index_path", "fail_reason", "num_rows", "collection_id")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_ID_FIELD_NUMBER: _ClassVar[int]
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INDEX_PATH_FIELD_NUMBER: _ClassVar[int]
    FAIL_REASON_FIELD_NUMBER: _ClassVar[int]
    NUM_ROWS_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    index_id: int
    build_id: int
    state: _common_pb2.IndexState
    index_path: str
    fail_reason: str
    num_rows: int
    collection_id: int
    def __init__(self, segment_id: _Optional[int] = ..., index_id: _Optional[int] = ..., build_id: _Optional[int] = ..., state: _Optional[_Union[_common_pb2.IndexState, str]] = ..., index_path: _Optional[str] = ..., fail_reason: _Optional[str] = ..., num_rows: _Optional[int] = ..., collection_id: _Optional[int] = ...) -> None: ...
