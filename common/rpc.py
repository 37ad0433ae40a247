"""gRPC plumbing shared by every role: server and channel options, the handler guard that turns
every exception into a Status, ``ProtocolService`` (serves a role's Protocol implementation as
its gRPC service) and ``RpcClient`` (the base of the typed role clients, ``*/client.py``).
"""
from __future__ import annotations

import functools
import re
import threading
from concurrent import futures
from typing import Any, Callable, NamedTuple

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor

from common.errors import NodeNotAvailable, ServiceNotReady
from common.status import check, success, to_status

STATUS = "milvus.proto.common.Status"
# How long a client waits for an answer unless told otherwise.
DEFAULT_TIMEOUT_S = 30.0
Handler = Callable[[Any], Any]

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


def make_server(executor: futures.ThreadPoolExecutor) -> grpc.Server:
    """A gRPC server handling calls on ``executor``, with the keepalive options pymilvus needs.
    The server does not own the executor: shut it down after the server has stopped."""
    return grpc.server(executor, options=SERVER_OPTIONS)


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
    """Class decorator for a classic servicer (the proxy's public MilvusService): wrap every RPC
    method the class defines for ``service`` so that any exception becomes the method's
    response with ``status`` set (or the Status itself when the method returns
    ``common.Status``). A handler never raises through gRPC."""

    def decorate(cls: type) -> type:
        for method in service.methods:
            impl = cls.__dict__.get(method.name)
            if impl is None:
                continue
            response_cls = message_factory.GetMessageClass(method.output_type)
            setattr(cls, method.name, _guard(impl, response_cls))
        return cls

    return decorate


def _returns_status(response_cls: Any) -> bool:
    return bool(response_cls.DESCRIPTOR.full_name == STATUS)


def _guard(impl: Callable[..., Any], response_cls: type) -> Callable[..., Any]:
    returns_status = _returns_status(response_cls)

    @functools.wraps(impl)
    def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return impl(self, request, context)
        except Exception as exc:  # noqa: BLE001 - the whole point: errors become a Status
            status = to_status(exc)
            return status if returns_status else response_cls(status=status)

    return handler


