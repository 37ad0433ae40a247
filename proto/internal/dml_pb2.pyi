from proto.milvus import schema_pb2 as _schema_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InsertMsg(_message.Message):
    __slots__ = ("collection_id", "partition_id", "segment_id", "timestamp", "num_rows", "fields_data", "columns")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    NUM_ROWS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_DATA_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    partition_id: int
    segment_id: int
    timestamp: int
    num_rows: int
    fields_data: _containers.RepeatedCompositeFieldContainer[_schema_pb2.FieldData]
    columns: bytes
    def __init__(self, collection_id: _Optional[int] = ..., partition_id: _Optional[int] = ..., segment_id: _Optional[int] = ..., timestamp: _Optional[int] = ..., num_rows: _Optional[int] = ..., fields_data: _Optional[_Iterable[_Union[_schema_pb2.FieldData, _Mapping]]] = ..., columns: _Optional[bytes] = ...) -> None: ...

class DeleteMsg(_message.Message):
    __slots__ = ("collection_id", "partition_id", "primary_keys", "timestamp")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_KEYS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    partition_id: int
    primary_keys: _schema_pb2.IDs
    timestamp: int
    def __init__(self, collection_id: _Optional[int] = ..., partition_id: _Optional[int] = ..., primary_keys: _Optional[_Union[_schema_pb2.IDs, _Mapping]] = ..., timestamp: _Optional[int] = ...) -> None: ...

class SealMsg(_message.Message):
    __slots__ = ("collection_id", "segment_ids", "timestamp")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    segment_ids: _containers.RepeatedScalarFieldContainer[int]
    timestamp: int
    def __init__(self, collection_id: _Optional[int] = ..., segment_ids: _Optional[_Iterable[int]] = ..., timestamp: _Optional[int] = ...) -> None: ...

class DmlMsg(_message.Message):
    __slots__ = ("insert", "delete", "seal", "drop_partition")
    INSERT_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    SEAL_FIELD_NUMBER: _ClassVar[int]
    DROP_PARTITION_FIELD_NUMBER: _ClassVar[int]
    insert: InsertMsg
    delete: DeleteMsg
    seal: SealMsg
    drop_partition: DropPartitionMsg
    def __init__(self, insert: _Optional[_Union[InsertMsg, _Mapping]] = ..., delete: _Optional[_Union[DeleteMsg, _Mapping]] = ..., seal: _Optional[_Union[SealMsg, _Mapping]] = ..., drop_partition: _Optional[_Union[DropPartitionMsg, _Mapping]] = ...) -> None: ...

class DropPartitionMsg(_message.Message):
    __slots__ = ("collection_id", "partition_id", "timestamp")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    partition_id: int
    timestamp: int
    def __init__(self, collection_id: _Optional[int] = ..., partition_id: _Optional[int] = ..., timestamp: _Optional[int] = ...) -> None: ...
