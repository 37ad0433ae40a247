"""Every role's Protocol (common/interfaces/) matches its gRPC service RPC for RPC, and both the
role's core and its gRPC client implement it with the Protocol's exact signatures; the log's
Protocol is implemented by BrokerClient."""
from __future__ import annotations

import inspect
import typing
from typing import Any

import pytest

from common import interfaces
from common.mq.role_server import Broker
from common.mq.client import BrokerClient
from common.mq.natsmq import NatsLog
from common.rpc import method_name
from coordinators.datacoord.client import DataCoordClient
from coordinators.datacoord.core import DataCoord
from coordinators.querycoord.client import QueryCoordClient
from coordinators.querycoord.core import QueryCoord
from coordinators.rootcoord.client import RootCoordClient
from coordinators.rootcoord.core import RootCoord
from nodes.datanode.client import DataNodeClient
from nodes.datanode.core import DataNode
from nodes.indexnode.client import IndexNodeClient
from nodes.indexnode.core import IndexNode
from nodes.querynode.client import QueryNodeClient
from nodes.querynode.core import QueryNode
from proto.internal import (broker_pb2, datacoord_pb2, datanode_pb2, indexnode_pb2, querycoord_pb2, querynode_pb2,
                            rootcoord_pb2)

# role: (Protocol, gRPC service, core, client)
ROLES: dict[str, tuple[type, Any, type, type | None]] = {
    "rootcoord": (interfaces.RootCoord, rootcoord_pb2.DESCRIPTOR.services_by_name["RootCoord"], RootCoord,
                  RootCoordClient),
    "datacoord": (interfaces.DataCoord, datacoord_pb2.DESCRIPTOR.services_by_name["DataCoord"], DataCoord,
                  DataCoordClient),
    "querycoord": (interfaces.QueryCoord, querycoord_pb2.DESCRIPTOR.services_by_name["QueryCoord"], QueryCoord,
                   QueryCoordClient),
    "datanode": (interfaces.DataNode, datanode_pb2.DESCRIPTOR.services_by_name["DataNode"], DataNode, DataNodeClient),
    "indexnode": (interfaces.IndexNode, indexnode_pb2.DESCRIPTOR.services_by_name["IndexNode"], IndexNode,
                  IndexNodeClient),
    "querynode": (interfaces.QueryNode, querynode_pb2.DESCRIPTOR.services_by_name["QueryNode"], QueryNode,
                  QueryNodeClient),
    # the broker's gRPC service is its health only; its Log is BrokerClient (below)
    "broker": (interfaces.Role, broker_pb2.DESCRIPTOR.services_by_name["Broker"], Broker, None),
}


def protocol_methods(protocol: type) -> dict[str, Any]:
    """Name -> function of every method the Protocol declares (its bases included)."""
    out: dict[str, Any] = {}
    for klass in reversed(protocol.__mro__):
        if klass is object or typing.Protocol in (klass,) or not getattr(klass, "_is_protocol", False):
            continue
        out.update({name: value for name, value in vars(klass).items()
                    if inspect.isfunction(value) and not name.startswith("_")})
    return out


def _parameters(function: Any) -> list[tuple[Any, Any, Any]]:
    """(kind, default, type) of each parameter after ``self`` (callers pass them by position:
    names may differ)."""
    hints = typing.get_type_hints(function)
    _, *parameters = inspect.signature(function).parameters.items()
    return [(p.kind, p.default, hints.get(name)) for name, p in parameters]


def assert_implements(cls: type, protocol: type) -> None:
    """``cls`` has every method of ``protocol`` with the same parameters and type hints."""
    for name, declared in protocol_methods(protocol).items():
        implemented = getattr(cls, name, None)
        assert implemented is not None, f"{cls.__name__} lacks {name}"
        assert _parameters(implemented) == _parameters(declared), f"{cls.__name__}.{name}"
        assert typing.get_type_hints(implemented)["return"] == typing.get_type_hints(declared)["return"]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_protocol_matches_the_grpc_service(role: str) -> None:
    protocol, service, _, _ = ROLES[role]
    rpcs = {method_name(m.name) for m in service.methods}
    assert rpcs == set(protocol_methods(protocol))
    for rpc in service.methods:  # request and response types too (None for a bare Status)
        hints = typing.get_type_hints(protocol_methods(protocol)[method_name(rpc.name)])
        assert hints["request"].DESCRIPTOR.full_name == rpc.input_type.full_name
        answer = None if rpc.output_type.full_name == "milvus.proto.common.Status" else rpc.output_type.full_name
        assert (None if hints["return"] is type(None) else hints["return"].DESCRIPTOR.full_name) == answer


@pytest.mark.parametrize("role", sorted(ROLES))
def test_core_and_client_implement_the_protocol(role: str) -> None:
    protocol, _, core, client = ROLES[role]
    assert_implements(core, protocol)
    if client is not None:
        assert_implements(client, protocol)


def test_both_log_backends_implement_the_log() -> None:
    assert_implements(BrokerClient, interfaces.Log)
    assert_implements(NatsLog, interfaces.Log)
    assert set(protocol_methods(interfaces.Log)) == {"produce", "fetch", "end_offset", "truncate", "drop",
                                                     "list_channels", "close"}


def test_a_method_missing_from_an_implementation_is_caught() -> None:
    class Partial:
        def search(self, request: querynode_pb2.ShardSearchRequest) -> querynode_pb2.ShardSearchResult:
            raise NotImplementedError

    with pytest.raises(AssertionError, match="lacks"):
        assert_implements(Partial, interfaces.QueryNode)
