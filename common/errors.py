"""The one error hierarchy of the project, numbered as Milvus numbers its errors (``merr``).

Every error carries the modern Milvus ``code``, the legacy ``common.ErrorCode`` value
(``legacy_code``), a message that says what was wrong, and whether a retry may succeed.
Handlers raise these; ``common.status`` converts them to ``common.Status`` at the RPC
boundary only. Anything that is not a ``MilvusError`` becomes ``UnexpectedError`` (65535).
"""
from __future__ import annotations


class MilvusError(Exception):
    """Base of every error that reaches a client as a Status.

    A subclass states its numbers as class keywords, e.g.
    ``class CollectionNotFound(MilvusError, code=100, legacy_code=4, input_error=True)``;
    a keyword it leaves out is inherited from its base.
    """

    code: int = 65535
    legacy_code: int = 1  # UnexpectedError
    retriable: bool = False
    is_input_error: bool = False

    def __init_subclass__(cls, *, code: int | None = None, legacy_code: int | None = None,
                          input_error: bool | None = None, retriable: bool | None = None) -> None:
        super().__init_subclass__()
        if code is not None:
            cls.code = code
        if legacy_code is not None:
            cls.legacy_code = legacy_code
        if input_error is not None:
            cls.is_input_error = input_error
        if retriable is not None:
            cls.retriable = retriable

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ServiceNotReady(MilvusError, code=1, legacy_code=56, retriable=True):
    """Milvus error 1."""


class ServiceUnavailable(MilvusError, code=2, retriable=True):
    """Milvus error 2."""


class ServiceInternal(MilvusError, code=5):
    """Milvus error 5."""


class RateLimited(MilvusError, code=8, legacy_code=49, retriable=True):
    """Milvus error 8."""


class Unimplemented(MilvusError, code=10):
    """Milvus error 10."""


class Timeout(MilvusError, code=11, retriable=True):
    """Milvus error 11."""


class CollectionNotFound(MilvusError, code=100, legacy_code=4, input_error=True):
    """Milvus error 100."""


class CollectionNotLoaded(MilvusError, code=101, input_error=True):
    """Milvus error 101."""


class CollectionNumLimitExceeded(MilvusError, code=102, input_error=True):
    """Milvus error 102."""


class CollectionIllegalSchema(MilvusError, code=105, legacy_code=5, input_error=True):
    """Milvus error 105."""


class CollectionAlreadyExists(MilvusError, code=1100, legacy_code=5, input_error=True):
    """Milvus error 1100."""


class PartitionNotFound(MilvusError, code=200, input_error=True):
    """Milvus error 200."""


class PartitionNotLoaded(MilvusError, code=201, input_error=True):
    """Milvus error 201."""


class ResourceGroupNodeNotEnough(MilvusError, code=304):
    """Milvus error 304: fewer querynodes than the replicas asked for."""


class ChannelNotFound(MilvusError, code=500):
    """Milvus error 500."""


class SegmentNotFound(MilvusError, code=600, legacy_code=47):
    """Milvus error 600."""


class IndexNotFound(MilvusError, code=700, legacy_code=25, input_error=True):
    """Milvus error 700."""


class IndexNotSupported(MilvusError, code=701, legacy_code=8, input_error=True):
    """Milvus error 701."""


class IndexDuplicate(MilvusError, code=702, input_error=True):
    """Milvus error 702."""


class DatabaseNotFound(MilvusError, code=800, input_error=True):
    """Milvus error 800."""


class NodeNotFound(MilvusError, code=901):
    """Milvus error 901."""


class NodeNotAvailable(MilvusError, code=905, retriable=True):
    """Milvus error 905."""


class IoKeyNotFound(MilvusError, code=1000):
    """Milvus error 1000."""


class IoFailed(MilvusError, code=1001, retriable=True):
    """Milvus error 1001."""


class ParameterInvalid(MilvusError, code=1100, legacy_code=5, input_error=True):
    """Milvus error 1100."""


class ParameterMissing(MilvusError, code=1101, legacy_code=5, input_error=True):
    """Milvus error 1101."""


class ParameterTooLarge(MilvusError, code=1102, legacy_code=5, input_error=True):
    """Milvus error 1102."""


class MetricNotFound(MilvusError, code=1200, legacy_code=23, input_error=True):
    """Milvus error 1200."""


class MqFailed(MilvusError, code=1300, retriable=True):
    """Milvus error 1300."""


class FieldNotFound(MilvusError, code=1700, input_error=True):
    """Milvus error 1700."""


class FieldInvalidName(MilvusError, code=1701, input_error=True):
    """Milvus error 1701."""


class AliasNotFound(MilvusError, code=1600, input_error=True):
    """Milvus error 1600."""


class AliasCollectionNameConflict(MilvusError, code=1601, input_error=True):
    """Milvus error 1601."""


class AliasAlreadyExists(MilvusError, code=1602, input_error=True):
    """Milvus error 1602."""


class EmptyCollection(MilvusError, code=65535, legacy_code=26):
    """Milvus error 65535."""


class SchemaMismatch(MilvusError, code=109, legacy_code=62, input_error=True):
    """Milvus error 109."""


class UnexpectedError(MilvusError, code=65535):
    """Milvus error 65535."""


class ExpressionError(ParameterInvalid):
    """A filter expression that cannot be parsed or type-checked (code 1100)."""
