"""gRPC plumbing shared by every role: server and channel options, the handler guard that turns
every exception into a Status, and the base of the internal clients.
"""
from __future__ import annotations

import functools
from concurrent import futures
from typing import Any, Callable

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor

from common.status import check, to_status

# Keepalive settings a pymilvus client needs (wire reference §1): without them an idle client
# gets GOAWAY too_many_pings after ~30 s and re-connects.
SERVER_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.so_reuseport", 0),
]
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.keepalive_time_ms", 10000),
    ("grpc.keepalive_timeout_ms", 5000),
    ("grpc.keepalive_permit_without_calls", 1),
]


def make_server(max_workers: int = 32) -> grpc.Server:
    """A thread-pool gRPC server with the keepalive options pymilvus needs."""
    return grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=SERVER_OPTIONS)


def bind(server: grpc.Server, host: str, port: int) -> int:
    """Bind ``host:port`` (port 0 picks a free one) and return the bound port.

    Raises OSError when the port cannot be bound.
    """
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind {host}:{port}")
    return bound


def make_channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=CHANNEL_OPTIONS)


def guard_servicer(service: ServiceDescriptor) -> Callable[[type], type]:
    """Class decorator: wrap every RPC method the class defines for ``service`` so that any
    exception becomes the method's response with ``status`` set (or the Status itself when the
    method returns ``common.Status``). A handler never raises through gRPC."""

    def decorate(cls: type) -> type:
        for method in service.methods:
            impl = cls.__dict__.get(method.name)
            if impl is None:
                continue
            response_cls = message_factory.GetMessageClass(method.output_type)
            setattr(cls, method.name, _guard(impl, response_cls))
        return cls

    return decorate


def _guard(impl: Callable[..., Any], response_cls: type) -> Callable[..., Any]:
    returns_status = response_cls.DESCRIPTOR.full_name == "milvus.proto.common.Status"

    @functools.wraps(impl)
    def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return impl(self, request, context)
        except Exception as exc:  # noqa: BLE001 - the whole point: errors become a Status
            status = to_status(exc)
            return status if returns_status else response_cls(status=status)

    return handler


class InternalClient:
    """Base of the clients one role uses to call another: holds a channel and a stub, and
    ``call`` checks the answer's Status, raising the matching ``MilvusError``."""

    def __init__(self, address: str, stub_cls: type, timeout_s: float = 30.0) -> None:
        self.address = address
        self._channel = make_channel(address)
        self._stub = stub_cls(self._channel)
        self._timeout_s = timeout_s

    def call(self, method: str, request: Any, timeout_s: float | None = None) -> Any:
        """Invoke ``method``; return the response when its status is success.

        Raises the ``MilvusError`` its Status carries, or ``NodeNotAvailable`` when the peer
        cannot be reached.
        """
        from common.errors import NodeNotAvailable

        try:
            response = getattr(self._stub, method)(request, timeout=timeout_s or self._timeout_s)
        except grpc.RpcError as exc:
            raise NodeNotAvailable(f"{method} to {self.address} failed: {exc.code().name} {exc.details()}") from None
        status = response if response.DESCRIPTOR.full_name == "milvus.proto.common.Status" else response.status
        check(status)
        return response

    def close(self) -> None:
        self._channel.close()
