"""The TCP hot path (common/fastrpc.py): answers equal the guarded handlers' (gRPC's), errors come back
as Statuses, bad frames close only their connection, a stopped server fails calls fast, a hung
one is given up when ``alive()`` says so, and a restarted one is reached again."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from common import fastrpc
from common.errors import NodeNotAvailable, ParameterInvalid
from common.fastrpc import FastRpcClient, FastRpcServer
from common.net import stable_free_port
from common.rpc import ProtocolService
from nodes.querynode.client import QUERY, SEARCH
from proto.internal import meta_pb2, querynode_pb2

SERVICE = querynode_pb2.DESCRIPTOR.services_by_name["QueryNode"]


class EchoService:
    """Search echoes nq, topk and the filter (as a string id); topk < 0 is refused like a
    bad parameter, topk == 999 blocks until ``release`` is set. Query answers with every field
    at its default."""

    release = threading.Event()

    def get_component_state(self, request: meta_pb2.Empty) -> meta_pb2.ComponentStateResponse:
        return meta_pb2.ComponentStateResponse()

    def search(self, request: querynode_pb2.ShardSearchRequest) -> querynode_pb2.ShardSearchResult:
        plan = request.plan
        if plan.topk < 0:
            raise ParameterInvalid(f"topk {plan.topk} is negative")
        if plan.topk == 999:
            self.release.wait(10.0)
        result = querynode_pb2.ShardSearchResult()
        result.results.num_queries = plan.nq
        result.results.top_k = plan.topk
        if request.scope.filter:
            result.results.ids.str_id.data.append(request.scope.filter)
        return result

    def query(self, request: querynode_pb2.ShardQueryRequest) -> querynode_pb2.ShardQueryResult:
        return querynode_pb2.ShardQueryResult()


def _server(port: int = 0, methods: tuple[str, ...] = (SEARCH, QUERY), concurrency: int = 8) -> FastRpcServer:
    server = FastRpcServer(ProtocolService(SERVICE, EchoService()), methods, "127.0.0.1", port, concurrency=concurrency)
    server.start()
    return server


def _client(endpoint: str, alive=lambda: True, timeout_s: float = 10.0) -> FastRpcClient:  # type: ignore[no-untyped-def]
    return FastRpcClient(endpoint, SERVICE, [SEARCH, QUERY], alive=alive, timeout_s=timeout_s)


def _search(client: FastRpcClient, topk: int, nq: int = 1) -> querynode_pb2.ShardSearchResult:
    return client.call(SEARCH, querynode_pb2.ShardSearchRequest(plan=querynode_pb2.SearchPlan(nq=nq, topk=topk)))


def _raw_call(endpoint: str, frame: bytes) -> bytes:
    """Send ``frame`` on a fresh connection; everything the server sends back until it closes
    the connection (a reset counts as closing, even while sending) or 2 s pass."""
    host, port = endpoint.removeprefix("tcp://").rsplit(":", 1)
    out = b""
    with socket.create_connection((host, int(port)), timeout=2.0) as conn:
        try:
            conn.sendall(frame)
            conn.shutdown(socket.SHUT_WR)
            while chunk := conn.recv(65536):
                out += chunk
        except OSError:  # reset or closed by the server before we were done
            pass
    return out


def test_answers_and_error_statuses() -> None:
    server = _server()
    client = _client(server.endpoint)
    try:
        answer = _search(client, 7, nq=3)
        assert (answer.results.num_queries, answer.results.top_k) == (3, 7)
        # an answer with every field at its default serializes to no bytes at all
        assert client.call(QUERY, querynode_pb2.ShardQueryRequest()) == querynode_pb2.ShardQueryResult()
        with pytest.raises(ParameterInvalid, match="topk -1 is negative"):
            _search(client, -1)
        # the connection is still usable after an error answer
        assert _search(client, 1).results.top_k == 1
    finally:
        client.close()
        server.stop()


def test_large_requests_and_answers_cross_whole() -> None:
    server = _server()
    client = _client(server.endpoint)
    try:
        expr = "id in [" + ",".join(str(i) for i in range(600_000)) + "]"  # ~4 MB each way
        request = querynode_pb2.ShardSearchRequest(plan=querynode_pb2.SearchPlan(nq=2, topk=3))
        request.scope.filter = expr
        answer = client.call(SEARCH, request)
        assert list(answer.results.ids.str_id.data) == [expr] and answer.results.top_k == 3
        assert _search(client, 4).results.top_k == 4  # the connection is in step afterwards
    finally:
        client.close()
        server.stop()


def test_many_threads_get_their_own_answers() -> None:
    server = _server()
    client = _client(server.endpoint)
    wrong: list[tuple[int, int]] = []

    def run(base: int) -> None:
        for i in range(50):
            got = _search(client, i, nq=base).results
            if (got.num_queries, got.top_k) != (base, i):
                wrong.append((base, i))

    threads = [threading.Thread(target=run, args=(b,)) for b in range(1, 9)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wrong == []
    finally:
        client.close()
        server.stop()


def test_unserved_method_garbage_payload_and_foreign_bytes() -> None:
    server = _server(methods=(SEARCH,))  # Query not served
    client = _client(server.endpoint)
    try:
        with pytest.raises(NodeNotAvailable, match="not served"):
            client.call(QUERY, querynode_pb2.ShardQueryRequest())
        # an undecodable payload is answered with a 1100 Status on the same request id
        garbage = b"\xff\xff\xff"
        answer = _raw_call(server.endpoint, fastrpc._REQUEST.pack(fastrpc.MAGIC, 6 + len(garbage), 7, 6)
                           + b"Search" + garbage)
        magic, size, request_id, served = fastrpc._ANSWER.unpack(answer[:fastrpc._ANSWER.size])
        assert (magic, request_id, served, size) == (fastrpc.MAGIC, 7, fastrpc.SERVED,
                                                      len(answer) - fastrpc._ANSWER.size)
        status = querynode_pb2.ShardSearchResult.FromString(answer[fastrpc._ANSWER.size:]).status
        assert status.code == 1100 and "cannot be decoded" in status.reason
        # bytes of another protocol get the connection closed without an answer ...
        assert _raw_call(server.endpoint, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
        # ... and the server goes on serving
        assert _search(client, 4).results.top_k == 4
    finally:
        client.close()
        server.stop()


def test_stopped_server_fails_fast_and_restart_is_reached() -> None:
    port = stable_free_port()
    server = _server(port)
    client = _client(server.endpoint, timeout_s=30.0)
    try:
        assert _search(client, 1).results.top_k == 1
        server.stop()
        with pytest.raises(NodeNotAvailable):  # refused at once, no 30 s wait
            _search(client, 2)
        server = _server(port)
        assert _search(client, 3).results.top_k == 3
        # a restart between two calls is not even noticed: the kept connection, closed by the
        # old server, is replaced and the read sent again
        server.stop()
        server = _server(port)
        assert _search(client, 5).results.top_k == 5
    finally:
        client.close()
        server.stop()


def test_a_hung_server_is_given_up_when_not_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastrpc, "LIVENESS_INTERVAL_S", 0.2)
    server = _server()
    up = {"alive": True, "asked": 0}

    def alive() -> bool:
        up["asked"] += 1
        return up["alive"]

    client = _client(server.endpoint, alive=alive, timeout_s=30.0)
    EchoService.release.clear()
    try:
        threading.Timer(0.7, lambda: up.update(alive=False)).start()
        with pytest.raises(NodeNotAvailable, match="no answer"):
            _search(client, 999)
        assert up["asked"] >= 2  # overdue answers were checked on, then given up
        EchoService.release.set()
        assert _search(client, 6).results.top_k == 6  # a new connection serves the next call
    finally:
        EchoService.release.set()
        client.close()
        server.stop()


def test_a_failed_accept_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """An accept that fails (e.g. out of file descriptors) does not end the serving."""
    real_accept = socket.socket.accept
    failures = {"left": 2}

    def flaky_accept(self):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise OSError(24, "Too many open files")
        return real_accept(self)

    monkeypatch.setattr(fastrpc, "ACCEPT_RETRY_S", 0.01)
    monkeypatch.setattr(socket.socket, "accept", flaky_accept)
    server = _server()
    client = _client(server.endpoint)
    try:
        assert _search(client, 2).results.top_k == 2
        assert failures["left"] == 0
    finally:
        client.close()
        server.stop()


@pytest.mark.parametrize("concurrency", [1, 2])
def test_concurrency_bound_is_soft(concurrency: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every slot taken by a blocked request, another one waits SLOT_WAIT_S for a slot
    and is then answered anyway (no deadlock); with a slot free it is answered at once."""
    monkeypatch.setattr(fastrpc, "SLOT_WAIT_S", 0.4)
    server = _server(concurrency=concurrency)
    client = _client(server.endpoint)
    EchoService.release.clear()
    blocked = threading.Thread(target=lambda: _search(client, 999))
    try:
        blocked.start()
        time.sleep(0.2)  # the blocked request holds a slot now
        start = time.monotonic()
        assert _search(client, 5).results.top_k == 5
        took = time.monotonic() - start
        assert blocked.is_alive()
        if concurrency == 1:
            assert 0.35 <= took < 5.0
        else:
            assert took < 0.35
    finally:
        EchoService.release.set()
        blocked.join(timeout=10)
        client.close()
        server.stop()


def test_closed_client_refuses_calls() -> None:
    server = _server()
    client = _client(server.endpoint)
    try:
        _search(client, 1)
        client.close()
        with pytest.raises(NodeNotAvailable, match="closed"):
            _search(client, 1)
    finally:
        server.stop()


def test_a_taken_port_fails_start() -> None:
    blocker = _server()
    port = int(blocker.endpoint.rsplit(":", 1)[1])
    try:
        with pytest.raises(OSError):
            _server(port)
    finally:
        blocker.stop()
    server = _server(port)  # free again once stopped
    assert server.endpoint == f"tcp://127.0.0.1:{port}"
    server.stop()
