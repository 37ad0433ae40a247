"""Conversion between the error table (``common.errors``) and ``common.Status``.

This is the only place where errors meet the wire: handlers raise ``MilvusError``; the RPC
guard turns any exception into a Status, and internal clients turn a failed Status back into
the same ``MilvusError`` class.
"""
from __future__ import annotations

import logging
from typing import cast

from common import errors
from proto.milvus import common_pb2

_log = logging.getLogger(__name__)

# code -> the most specific error class with that code (first registration wins).
_BY_CODE: dict[int, type[errors.MilvusError]] = {}
for _cls in vars(errors).values():
    if isinstance(_cls, type) and issubclass(_cls, errors.MilvusError) and _cls is not errors.MilvusError:
        _BY_CODE.setdefault(_cls.code, _cls)
# Codes shared by several classes come back as the general one.
_BY_CODE[errors.ParameterInvalid.code] = errors.ParameterInvalid
_BY_CODE[errors.UnexpectedError.code] = errors.UnexpectedError


def success() -> common_pb2.Status:
    """A Status meaning success (both codes 0)."""
    return common_pb2.Status()


def to_status(exc: BaseException) -> common_pb2.Status:
    """The Status for ``exc``: its Milvus code, legacy error_code and message.

    Anything that is not a ``MilvusError`` becomes UnexpectedError (65535) and is logged with
    its traceback, since it is a bug rather than bad input.
    """
    if not isinstance(exc, errors.MilvusError):
        _log.exception("unexpected error in handler", exc_info=exc)
        exc = errors.UnexpectedError(f"unexpected error: {type(exc).__name__}: {exc}")
    # legacy_code is a common.ErrorCode number (test_status checks every class); the stubs
    # type the enum field as the enum class, protobuf takes the plain int.
    legacy_code = cast(common_pb2.ErrorCode, exc.legacy_code)
    status = common_pb2.Status(
        code=exc.code, error_code=legacy_code, reason=exc.message, retriable=exc.retriable
    )
    if exc.is_input_error:
        status.extra_info["is_input_error"] = "true"
    return status


def from_status(status: common_pb2.Status) -> errors.MilvusError | None:
    """The error a failed Status stands for, or None when it means success."""
    if status.code == 0 and status.error_code == 0:
        return None
    cls = _BY_CODE.get(status.code, errors.UnexpectedError)
    return cls(status.reason)


def check(status: common_pb2.Status) -> None:
    """Raise the error ``status`` stands for; return quietly on success."""
    error = from_status(status)
    if error is not None:
        raise error
