"""Size-based seals, decided by datacoord: the only role that seals segments (by size here, by
``Flush`` in ``core.py``), always by publishing a SealMsg on the channel.

A datanode reports the growing segments of the channels it consumes in its heartbeat
(``GrowingSegmentReport``: only once its consumer has caught up, so a replay does not report a
segment whose seal is already in the log ahead of it). ``plan_size_seals`` is a pure function
of those reports and of the seals datacoord published earlier whose segments were still
reported growing: a full segment is sealed once. A segment that is no longer reported (its
datanode applied the seal) is forgotten. A seal published twice (after a datacoord restart
forgot the first, or a datanode reported a size from before it applied the seal) is harmless:
consumers ignore a SealMsg naming segments that are not growing.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from proto.internal import datacoord_pb2


@dataclass(frozen=True)
class SizeSeals:
    """What to publish now and what to remember."""

    #: channel -> ids of the growing segments to seal now (ascending)
    seals: dict[str, list[int]]
    #: channel -> ids sealed (now or before) and still reported growing, for each reported channel
    requested: dict[str, frozenset[int]]


def plan_size_seals(growing: Iterable[datacoord_pb2.GrowingSegmentReport], channels: Iterable[str],
                    max_rows: int, requested: Mapping[str, frozenset[int]]) -> SizeSeals:
    """The size-based seals of ``channels`` (the channels one datanode reported for, whose
    growing segments are ``growing``): each segment with at least ``max_rows`` rows (0: never)
    that is not in ``requested[channel]`` (already sealed). Reports of other channels are
    ignored."""
    reported = set(channels)
    ids: dict[str, set[int]] = {channel: set() for channel in reported}
    full: dict[str, set[int]] = {channel: set() for channel in reported}
    for seg in growing:
        if seg.channel not in reported:
            continue
        ids[seg.channel].add(seg.segment_id)
        if max_rows > 0 and seg.num_rows >= max_rows:
            full[seg.channel].add(seg.segment_id)
    seals: dict[str, list[int]] = {}
    remembered: dict[str, frozenset[int]] = {}
    for channel in sorted(reported):
        earlier = requested.get(channel, frozenset())
        new = sorted(full[channel] - earlier)
        if new:
            seals[channel] = new
        remembered[channel] = frozenset((earlier & ids[channel]) | full[channel])
    return SizeSeals(seals, remembered)
