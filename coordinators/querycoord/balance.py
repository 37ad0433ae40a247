"""Where a loaded collection's sealed segments are held, and how LoadBalance moves them.

A channel's leader holds every sealed segment of the channel unless a ``SegmentPlacement``
says otherwise. A move of segment S to node D goes through three steps, each driven by
querynode heartbeats, so that every read sees S exactly once:

1. *moving*: D gets S in its target (as the leader, or in a worker target) and loads it;
   reads still use the old holder.
2. *flip*: once D reports S loaded (and, for a worker, its shard caught up), D becomes the
   holder. The leader's next target routes reads of S to D (or reads it locally when D is the
   leader) and no longer lists S locally, atomically on the leader.
3. *release*: a former holder that is not the leader keeps S until the leader reports that it
   no longer routes S there; only then does S leave that node's target.

When a channel changes leader every placement of the channel is dropped (the new leader
loads everything); a dead worker's segments go back to the leader. A placed segment that a
compaction replaced stays where it is (and routed to) until the leader has loaded its
replacement and stopped routing it; a move of it is cancelled.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from proto.internal import querycoord_pb2

Placement = querycoord_pb2.SegmentPlacement


def placements_by_segment(load: querycoord_pb2.CollectionLoadInfo) -> dict[int, Placement]:
    return {p.segment_id: p for p in load.placements}


def holder(placement: Placement | None, leader: int) -> int:
    """The node serving a segment's reads now."""
    return placement.node_id if placement is not None and placement.node_id else leader


def nodes_holding(placement: Placement | None, leader: int) -> set[int]:
    """Every node that must hold the segment now: the holder, a node it is moving to, a
    former holder not yet released."""
    if placement is None:
        return {leader}
    out = {holder(placement, leader)}
    if placement.moving_to:
        out.add(placement.moving_to)
    if placement.releasing_from:
        out.add(placement.releasing_from)
    return out


def settle(load: querycoord_pb2.CollectionLoadInfo, leader_of: dict[str, int], live: set[int],
           segments_of: Callable[[int], set[int]], serving_worker: Callable[[int, str], bool],
           routed_by_leader: Callable[[str], dict[int, int] | None], known_segments: set[int],
           compacted_segments: set[int]) -> bool:
    """Advance every placement of ``load`` one step where its condition holds; drop those of
    gone nodes and segments. Returns True when something changed (the caller persists).

    ``segments_of(node)``: sealed segment ids the node reported; ``serving_worker(node,
    channel)``: its worker shard of the channel is caught up; ``routed_by_leader(channel)``:
    segment → node the leader reported routing to (None when unknown); ``known_segments``: the
    target's loaded sealed segments; ``compacted_segments``: those merged into another one."""
    changed = False
    kept: list[Placement] = []
    for p in load.placements:
        leader = leader_of.get(p.channel, 0)
        before = Placement()
        before.CopyFrom(p)
        if not leader:
            changed = True
            continue  # the channel has no leader: it reloads everything
        if p.segment_id not in known_segments:
            # Compacted away: its holder keeps it, and the leader reads it there, until the
            # leader has switched to the segment replacing it. Otherwise (released or dropped
            # partition) it is gone for good.
            routed = routed_by_leader(p.channel)
            if p.segment_id not in compacted_segments or (routed is not None and p.segment_id not in routed):
                changed = True
                continue
            if p.moving_to:
                p.moving_to = 0
                changed = True
            kept.append(p)
            continue
        if p.node_id and p.node_id not in live:
            p.node_id = 0  # the leader loads it again
        if p.moving_to and p.moving_to not in live:
            p.moving_to = 0
        if p.releasing_from and p.releasing_from not in live:
            p.releasing_from = 0
        if p.moving_to:
            target = p.moving_to
            loaded = p.segment_id in segments_of(target)
            ready = target == leader or serving_worker(target, p.channel)
            if loaded and ready:
                old = holder(p, leader)
                p.node_id = 0 if target == leader else target
                p.moving_to = 0
                p.releasing_from = old if old != leader and old != target else 0
        if p.releasing_from and not p.moving_to:
            routed = routed_by_leader(p.channel)
            if routed is not None and routed.get(p.segment_id) != p.releasing_from:
                p.releasing_from = 0
        if p.node_id == leader:
            p.node_id = 0
        if p != before:
            changed = True
        if p.node_id or p.moving_to or p.releasing_from:
            kept.append(p)
        else:
            changed = True  # back at the leader for good: no record needed
    if changed:
        del load.placements[:]
        load.placements.extend(kept)
    return changed


def drop_channel_placements(load: querycoord_pb2.CollectionLoadInfo, channel: str) -> None:
    """The channel got a new leader: it holds every segment of the channel again."""
    kept = [p for p in load.placements if p.channel != channel]
    if len(kept) != len(load.placements):
        del load.placements[:]
        load.placements.extend(kept)


def plan_moves(load: querycoord_pb2.CollectionLoadInfo, segment_channel: dict[int, str],
               leader_of: dict[str, int], source: int, destinations: list[int],
               segment_ids: Iterable[int]) -> list[Placement]:
    """Record a move of each of ``segment_ids`` (all segments ``source`` holds when empty)
    from ``source`` to ``destinations`` (round robin, fewest segments first). Returns the
    moves (node_id = source, moving_to = destination). Raises ValueError naming a segment
    that ``source`` does not hold or that is already moving."""
    placed = placements_by_segment(load)
    held = sorted(s for s, channel in segment_channel.items()
                  if holder(placed.get(s), leader_of.get(channel, 0)) == source)
    wanted = sorted(set(segment_ids)) or held
    for s in wanted:
        if s not in segment_channel:
            raise ValueError(f"segment {s} is not a loaded sealed segment of the collection")
        if s not in held:
            raise ValueError(f"segment {s} is not held by querynode {source}")
        p = placed.get(s)
        if p is not None and (p.moving_to or p.releasing_from):
            raise ValueError(f"segment {s} is already being moved")
    counts = {d: 0 for d in destinations}
    for s, channel in segment_channel.items():
        h = holder(placed.get(s), leader_of.get(channel, 0))
        if h in counts:
            counts[h] += 1
    moves = []
    for s in wanted:
        destination = min(destinations, key=lambda d: (counts[d], destinations.index(d)))
        counts[destination] += 1
        p = placed.get(s)
        if p is None:
            p = load.placements.add(segment_id=s, channel=segment_channel[s])
            placed[s] = p
        p.moving_to = destination
        moves.append(Placement(segment_id=s, channel=segment_channel[s], node_id=source, moving_to=destination))
    return moves
