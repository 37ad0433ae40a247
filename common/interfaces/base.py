"""What every role answers: its health (GetComponentState).

The contract every role Protocol (this package) inherits, whether it is implemented by the
role's core (called in-process) or by its client (called over gRPC):

- a method takes the request message and returns the response message; an RPC that answers a
  bare ``milvus.proto.common.Status`` returns ``None`` on success;
- failures raise ``common.errors.MilvusError`` subclasses, never ``grpc.RpcError``: the error a
  role raised is raised again by its client (carried as a Status), and ``NodeNotAvailable`` means
  the peer could not be reached (a retry elsewhere or later may succeed);
- a method does not mutate its request (a caller may reuse or share it).
"""
from __future__ import annotations

from typing import Protocol

from proto.internal import meta_pb2


class Role(Protocol):
    """A role's health, as every role service answers it."""

    def get_component_state(self, request: meta_pb2.Empty) -> meta_pb2.ComponentStateResponse:
        """The role's name, node id and ``common.component.ComponentState`` (and, for a
        querynode, the ``tcp://`` endpoint of its search hot path). Never raises on the core."""
        ...
