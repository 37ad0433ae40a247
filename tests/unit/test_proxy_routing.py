"""The proxy's choice among a channel's replica leaders (proxy/routing.py): fewest reads in
flight first, round robin among equals, unreachable nodes last until a probe answers; the
leader list is asked for again after its TTL or ``forget``."""
from __future__ import annotations

import time
from types import SimpleNamespace

from common.errors import NodeNotAvailable
from proto.internal import meta_pb2, querycoord_pb2
from proxy import routing
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
