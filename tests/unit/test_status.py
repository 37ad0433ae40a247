"""The error table and its conversion to and from common.Status."""
from __future__ import annotations

import pytest

from common import errors
from common.rpc import guard_servicer
from common.status import check, from_status, success, to_status
from proto.internal import rootcoord_pb2, rootcoord_pb2_grpc
from proto.milvus import common_pb2


@pytest.mark.parametrize(("error", "code", "legacy"), [
    (errors.CollectionNotFound("can't find collection[collection=c]"), 100, 4),
    (errors.IndexNotFound("index not found"), 700, 25),
    (errors.ParameterInvalid("bad"), 1100, 5),
    (errors.ExpressionError("cannot parse expression"), 1100, 5),
    (errors.RateLimited("slow down"), 8, 49),
])
def test_error_becomes_status_with_both_codes(error: errors.MilvusError, code: int, legacy: int) -> None:
    status = to_status(error)
    assert (status.code, status.error_code, status.reason) == (code, legacy, error.message)
    assert status.retriable == error.retriable
    assert (status.extra_info.get("is_input_error") == "true") == error.is_input_error


def test_every_error_class_has_a_defined_legacy_code() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.MilvusError)]
    assert len(classes) > 30
    for cls in classes:
        assert cls.legacy_code in common_pb2.ErrorCode.values(), cls.__name__


def test_error_class_keywords_are_inherited_unless_restated() -> None:
    assert (errors.ExpressionError.code, errors.ExpressionError.legacy_code) == (1100, 5)
    assert errors.ExpressionError.is_input_error and not errors.ExpressionError.retriable
    assert errors.RateLimited.retriable and not errors.RateLimited.is_input_error
    assert (errors.Timeout.code, errors.Timeout.legacy_code) == (11, 1)


def test_unexpected_exception_becomes_65535() -> None:
    status = to_status(KeyError("boom"))
    assert status.code == 65535 and status.error_code == 1 and "KeyError" in status.reason


def test_status_round_trip() -> None:
    assert from_status(success()) is None
    check(success())
    with pytest.raises(errors.CollectionNotFound):
        check(to_status(errors.CollectionNotFound("gone")))
    with pytest.raises(errors.ParameterInvalid) as info:
        check(to_status(errors.CollectionAlreadyExists("exists")))
    assert info.value.code == 1100
    assert isinstance(from_status(to_status(errors.IndexNotFound("x"))), errors.IndexNotFound)


def test_guard_turns_every_exception_into_the_response_status() -> None:
    @guard_servicer(rootcoord_pb2.DESCRIPTOR.services_by_name["RootCoord"])
    class Failing(rootcoord_pb2_grpc.RootCoordServicer):
        def DescribeCollection(self, request, context):  # type: ignore[no-untyped-def]
            raise errors.CollectionNotFound("no such collection")

        def CreateCollection(self, request, context):  # type: ignore[no-untyped-def]
            raise RuntimeError("bug")

    service = Failing()
    described = service.DescribeCollection(rootcoord_pb2.DescribeCollectionRequest(), None)
    assert isinstance(described, rootcoord_pb2.DescribeCollectionResponse)
    assert described.status.code == 100
    created = service.CreateCollection(None, None)
    assert created.code == 65535
