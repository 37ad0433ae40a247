"""The placement state machine of LoadBalance (coordinators/querycoord/balance.py), step by step
with the node reports as plain values."""
from __future__ import annotations

import pytest

from coordinators.querycoord import balance
from proto.internal import querycoord_pb2

LEADER, WORKER, OTHER = 1, 2, 3
CHANNEL = "ch"


def _load(*placements: querycoord_pb2.SegmentPlacement) -> querycoord_pb2.Replica:
    load = querycoord_pb2.Replica(replica_id=1, node_ids=[LEADER, WORKER, OTHER])
    load.assignments.add(channel=CHANNEL, node_id=LEADER)
    load.placements.extend(placements)
    return load


def _settle(load, *, held=None, workers_ready=(), routed=None, known=(10, 11), compacted=(), live=(1, 2, 3)):  # type: ignore[no-untyped-def]
    held = held or {}
    return balance.settle(load, {CHANNEL: LEADER}, set(live), lambda n: set(held.get(n, ())),
                          lambda n, c: n in workers_ready, lambda c: routed, set(known), set(compacted))


def _one(load: querycoord_pb2.CollectionLoadInfo) -> tuple[int, int, int] | None:
    if not load.placements:
        return None
    p = load.placements[0]
    return p.node_id, p.moving_to, p.releasing_from


def test_plan_round_robin_and_refusals() -> None:
    load = _load()
    channels = {10: CHANNEL, 11: CHANNEL, 12: CHANNEL}
    moves = balance.plan_moves(load, channels, {CHANNEL: LEADER}, LEADER, [WORKER, OTHER], [])
    assert [(m.segment_id, m.node_id, m.moving_to) for m in moves] == [(10, 1, 2), (11, 1, 3), (12, 1, 2)]
    with pytest.raises(ValueError, match="already being moved"):
        balance.plan_moves(load, channels, {CHANNEL: LEADER}, LEADER, [OTHER], [10])
    with pytest.raises(ValueError, match="not held by querynode 2"):
        balance.plan_moves(load, channels, {CHANNEL: LEADER}, WORKER, [OTHER], [10])
    with pytest.raises(ValueError, match="not a loaded sealed segment"):
        balance.plan_moves(load, channels, {CHANNEL: LEADER}, LEADER, [OTHER], [99])


def test_move_flips_once_loaded_and_worker_ready() -> None:
    load = _load(querycoord_pb2.SegmentPlacement(segment_id=10, channel=CHANNEL, moving_to=WORKER))
    assert not _settle(load, held={WORKER: [10]})  # loaded, but the worker shard is not caught up
    assert _one(load) == (0, WORKER, 0)
    assert _settle(load, held={WORKER: [10]}, workers_ready=[WORKER])
    assert _one(load) == (WORKER, 0, 0)  # the leader let it go at once: nothing to release


def test_move_between_workers_releases_after_the_leader_routes_away() -> None:
    load = _load(querycoord_pb2.SegmentPlacement(segment_id=10, channel=CHANNEL, node_id=WORKER, moving_to=OTHER))
    _settle(load, held={OTHER: [10], WORKER: [10]}, workers_ready=[OTHER], routed={10: WORKER})
    assert _one(load) == (OTHER, 0, WORKER)
    _settle(load, routed={10: WORKER})  # the leader still reads it on the old holder
    assert _one(load) == (OTHER, 0, WORKER)
    _settle(load, routed={10: OTHER})
    assert _one(load) == (OTHER, 0, 0)


def test_back_to_the_leader_and_dead_nodes() -> None:
    load = _load(querycoord_pb2.SegmentPlacement(segment_id=10, channel=CHANNEL, node_id=WORKER, moving_to=LEADER))
    _settle(load, held={LEADER: [10]}, routed={10: WORKER})
    assert _one(load) == (0, 0, WORKER)
    _settle(load, routed={})
    assert _one(load) is None  # at the leader for good: no record
    load = _load(querycoord_pb2.SegmentPlacement(segment_id=11, channel=CHANNEL, node_id=WORKER, moving_to=OTHER))
    assert _settle(load, live=(LEADER, OTHER))  # the holder died: the leader takes it back
    assert _one(load) == (0, OTHER, 0)


def test_compacted_segment_stays_until_the_leader_stops_routing_it() -> None:
    load = _load(querycoord_pb2.SegmentPlacement(segment_id=10, channel=CHANNEL, node_id=WORKER, moving_to=OTHER))
    _settle(load, known=(), compacted=[10], routed={10: WORKER})
    assert _one(load) == (WORKER, 0, 0)  # kept where it is, the move cancelled
    _settle(load, known=(), compacted=[10], routed={})
    assert _one(load) is None
    released = _load(querycoord_pb2.SegmentPlacement(segment_id=10, channel=CHANNEL, node_id=WORKER))
    _settle(released, known=(), routed={10: WORKER})  # its partition was released: gone at once
    assert _one(released) is None


def test_new_leader_drops_the_channel_placements() -> None:
    load = _load(querycoord_pb2.SegmentPlacement(segment_id=10, channel=CHANNEL, node_id=WORKER),
                 querycoord_pb2.SegmentPlacement(segment_id=20, channel="other", node_id=WORKER))
    balance.drop_channel_placements(load, CHANNEL)
    assert [p.segment_id for p in load.placements] == [20]
