"""What querynodes report (``NodeView``) and what querycoord concludes from it, as pure
functions of the load record, the collection's target and the node views: how far a load is
(``load_progress``) and which nodes serve each channel (``shard_leaders``, one per replica)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from common.errors import ServiceUnavailable
from coordinators.querycoord import balance
from coordinators.querycoord.targets import target_segments
from proto.internal import datacoord_pb2, querycoord_pb2


@dataclass
class NodeView:
    """What a querynode reported in its last heartbeat."""

    node_id: int
    address: str
    channels: dict[str, querycoord_pb2.ChannelStatus] = field(default_factory=dict)
    sealed_segment_ids: set[int] = field(default_factory=set)
    indexed_build_ids: set[int] = field(default_factory=set)
    last_seen: float = 0.0
    segments: list[querycoord_pb2.LoadedSegment] = field(default_factory=list)

    def serves(self, channel: str, load: querycoord_pb2.CollectionLoadInfo,
               target: datacoord_pb2.RecoveryInfo | None) -> bool:
        """True when the node serves ``channel`` of the load's collection, caught up, with
        exactly the load's partitions and the indexes of ``target`` (a shard still holding the
        target of an earlier load would check searches against indexes since dropped)."""
        status = self.channels.get(channel)
        if status is None or not status.serviceable or status.collection_id != load.collection.collection_id:
            return False
        if status.partition_load != load.partition_load:
            return False
        if target is None or set(status.index_ids) != {i.index_id for i in target.indexes}:
            return False
        return not load.partition_load or set(status.partition_ids) == set(load.partition_ids)


def load_progress(load: querycoord_pb2.CollectionLoadInfo, target: datacoord_pb2.RecoveryInfo | None,
                  nodes: Mapping[int, NodeView], live: set[int] | Mapping[int, str],
                  partition_ids: set[int] | None = None) -> int:
    """Loading progress (0..100) of ``load`` (of ``partition_ids`` only, when given), over
    its replicas: the share of the replicas' channels served by their live leader and of
    their copies of its partitions' sealed segments held by their live holder. A replica
    without a node (more replicas than querynodes) does not count while another one has
    nodes: it is loaded when a node comes, and the collection is not "loading" meanwhile. 0
    without a target; 100 when there is nothing to wait for; below 100 until everything is
    done. Ignores ``load.fully_loaded``."""
    if target is None:
        return 0
    segments = [seg for seg in target_segments(target, load)
                if partition_ids is None or seg.segment.partition_id in partition_ids]
    placed = [r for r in load.replicas if r.node_ids] or list(load.replicas)
    total = done = 0
    for replica in placed:
        node_of = {a.channel: a.node_id for a in replica.assignments}
        placements = balance.placements_by_segment(replica)
        for channel, node_id in node_of.items():
            total += 1
            view = nodes.get(node_id)
            if node_id in live and view is not None and view.serves(channel, load, target):
                done += 1
        for seg in segments:
            leader = node_of.get(seg.segment.channel)
            if leader is None:
                continue
            node_id = balance.holder(placements.get(seg.segment.segment_id), leader)
            total += 1
            view = nodes.get(node_id)
            if node_id in live and view is not None and seg.segment.segment_id in view.sealed_segment_ids:
                done += 1
    if total == 0 or done == total:
        return 100
    return min(99, done * 100 // total)


def replica_leaders(load: querycoord_pb2.CollectionLoadInfo, replica: querycoord_pb2.Replica,
                    target: datacoord_pb2.RecoveryInfo | None, nodes: Mapping[int, NodeView],
                    live: Mapping[int, str]) -> dict[str, querycoord_pb2.ShardLeader]:
    """The channels of ``replica`` whose leader is live and serves them (channel → leader,
    with its address: the session's, else the reported one)."""
    out = {}
    for a in replica.assignments:
        view = nodes.get(a.node_id)
        if a.node_id in live and view is not None and view.serves(a.channel, load, target):
            out[a.channel] = querycoord_pb2.ShardLeader(channel=a.channel, node_id=a.node_id,
                                                        address=live[a.node_id] or view.address,
                                                        replica_id=replica.replica_id)
    return out


def shard_leaders(load: querycoord_pb2.CollectionLoadInfo, target: datacoord_pb2.RecoveryInfo | None,
                  nodes: Mapping[int, NodeView], live: Mapping[int, str]) -> list[querycoord_pb2.ShardLeader]:
    """Every serviceable leader of each channel, one per replica that serves it (channel
    order, then replica order). Raises ServiceUnavailable (retriable) when a channel has no
    serviceable leader in any replica."""
    by_replica = [replica_leaders(load, r, target, nodes, live) for r in load.replicas]
    leaders = []
    for channel in load.collection.channels:
        found = [leaders_of[channel] for leaders_of in by_replica if channel in leaders_of]
        if not found:
            raise ServiceUnavailable(
                f"channel {channel} of collection {load.collection.collection_id} has no serviceable shard "
                "leader yet (the collection is still loading or its querynode is recovering); retry later")
        leaders.extend(found)
    return leaders
