from proto.internal import meta_pb2 as _meta_pb2
from proto.milvus import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeMetricsResponse(_message.Message):
    __slots__ = ("status", "info_json")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INFO_JSON_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    info_json: str
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., info_json: _Optional[str] = ...) -> None: ...