def method_name(rpc: str) -> str:
    """The Protocol method serving RPC ``rpc``: its snake_case (``AllocID`` -> ``alloc_id``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", rpc).lower()


def _protocol_handler(func: Handler, response_cls: Any) -> Handler:
    """``func(request)`` as a handler that never raises: None becomes a success Status (for an
    RPC answering ``common.Status``), an exception the Status of the answer."""
    if _returns_status(response_cls):
        def answer_status(request: Any) -> Any:
            try:
                func(request)
            except Exception as exc:  # noqa: BLE001 - errors become a Status
                return to_status(exc)
            return success()

        return answer_status

    def answer(request: Any) -> Any:
        try:
            return func(request)
        except Exception as exc:  # noqa: BLE001 - errors become a Status
            return response_cls(status=to_status(exc))

    return answer


class _Types(NamedTuple):
    request: Any  # message classes
    response: Any


class ProtocolService:
    """Serves ``impl``, an implementation of a role Protocol (common/interfaces/), as the gRPC
    service ``service``: RPC ``CreateCollection`` calls ``impl.create_collection(request)``, a
    ``None`` answer becomes a success Status, an exception the Status of the answer.

    ``handlers`` holds the guarded handler of each RPC (``request -> response``, never raising),
    which the TCP hot path (common/fastrpc.py) serves as well. Raises AttributeError when
    ``impl`` lacks a method of the service.
    """

    def __init__(self, service: ServiceDescriptor, impl: object) -> None:
        self.service = service
        self.handlers: dict[str, Handler] = {}
        self.types: dict[str, _Types] = {}
        for method in service.methods:
            func = getattr(impl, method_name(method.name))
            types = _Types(message_factory.GetMessageClass(method.input_type),
                           message_factory.GetMessageClass(method.output_type))
            self.types[method.name] = types
            self.handlers[method.name] = _protocol_handler(func, types.response)

    def add_to(self, server: grpc.Server) -> None:
        """Serve every RPC of the service on ``server``."""
        rpc_handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                _grpc_handler(handler), request_deserializer=self.types[name].request.FromString,
                response_serializer=self.types[name].response.SerializeToString)
            for name, handler in self.handlers.items()
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(self.service.full_name, rpc_handlers),))


def _grpc_handler(handler: Handler) -> Callable[[Any, grpc.ServicerContext], Any]:
    return lambda request, context: handler(request)


class _Connection(NamedTuple):
    address: str
    channel: grpc.Channel
    stub: Any


class RpcClient:
    """Base of the typed role clients: each Protocol method is one line, ``self._call(lambda s:
    s.Flush, request)``, which invokes the RPC on the current stub and checks the answer's
    Status (raising the ``MilvusError`` it carries; ``NodeNotAvailable`` when the peer cannot be
    reached; never ``grpc.RpcError``). Thread-safe.

    ``address`` is either fixed (a node: addressed directly, never retried) or a function that
    finds the peer (a coordinator, through its etcd session): it is called on first use, and
    again once when the peer cannot be reached or answers ServiceNotReady (a standby, or an
    instance that stopped being the active one: common/elected.py), after which the call is
    sent once more.
    """

    def __init__(self, stub_cls: type, address: str | Callable[[], str], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._stub_cls = stub_cls
        self._service = stub_cls.__name__.removesuffix("Stub")
        self._resolve: Callable[[], str] | None = address if callable(address) else None
        self._address = address if isinstance(address, str) else ""
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._connection: _Connection | None = None
        self._closed = False

    @property
    def address(self) -> str:
        """The peer's address ('' before a coordinator was first looked up)."""
        connection = self._connection
        return connection.address if connection is not None else self._address

    def _connect(self) -> _Connection:
        with self._lock:
            if self._closed:
                raise NodeNotAvailable(f"the {self._service} client is closed")
            if self._connection is None:
                address = self._resolve() if self._resolve is not None else self._address
                channel = make_channel(address)
                self._connection = _Connection(address, channel, self._stub_cls(channel))
            return self._connection

    def drop(self, address: str) -> None:
        """Close the connection to ``address`` if it is the current one (the peer's session is
        gone): calls in flight on it fail at once and, for a coordinator, are sent again to the
        instance found next, instead of waiting for their timeout on a peer that may never
        answer (a frozen or cut-off host)."""
        with self._lock:
            connection = self._connection
            if connection is None or connection.address != address:
                return
            self._connection = None
        connection.channel.close()

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            if self._connection is connection:
                self._connection = None
        connection.channel.close()

    def _call(self, rpc: Callable[[Any], Any], request: Any, timeout_s: float | None = None) -> Any:
        """``rpc(stub)(request)``; the response when its Status is success."""
        connection = self._connection or self._connect()
        try:
            return self._invoke(connection, rpc, request, timeout_s)
        except (NodeNotAvailable, ServiceNotReady):
            if self._resolve is None:
                raise
            self._forget(connection)
        return self._invoke(self._connect(), rpc, request, timeout_s)

    def _invoke(self, connection: _Connection, rpc: Callable[[Any], Any], request: Any,
                timeout_s: float | None) -> Any:
        try:
            response = rpc(connection.stub)(request, timeout=timeout_s or self.timeout_s)
        except grpc.RpcError as exc:
            raise NodeNotAvailable(f"{self._service} {type(request).__name__} to {connection.address} failed: "
                                   f"{exc.code().name} {exc.details()}") from None
        check(response if response.DESCRIPTOR.full_name == STATUS else response.status)
        return response

    def close(self) -> None:
        """Close the channel; later calls raise NodeNotAvailable."""
        with self._lock:
            self._closed = True
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.channel.close()

