"""The proxy's choice among a channel's replica leaders (proxy/routing.py): fewest reads in
flight first, round robin among equals, unreachable nodes last until a probe answers; the
leader list is asked for again after its TTL or ``forget``; while a coordinator fails over, the
expired leader list and index info are used (proxy/env.py's IndexCache)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from common.errors import NodeNotAvailable, ServiceInternal, ServiceNotReady
from proto.internal import meta_pb2, querycoord_pb2
from proxy import routing
from proxy.env import IndexCache
from proxy.routing import ShardRouter
from tests.support.mini_requests import wait_until


class _Peers:
    """A querycoord answering fixed leaders and querynodes that answer unless ``down``."""

    def __init__(self, leaders: list[querycoord_pb2.ShardLeader]) -> None:
        self.leaders = leaders
        self.asked = 0
        self.down: set[str] = set()

    def get_shard_leaders(self, request):  # type: ignore[no-untyped-def]
        self.asked += 1
        return querycoord_pb2.ShardLeadersResponse(leaders=self.leaders)

    def querynode(self, address: str) -> SimpleNamespace:
        def state(request: meta_pb2.Empty) -> meta_pb2.ComponentStateResponse:
            if address in self.down:
                raise NodeNotAvailable(f"{address} is down")
            return meta_pb2.ComponentStateResponse()
        return SimpleNamespace(get_component_state=state)


def _router(peers: _Peers) -> ShardRouter:
    return ShardRouter(SimpleNamespace(querycoord=peers, querynode=peers.querynode))  # type: ignore[arg-type]


def _leader(channel: str, node: int) -> querycoord_pb2.ShardLeader:
    return querycoord_pb2.ShardLeader(channel=channel, node_id=node, address=f"n{node}", replica_id=node)


def test_order_prefers_idle_reachable_leaders_in_turn(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(routing, "PROBE_INTERVAL_S", 0.02)
    peers = _Peers([_leader("a", 1), _leader("a", 2), _leader("b", 1), _leader("b", 2)])
    router = _router(peers)
    try:
        collection = SimpleNamespace(collection_id=7)
        shards = router.shards(collection)  # type: ignore[arg-type]
        assert [[leader.node_id for leader in s] for s in shards] == [[1, 2], [1, 2]]
        assert router.shards(collection) is shards and peers.asked == 1  # type: ignore[arg-type]
        firsts = [router.order(shards[0])[0].node_id for _ in range(4)]
        assert sorted(firsts) == [1, 1, 2, 2]  # round robin
        with router.reading("n1"):
            assert [router.order(shards[0])[0].node_id for _ in range(3)] == [2, 2, 2]  # n1 is busy
        peers.down.add("n2")
        router.mark_unreachable("n2")
        assert router.is_marked("n2")
        assert [router.order(shards[0])[0].node_id for _ in range(3)] == [1, 1, 1]
        assert [leader.node_id for leader in router.order(shards[0])] == [1, 2]  # still tried last
        time.sleep(0.1)
        assert router.is_marked("n2")  # the probe does not answer
        peers.down.clear()
        wait_until(lambda: not router.is_marked("n2"), timeout_s=5)
        router.forget(7)
        router.shards(collection)  # type: ignore[arg-type]
        assert peers.asked == 2
        monkeypatch.setattr(routing, "LEADERS_TTL_S", 0.0)
        router.shards(collection)  # type: ignore[arg-type]
        assert peers.asked == 3
    finally:
        router.close()


class _Failing:
    """A coordinator that answers ``answer()`` until ``error`` is set, then raises it."""

    def __init__(self, answer) -> None:  # type: ignore[no-untyped-def]
        self.answer = answer
        self.error: Exception | None = None

    def __call__(self, request):  # type: ignore[no-untyped-def]
        if self.error is not None:
            raise self.error
        return self.answer()


def test_expired_leaders_serve_while_querycoord_cannot_answer(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A retriable error of querycoord (its failover) reuses the expired list; any other error,
    or no list at all, reaches the caller."""
    monkeypatch.setattr(routing, "LEADERS_TTL_S", 0.0)
    leaders = [_leader("a", 1), _leader("a", 2)]
    ask = _Failing(lambda: querycoord_pb2.ShardLeadersResponse(leaders=leaders))
    router = ShardRouter(SimpleNamespace(querycoord=SimpleNamespace(get_shard_leaders=ask)))  # type: ignore[arg-type]
    try:
        ask.error = NodeNotAvailable("querycoord is down")
        with pytest.raises(NodeNotAvailable):
            router.shards(SimpleNamespace(collection_id=7))  # type: ignore[arg-type]
        ask.error = None
        shards = router.shards(SimpleNamespace(collection_id=7))  # type: ignore[arg-type]
        ask.error = ServiceNotReady("a standby instance")
        assert router.shards(SimpleNamespace(collection_id=7)) is shards  # type: ignore[arg-type]
        ask.error = ServiceInternal("a bug")
        with pytest.raises(ServiceInternal):
            router.shards(SimpleNamespace(collection_id=7))  # type: ignore[arg-type]
    finally:
        router.close()


def test_expired_index_info_serves_while_datacoord_cannot_answer() -> None:
    index = meta_pb2.IndexInfo(index_name="vec_idx")
    ask = _Failing(lambda: SimpleNamespace(indexes=[SimpleNamespace(index=index)]))
    cache = IndexCache(SimpleNamespace(datacoord=SimpleNamespace(describe_index=ask)), ttl_s=0.0)  # type: ignore[arg-type]
    ask.error = NodeNotAvailable("datacoord is down")
    with pytest.raises(NodeNotAvailable):
        cache.get(7, "vec")
    ask.error = None
    assert cache.get(7, "vec") == index
    ask.error = NodeNotAvailable("datacoord is down")
    assert cache.get(7, "vec") == index
    ask.error = ServiceInternal("a bug")
    with pytest.raises(ServiceInternal):
        cache.get(7, "vec")
