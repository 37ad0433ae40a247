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

Placements belong to a replica (``querycoord_pb2.Replica``): a segment moves between nodes of
one replica, and each replica holds its own copy of every segment.

When a channel changes leader every placement of the channel is dropped (the new leader
loads everything); a dead worker's segments go back to the leader. A placed segment that a
compaction replaced stays where it is (and routed to) until the leader has loaded its
replacement and stopped routing it; a move of it is cancelled.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from common.errors import (
    CollectionNotLoaded,
    NodeNotFound,
    ParameterInvalid,
    SegmentNotFound,
)
from coordinators.querycoord.replicas import replica_of
from coordinators.querycoord.state import QueryCoordState
from coordinators.querycoord.targets import (
    channel_target,
    compacted_segments,
    target_segments,
)
from proto.internal import datacoord_pb2, querycoord_pb2

Placement = querycoord_pb2.SegmentPlacement


def placements_by_segment(replica: querycoord_pb2.Replica) -> dict[int, Placement]:
    return {p.segment_id: p for p in replica.placements}


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


def settle(replica: querycoord_pb2.Replica, leader_of: dict[str, int], live: set[int],
           segments_of: Callable[[int], set[int]], serving_worker: Callable[[int, str], bool],
           routed_by_leader: Callable[[str], dict[int, int] | None], known_segments: set[int],
           compacted_segments: set[int]) -> bool:
    """Advance every placement of ``replica`` one step where its condition holds; drop those
    of gone nodes (not in ``live``: the replica's nodes) and segments. Returns True when
    something changed (the caller persists).

    ``segments_of(node)``: sealed segment ids the node reported; ``serving_worker(node,
    channel)``: its worker shard of the channel is caught up; ``routed_by_leader(channel)``:
    segment → node the leader reported routing to (None when unknown); ``known_segments``: the
    target's loaded sealed segments; ``compacted_segments``: those merged into another one."""
    changed = False
    kept: list[Placement] = []
    for p in replica.placements:
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
        del replica.placements[:]
        replica.placements.extend(kept)
    return changed


def drop_channel_placements(replica: querycoord_pb2.Replica, channel: str) -> None:
    """The channel got a new leader in ``replica``: it holds every segment of the channel again."""
    kept = [p for p in replica.placements if p.channel != channel]
    if len(kept) != len(replica.placements):
        del replica.placements[:]
        replica.placements.extend(kept)


def plan_moves(replica: querycoord_pb2.Replica, segment_channel: dict[int, str],
               leader_of: dict[str, int], source: int, destinations: list[int],
               segment_ids: Iterable[int]) -> list[Placement]:
    """Record a move of each of ``segment_ids`` (all segments ``source`` holds when empty)
    from ``source`` to ``destinations`` (round robin, fewest segments first). Returns the
    moves (node_id = source, moving_to = destination). Raises ValueError naming a segment
    that ``source`` does not hold or that is already moving."""
    placed = placements_by_segment(replica)
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
            p = replica.placements.add(segment_id=s, channel=segment_channel[s])
            placed[s] = p
        p.moving_to = destination
        moves.append(Placement(segment_id=s, channel=segment_channel[s], node_id=source, moving_to=destination))
    return moves


