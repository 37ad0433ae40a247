"""The ZeroMQ hot path (common/fastrpc.py): answers equal the guarded servicer's, errors come
back as Statuses, a stopped server fails calls fast, a restarted one is reached again."""
from __future__ import annotations

import socket
import threading

import pytest
import zmq

from common import fastrpc
from common.errors import NodeNotAvailable, ParameterInvalid
from common.fastrpc import FastRpcClient, FastRpcServer
from common.net import stable_free_port
from common.rpc import guard_servicer
from proto.internal import querynode_pb2, querynode_pb2_grpc

SERVICE = querynode_pb2.DESCRIPTOR.services_by_name["QueryNode"]


@guard_servicer(SERVICE)
class EchoService(querynode_pb2_grpc.QueryNodeServicer):
    """Search echoes nq and topk; topk < 0 is refused like a bad parameter. Query answers
    with every field at its default."""

    def Search(self, request, context):
        if request.topk < 0:
            raise ParameterInvalid(f"topk {request.topk} is negative")
        result = querynode_pb2.ShardSearchResult()
        result.results.num_queries = request.nq
        result.results.top_k = request.topk
        return result

    def Query(self, request, context):
        return querynode_pb2.ShardQueryResult()


def _server(port: int = 0, workers: int = 4) -> FastRpcServer:
    server = FastRpcServer(EchoService(), SERVICE, ["Search", "Query"], "127.0.0.1", port, workers=workers)
    server.start()
    return server


def _client(endpoint: str, alive=lambda: True, timeout_s: float = 10.0) -> FastRpcClient:  # type: ignore[no-untyped-def]
    return FastRpcClient(endpoint, SERVICE, ["Search", "Query"], alive=alive, timeout_s=timeout_s)


def test_answers_and_error_statuses() -> None:
    server = _server()
    client = _client(server.endpoint)
    try:
        answer = client.call("Search", querynode_pb2.ShardSearchRequest(nq=3, topk=7))
        assert (answer.results.num_queries, answer.results.top_k) == (3, 7)
        # an answer with every field at its default serializes to no bytes at all
        assert client.call("Query", querynode_pb2.ShardQueryRequest()) == querynode_pb2.ShardQueryResult()
        with pytest.raises(ParameterInvalid, match="topk -1 is negative"):
            client.call("Search", querynode_pb2.ShardSearchRequest(topk=-1))
        # the socket is still usable after an error answer
        assert client.call("Search", querynode_pb2.ShardSearchRequest(nq=1, topk=1)).results.top_k == 1
    finally:
        client.close()
        server.stop()


def test_many_threads_get_their_own_answers() -> None:
    server = _server()
    assert len(server.endpoint.split(",")) == 4  # one port per worker; client threads spread over them
    client = _client(server.endpoint)
    wrong: list[tuple[int, int]] = []

    def run(base: int) -> None:
        for i in range(50):
            got = client.call("Search", querynode_pb2.ShardSearchRequest(nq=base, topk=i)).results
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


def test_unserved_method_and_garbage_payload() -> None:
    server = FastRpcServer(EchoService(), SERVICE, ["Search"], "127.0.0.1", workers=1)  # Query not served
    server.start()
    client = _client(server.endpoint)
    raw = zmq.Context.instance().socket(zmq.DEALER)
    try:
        with pytest.raises(NodeNotAvailable, match="not served"):
            client.call("Query", querynode_pb2.ShardQueryRequest())
        raw.connect(server.endpoint)
        raw.send_multipart([b"", b"7", b"Search", b"\xff\xff\xff"])
        assert raw.poll(5000)
        _, request_id, served, body = raw.recv_multipart()
        status = querynode_pb2.ShardSearchResult.FromString(body).status
        assert (request_id, served) == (b"7", fastrpc.SERVED) and status.code == 1100 and "cannot be decoded" in status.reason
    finally:
        raw.close(linger=0)
        client.close()
        server.stop()


def test_stopped_server_fails_fast_and_restart_is_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastrpc, "LIVENESS_INTERVAL_S", 0.2)
    port = stable_free_port()
    server = _server(port, workers=1)
    up = {"alive": True}
    client = _client(server.endpoint, alive=lambda: up["alive"], timeout_s=30.0)
    try:
        assert client.call("Search", querynode_pb2.ShardSearchRequest(nq=1, topk=1)).results.top_k == 1
        server.stop()
        up["alive"] = False
        with pytest.raises(NodeNotAvailable):
            client.call("Search", querynode_pb2.ShardSearchRequest(nq=1, topk=2))
        server = _server(port, workers=1)
        up["alive"] = True
        assert client.call("Search", querynode_pb2.ShardSearchRequest(nq=1, topk=3)).results.top_k == 3
    finally:
        client.close()
        server.stop()


def test_closed_client_refuses_calls() -> None:
    server = _server()
    client = _client(server.endpoint)
    try:
        client.call("Search", querynode_pb2.ShardSearchRequest(nq=1, topk=1))
        client.close()
        with pytest.raises(NodeNotAvailable, match="closed"):
            client.call("Search", querynode_pb2.ShardSearchRequest(nq=1, topk=1))
    finally:
        server.stop()


def _two_free_ports() -> int:
    """A port p such that p and p + 1 are both free now."""
    for _ in range(50):
        port = stable_free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


def test_a_taken_port_fails_start_and_frees_the_others() -> None:
    port = _two_free_ports()
    blocker = _server(port + 1, workers=1)
    try:
        with pytest.raises(zmq.ZMQError):
            _server(port, workers=2)
        server = _server(port, workers=1)  # the first port was released again
        assert server.endpoint == f"tcp://127.0.0.1:{port}"
        server.stop()
    finally:
        blocker.stop()
