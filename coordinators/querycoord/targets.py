"""What querycoord tells a querynode to hold for one channel (``ChannelTarget``), built from
datacoord's RecoveryInfo of a loaded collection."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from proto.internal import datacoord_pb2, meta_pb2, querycoord_pb2
from proto.milvus import common_pb2


def compacted_segments(target: datacoord_pb2.RecoveryInfo) -> set[int]:
    """Segments a compaction merged into another one (their channel spans say where)."""
    return {r.segment_id for r in target.segment_ranges if r.compacted_to}


def target_segments(target: datacoord_pb2.RecoveryInfo,
                     load: querycoord_pb2.CollectionLoadInfo) -> list[datacoord_pb2.SegmentWithIndex]:
    """The flushed segments of the load's partitions."""
    loaded = set(load.partition_ids) if load.partition_load else None
    return [s for s in target.segments
            if s.segment.state not in (meta_pb2.DROPPED, meta_pb2.GROWING) and s.segment.num_rows >= 0
            and (loaded is None or s.segment.partition_id in loaded)]


def channel_target(load: querycoord_pb2.CollectionLoadInfo, channel: str, target: datacoord_pb2.RecoveryInfo,
                    holds: Callable[[int], bool], *, remote: Sequence[querycoord_pb2.RemoteSegment] = (),
                    worker: bool = False,
                    extra: Sequence[datacoord_pb2.SegmentWithIndex] = ()) -> querycoord_pb2.ChannelTarget:
    """The target of one node for ``channel``: the sealed segments it ``holds`` (by id) among
    the target's and ``extra`` (placed segments a compaction dropped from the target), the ones
    the leader reads on other nodes (``remote``), and whether it is a worker target."""
    out = querycoord_pb2.ChannelTarget(collection=load.collection, channel=channel,
                                       partition_load=load.partition_load, partition_ids=load.partition_ids,
                                       worker=worker, remote_segments=remote)
    checkpoint = next((c for c in target.checkpoints if c.channel == channel), None)
    out.checkpoint.CopyFrom(checkpoint or meta_pb2.ChannelCheckpoint(channel=channel, offset=0))
    out.delta_logs.extend(d for d in target.delta_logs if d.channel == channel)
    index_ids = {i.index_id for i in target.indexes}
    for seg in [*target_segments(target, load), *extra]:
        if seg.segment.channel != channel or not holds(seg.segment.segment_id):
            continue
        copy = out.sealed_segments.add()
        copy.segment.CopyFrom(seg.segment)
        copy.indexes.extend(i for i in seg.indexes
                            if i.index_id in index_ids and i.state in (common_pb2.Finished, common_pb2.IndexStateNone)
                            and i.index_path)
    out.indexes.extend(target.indexes)
    # The channel's spans that a replay from the checkpoint may meet (compacted-away and
    # unloaded segments' too: their inserts are persisted), and the spans whose rows a
    # targeted segment holds (a querynode learns from them which growing or sealed copies a
    # compaction's target replaces).
    # A span without a channel is one of a listed segment's.
    held = {s.segment.segment_id for s in out.sealed_segments}
    channel_of = {s.segment.segment_id: s.segment.channel for s in target.segments}
    out.segment_ranges.extend(r for r in target.segment_ranges
                              if (r.channel or channel_of.get(r.segment_id)) == channel
                              and (r.seal_offset > out.checkpoint.offset or (r.compacted_to or r.segment_id) in held))
    return out