def node_targets(node_id: int, load: querycoord_pb2.CollectionLoadInfo, replica: querycoord_pb2.Replica,
                 target: datacoord_pb2.RecoveryInfo, addresses: Mapping[int, str],
                 placed_infos: Mapping[int, datacoord_pb2.SegmentWithIndex]) -> list[querycoord_pb2.ChannelTarget]:
    """The targets of ``node_id`` for ``load`` in ``replica`` (its replica): one per channel it leads (its segments, and
    the ones it reads on other nodes, with their ``addresses``), and a worker target per
    channel it holds placed segments of for another leader. ``placed_infos``: the last known
    record of placed segments, so that one a compaction dropped from ``target`` stays held
    (and routed to) where it is."""
    placed = placements_by_segment(replica)
    current = target_segments(target, load)
    current_ids = {seg.segment.segment_id for seg in current}
    compacted = compacted_segments(target)
    vanished = [placed_infos[s] for s in placed
                if s not in current_ids and s in compacted and s in placed_infos]
    out = []
    for a in replica.assignments:
        leader = a.node_id

        def holds(segment_id: int, leader: int = leader) -> bool:
            return node_id in nodes_holding(placed.get(segment_id), leader)
        if leader == node_id:
            remote = []
            for seg in current + vanished:
                h = holder(placed.get(seg.segment.segment_id), leader)
                if seg.segment.channel == a.channel and h != leader:
                    remote.append(querycoord_pb2.RemoteSegment(
                        segment_id=seg.segment.segment_id, node_id=h, address=addresses.get(h, ""),
                        partition_id=seg.segment.partition_id))
            out.append(channel_target(load, a.channel, target, holds, remote=remote))
        elif any(p.channel == a.channel and node_id in nodes_holding(p, leader) for p in replica.placements):
            out.append(channel_target(load, a.channel, target, holds, worker=True, extra=vanished))
    return out


def movable_segments(load: querycoord_pb2.CollectionLoadInfo, replica: querycoord_pb2.Replica,
                     target: datacoord_pb2.RecoveryInfo, source: int, source_loaded: set[int]) -> dict[int, str]:
    """The loaded sealed segments of ``load`` a LoadBalance from ``source`` (a node of
    ``replica``) may name (segment → channel): the target's, except those of channels
    ``source`` leads that it has not reported loaded (``source_loaded``)."""
    leader_of = {a.channel: a.node_id for a in replica.assignments}
    channel_of = {s.segment.segment_id: s.segment.channel for s in target_segments(target, load)}
    return {s: c for s, c in channel_of.items() if s in source_loaded or source != leader_of.get(c)}


