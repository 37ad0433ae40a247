from proto.milvus import common_pb2 as _common_pb2
from proto.milvus import schema_pb2 as _schema_pb2
from proto.internal import meta_pb2 as _meta_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReadScope(_message.Message):
    __slots__ = ("collection_id", "channel", "partition_ids", "read_ts", "wait_for_latest", "output_fields", "segment_ids", "min_offset", "filter")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PARTITION_IDS_FIELD_NUMBER: _ClassVar[int]
    READ_TS_FIELD_NUMBER: _ClassVar[int]
    WAIT_FOR_LATEST_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELDS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    MIN_OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    channel: str
    partition_ids: _containers.RepeatedScalarFieldContainer[int]
    read_ts: int
    wait_for_latest: bool
    output_fields: _containers.RepeatedScalarFieldContainer[str]
    segment_ids: _containers.RepeatedScalarFieldContainer[int]
    min_offset: int
    filter: str
    def __init__(self, collection_id: _Optional[int] = ..., channel: _Optional[str] = ..., partition_ids: _Optional[_Iterable[int]] = ..., read_ts: _Optional[int] = ..., wait_for_latest: _Optional[bool] = ..., output_fields: _Optional[_Iterable[str]] = ..., segment_ids: _Optional[_Iterable[int]] = ..., min_offset: _Optional[int] = ..., filter: _Optional[str] = ...) -> None: ...

class SearchPlan(_message.Message):
    __slots__ = ("anns_field", "metric_type", "index_type", "params", "nq", "topk", "vectors")
    ANNS_FIELD_FIELD_NUMBER: _ClassVar[int]
    METRIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    INDEX_TYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    NQ_FIELD_NUMBER: _ClassVar[int]
    TOPK_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    anns_field: str
    metric_type: str
    index_type: str
    params: IndexSearchParams
    nq: int
    topk: int
    vectors: bytes
    def __init__(self, anns_field: _Optional[str] = ..., metric_type: _Optional[str] = ..., index_type: _Optional[str] = ..., params: _Optional[_Union[IndexSearchParams, _Mapping]] = ..., nq: _Optional[int] = ..., topk: _Optional[int] = ..., vectors: _Optional[bytes] = ...) -> None: ...

class IndexSearchParams(_message.Message):
    __slots__ = ("ef", "nprobe")
    EF_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    ef: int
    nprobe: int
    def __init__(self, ef: _Optional[int] = ..., nprobe: _Optional[int] = ...) -> None: ...

class ShardSearchRequest(_message.Message):
    __slots__ = ("scope", "plan")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    scope: ReadScope
    plan: SearchPlan
    def __init__(self, scope: _Optional[_Union[ReadScope, _Mapping]] = ..., plan: _Optional[_Union[SearchPlan, _Mapping]] = ...) -> None: ...

class ShardSearchResult(_message.Message):
    __slots__ = ("status", "results")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    results: _schema_pb2.SearchResultData
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., results: _Optional[_Union[_schema_pb2.SearchResultData, _Mapping]] = ...) -> None: ...

class ShardQueryRequest(_message.Message):
    __slots__ = ("scope", "limit", "count_only")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    COUNT_ONLY_FIELD_NUMBER: _ClassVar[int]
    scope: ReadScope
    limit: int
    count_only: bool
    def __init__(self, scope: _Optional[_Union[ReadScope, _Mapping]] = ..., limit: _Optional[int] = ..., count_only: _Optional[bool] = ...) -> None: ...

class ShardQueryResult(_message.Message):
    __slots__ = ("status", "fields_data", "count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_DATA_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    fields_data: _containers.RepeatedCompositeFieldContainer[_schema_pb2.FieldData]
    count: int
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., fields_data: _Optional[_Iterable[_Union[_schema_pb2.FieldData, _Mapping]]] = ..., count: _Optional[int] = ...) -> None: ...
