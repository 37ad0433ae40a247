"""The one error hierarchy of the project, numbered as Milvus numbers its errors (``merr``).

Every error carries the modern Milvus ``code``, the legacy ``common.ErrorCode`` value
(``legacy_code``), a message that says what was wrong, and whether a retry may succeed.
Handlers raise these; ``common.status`` converts them to ``common.Status`` at the RPC
boundary only. Anything that is not a ``MilvusError`` becomes ``UnexpectedError`` (65535).
"""
from __future__ import annotations


class MilvusError(Exception):
    """Base of every error that reaches a client as a Status."""

    code: int = 65535
    legacy_code: int = 1  # UnexpectedError
    retriable: bool = False
    is_input_error: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _error(name: str, code: int, legacy_code: int = 1, *, input_error: bool = False,
           retriable: bool = False) -> type[MilvusError]:
    cls = type(name, (MilvusError,), {
        "code": code, "legacy_code": legacy_code, "is_input_error": input_error,
        "retriable": retriable, "__doc__": f"Milvus error {code}.",
    })
    return cls


ServiceNotReady = _error("ServiceNotReady", 1, 56, retriable=True)
ServiceUnavailable = _error("ServiceUnavailable", 2, retriable=True)
ServiceInternal = _error("ServiceInternal", 5)
RateLimited = _error("RateLimited", 8, 49, retriable=True)
Unimplemented = _error("Unimplemented", 10)
Timeout = _error("Timeout", 11, retriable=True)
CollectionNotFound = _error("CollectionNotFound", 100, 4, input_error=True)
CollectionNotLoaded = _error("CollectionNotLoaded", 101, input_error=True)
CollectionNumLimitExceeded = _error("CollectionNumLimitExceeded", 102, input_error=True)
CollectionIllegalSchema = _error("CollectionIllegalSchema", 105, 5, input_error=True)
CollectionAlreadyExists = _error("CollectionAlreadyExists", 1100, 5, input_error=True)
PartitionNotFound = _error("PartitionNotFound", 200, input_error=True)
PartitionNotLoaded = _error("PartitionNotLoaded", 201, input_error=True)
ChannelNotFound = _error("ChannelNotFound", 500)
SegmentNotFound = _error("SegmentNotFound", 600, 47)
IndexNotFound = _error("IndexNotFound", 700, 25, input_error=True)
IndexNotSupported = _error("IndexNotSupported", 701, 8, input_error=True)
IndexDuplicate = _error("IndexDuplicate", 702, input_error=True)
DatabaseNotFound = _error("DatabaseNotFound", 800, input_error=True)
NodeNotFound = _error("NodeNotFound", 901)
NodeNotAvailable = _error("NodeNotAvailable", 905, retriable=True)
IoKeyNotFound = _error("IoKeyNotFound", 1000)
IoFailed = _error("IoFailed", 1001, retriable=True)
ParameterInvalid = _error("ParameterInvalid", 1100, 5, input_error=True)
ParameterMissing = _error("ParameterMissing", 1101, 5, input_error=True)
ParameterTooLarge = _error("ParameterTooLarge", 1102, 5, input_error=True)
MetricNotFound = _error("MetricNotFound", 1200, 23, input_error=True)
MqFailed = _error("MqFailed", 1300, retriable=True)
FieldNotFound = _error("FieldNotFound", 1700, input_error=True)
FieldInvalidName = _error("FieldInvalidName", 1701, input_error=True)
AliasNotFound = _error("AliasNotFound", 1600, input_error=True)
AliasCollectionNameConflict = _error("AliasCollectionNameConflict", 1601, input_error=True)
AliasAlreadyExists = _error("AliasAlreadyExists", 1602, input_error=True)
EmptyCollection = _error("EmptyCollection", 65535, 26)
SchemaMismatch = _error("SchemaMismatch", 109, 62, input_error=True)
UnexpectedError = _error("UnexpectedError", 65535)


class ExpressionError(ParameterInvalid):  # type: ignore[misc, valid-type]
    """A filter expression that cannot be parsed or type-checked (code 1100)."""