class BalanceMixin(QueryCoordState):
    """QueryCoord's LoadBalance and per-node targets (mixed into ``QueryCoord``; see the module
    docstring)."""

    def _node_targets(self, node_id: int, load: querycoord_pb2.CollectionLoadInfo,
                      target: datacoord_pb2.RecoveryInfo) -> list[querycoord_pb2.ChannelTarget]:
        """``node_targets`` of the node in its replica of ``load`` (none when it is in none),
        after remembering the records of placed segments (a compaction may drop one from the
        target while its holder keeps serving it). Caller holds the lock."""
        replica = replica_of(load, node_id)
        if replica is None:
            return []
        placed = placements_by_segment(replica)
        for seg in target_segments(target, load):
            if seg.segment.segment_id in placed:
                self._placed_infos[seg.segment.segment_id] = seg
        addresses = {n: v.address for n, v in self._nodes.items()}
        return node_targets(node_id, load, replica, target, addresses, self._placed_infos)

    def _settle(self, load: querycoord_pb2.CollectionLoadInfo, live: dict[int, str]) -> bool:
        """Advance the segment moves of every replica of the load (``settle``) from the nodes'
        reports. Caller holds the lock."""
        target = self._targets.get(load.collection.collection_id)
        if target is None:
            return False
        known = {s.segment.segment_id for s in target_segments(target, load)}
        compacted = compacted_segments(target)
        changed = False
        for replica in load.replicas:
            if replica.placements:
                changed |= self._settle_replica(replica, set(live) & set(replica.node_ids), known, compacted)
        placed = {p.segment_id for other in self._loads.values() for r in other.replicas for p in r.placements}
        for segment_id in [s for s in self._placed_infos if s not in placed]:
            del self._placed_infos[segment_id]
        return changed

    def _settle_replica(self, replica: querycoord_pb2.Replica, live: set[int], known: set[int],
                        compacted: set[int]) -> bool:
        leader_of = {a.channel: a.node_id for a in replica.assignments}

        def segments_of(node: int) -> set[int]:
            view = self._nodes.get(node)
            return view.sealed_segment_ids if view is not None else set()

        def serving_worker(node: int, channel: str) -> bool:
            view = self._nodes.get(node)
            status = view.channels.get(channel) if view is not None else None
            return status is not None and status.worker and status.serviceable

        def routed_by_leader(channel: str) -> dict[int, int] | None:
            view = self._nodes.get(leader_of.get(channel, 0))
            status = view.channels.get(channel) if view is not None else None
            if status is None or status.worker:
                return None
            return {r.segment_id: r.node_id for r in status.routed}

        return settle(replica, leader_of, live, segments_of, serving_worker, routed_by_leader, known, compacted)

    def load_balance(self, request: querycoord_pb2.LoadBalanceRequest) -> querycoord_pb2.LoadBalanceResponse:
        """Move sealed segments of a loaded collection from ``source_node_id`` to the target
        nodes (or nodes chosen here), all in the source's replica, then wait up to
        ``timeout_s`` for the moves to finish (the destinations serve them and the source has
        let them go).

        Raises CollectionNotLoaded, NodeNotFound (source or destination not a live querynode,
        or not in the source's replica), SegmentNotFound (a segment the source does not hold),
        ParameterInvalid."""
        live = self._live_nodes()
        source = request.source_node_id
        if source not in live:
            raise NodeNotFound(f"node not found[node={source}]: source querynode is not alive")
        destinations = list(dict.fromkeys(request.target_node_ids))
        for node in destinations:
            if node not in live:
                raise NodeNotFound(f"node not found[node={node}]: destination querynode is not alive")
        if source in destinations:
            raise ParameterInvalid(f"querynode {source} is both the source and a destination")
        with self._lock:
            load = self._loads.get(request.collection_id)
            if load is None:
                raise CollectionNotLoaded(f"collection not loaded[collection={request.collection_id}]")
            replica = replica_of(load, source)
            if replica is None:
                raise NodeNotFound(f"node not found[node={source}]: source node not found in any replica of "
                                   f"collection {request.collection_id}")
            for node in destinations:
                if node not in replica.node_ids:
                    raise NodeNotFound(f"node not found[node={node}]: destination node not found in the same replica")
            destinations = destinations or sorted(n for n in replica.node_ids if n != source and n in live)
            if not destinations:
                raise ParameterInvalid(f"no other querynode in the replica of querynode {source} to move segments to")
            target = self._targets.get(request.collection_id) or datacoord_pb2.RecoveryInfo()
            leader_of = {a.channel: a.node_id for a in replica.assignments}
            # Only segments the source really holds now can move (held and reported loaded).
            loaded = self._nodes[source].sealed_segment_ids if source in self._nodes else set()
            channel_of = movable_segments(load, replica, target, source, loaded)
            try:
                moves = plan_moves(replica, channel_of, leader_of, source, destinations, request.segment_ids)
            except ValueError as exc:
                raise SegmentNotFound(f"segment not found: {exc}") from None
            self._persist(load)
            replica_id = replica.replica_id
        self.log.info("load balance of collection %d (replica %d): %s", request.collection_id, replica_id,
                      [(m.segment_id, m.node_id, m.moving_to) for m in moves])
        self._wake.set()
        ids = {m.segment_id for m in moves}
        deadline = time.monotonic() + max(0.0, request.timeout_s)
        while True:  # done: moved, and the source no longer reports holding them
            with self._lock:
                load = self._loads.get(request.collection_id)
                replica = next((r for r in load.replicas if r.replica_id == replica_id), None) if load else None
                source_view = self._nodes.get(source)
                still_on_source = source_view.sealed_segment_ids & ids if source_view is not None else set()
                moving = replica.placements if replica is not None else ()
                pending = [p.segment_id for p in moving if p.segment_id in ids and (p.moving_to or p.releasing_from)]
                pending += sorted(still_on_source)
            if not pending or time.monotonic() >= deadline or self._stopping.is_set():
                return querycoord_pb2.LoadBalanceResponse(moves=moves, done=not pending)
            time.sleep(min(0.05, self._interval))
