from proto.milvus import common_pb2 as _common_pb2
from proto.milvus import milvus_pb2 as _milvus_pb2
from proto.internal import meta_pb2 as _meta_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeCollectionRequest(_message.Message):
    __slots__ = ("db_name", "collection_name", "collection_id")
    DB_NAME_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    db_name: str
    collection_name: str
    collection_id: int
    def __init__(self, db_name: _Optional[str] = ..., collection_name: _Optional[str] = ..., collection_id: _Optional[int] = ...) -> None: ...

class DescribeCollectionResponse(_message.Message):
    __slots__ = ("status", "collection")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    collection: _meta_pb2.CollectionInfo
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ...) -> None: ...

class ShowCollectionsRequest(_message.Message):
    __slots__ = ("db_name",)
    DB_NAME_FIELD_NUMBER: _ClassVar[int]
    db_name: str
    def __init__(self, db_name: _Optional[str] = ...) -> None: ...

class ShowCollectionsResponse(_message.Message):
    __slots__ = ("status", "collections")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    collections: _containers.RepeatedCompositeFieldContainer[_meta_pb2.CollectionInfo]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., collections: _Optional[_Iterable[_Union[_meta_pb2.CollectionInfo, _Mapping]]] = ...) -> None: ...

class AllocRequest(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class AllocTimestampResponse(_message.Message):
    __slots__ = ("status", "timestamp", "count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    timestamp: int
    count: int
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., timestamp: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class AllocIDResponse(_message.Message):
    __slots__ = ("status", "begin", "count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    begin: int
    count: int
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., begin: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class PartitionResponse(_message.Message):
    __slots__ = ("status", "collection", "partition")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    collection: _meta_pb2.CollectionInfo
    partition: _meta_pb2.PartitionInfo
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., collection: _Optional[_Union[_meta_pb2.CollectionInfo, _Mapping]] = ..., partition: _Optional[_Union[_meta_pb2.PartitionInfo, _Mapping]] = ...) -> None: ...

class CollectionTombstone(_message.Message):
    __slots__ = ("collection_id", "name", "created_ts", "dropped_ts")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_TS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_TS_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    name: str
    created_ts: int
    dropped_ts: int
    def __init__(self, collection_id: _Optional[int] = ..., name: _Optional[str] = ..., created_ts: _Optional[int] = ..., dropped_ts: _Optional[int] = ...) -> None: ...
