"""DataCoord's catalog: what it knows about collections, segments, delete logs, checkpoints,
channel watches, indexes and index builds, as records in the ``MetaKV``.

Key layout (relative to the cluster's etcd root)::

    meta/dc/collection/{coll}                    CollectionInfo (the copy datacoord serves)
    meta/dc/dropped/{coll}                       b"" (tombstone: never learn this id again)
    meta/dc/dropped_partition/{coll}/{part}      b"" (a dropped partition: its late flushes are discarded)
    meta/segment/{coll}/{seg}                    SegmentInfo (state FLUSHED, or DROPPED once compacted away)
    meta/segment_range/{coll}/{seg}              SegmentRange (channel span of the segment)
    meta/compaction/{coll}/{plan}                CompactionTask (one compaction plan)
    meta/delta_log/{coll}/{channel}/{offset}     DeltaLogInfo (offset: 20 digits, the seal's)
    meta/channel_cp/{channel}                    ChannelCheckpoint
    meta/channel_watch/{channel}                 ChannelRecord (datanode assignment)
    meta/index/{coll}/{index_id}                 IndexInfo
    meta/segment_index/{coll}/{build_id}         SegmentIndexInfo (one build task)

A flush result is saved with one ``multi_save`` (segments, ranges, delete logs, checkpoint and
channel record together). When it would exceed the KV's transaction limit, the segments and
ranges go first in smaller batches and the checkpoint last: a segment recorded without the
checkpoint is only skipped on replay (its file is already written), so no row is lost or doubled.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from common.kv.base import MetaKV
from proto.internal import datacoord_pb2, meta_pb2

COLLECTION = "meta/dc/collection/"
DROPPED = "meta/dc/dropped/"
DROPPED_PARTITION = "meta/dc/dropped_partition/"
SEGMENT = "meta/segment/"
SEGMENT_RANGE = "meta/segment_range/"
DELTA_LOG = "meta/delta_log/"
CHECKPOINT = "meta/channel_cp/"
CHANNEL = "meta/channel_watch/"
INDEX = "meta/index/"
SEGMENT_INDEX = "meta/segment_index/"
COMPACTION = "meta/compaction/"

#: Operations per multi_save, below etcd's default --max-txn-ops (128).
MAX_OPS = 100


def delta_log_key(collection_id: int, channel: str, seal_offset: int) -> str:
    return f"{DELTA_LOG}{collection_id}/{channel}/{seal_offset:020d}"


@dataclass
class CatalogState:
    """Everything the catalog holds, as loaded at start."""

    collections: dict[int, meta_pb2.CollectionInfo] = field(default_factory=dict)
    dropped: set[int] = field(default_factory=set)
    dropped_partitions: set[int] = field(default_factory=set)
    segments: dict[int, meta_pb2.SegmentInfo] = field(default_factory=dict)
    ranges: dict[int, datacoord_pb2.SegmentRange] = field(default_factory=dict)
    delta_logs: dict[str, meta_pb2.DeltaLogInfo] = field(default_factory=dict)  # key -> info
    checkpoints: dict[str, meta_pb2.ChannelCheckpoint] = field(default_factory=dict)
    channels: dict[str, datacoord_pb2.ChannelRecord] = field(default_factory=dict)
    indexes: dict[int, meta_pb2.IndexInfo] = field(default_factory=dict)  # index_id -> info
    tasks: dict[int, meta_pb2.SegmentIndexInfo] = field(default_factory=dict)  # build_id -> task
    compactions: dict[int, datacoord_pb2.CompactionTask] = field(default_factory=dict)  # plan_id -> task


class DataCoordCatalog:
    """Reads and writes datacoord's records (layout in the module docstring). Stateless."""

    def __init__(self, kv: MetaKV) -> None:
        self.kv = kv

    # -- loading -----------------------------------------------------------------------------
    def load(self) -> CatalogState:
        state = CatalogState()
        for _, raw in self.kv.get_prefix(COLLECTION):
            info = meta_pb2.CollectionInfo.FromString(raw)
            state.collections[info.collection_id] = info
        for key, _ in self.kv.get_prefix(DROPPED):
            state.dropped.add(int(key.rsplit("/", 1)[1]))
        for key, _ in self.kv.get_prefix(DROPPED_PARTITION):
            state.dropped_partitions.add(int(key.rsplit("/", 1)[1]))
        for _, raw in self.kv.get_prefix(SEGMENT):
            seg = meta_pb2.SegmentInfo.FromString(raw)
            state.segments[seg.segment_id] = seg
        for _, raw in self.kv.get_prefix(SEGMENT_RANGE):
            rng = datacoord_pb2.SegmentRange.FromString(raw)
            state.ranges[rng.segment_id] = rng
        for key, raw in self.kv.get_prefix(DELTA_LOG):
            state.delta_logs[key] = meta_pb2.DeltaLogInfo.FromString(raw)
        for _, raw in self.kv.get_prefix(CHECKPOINT):
            cp = meta_pb2.ChannelCheckpoint.FromString(raw)
            state.checkpoints[cp.channel] = cp
        for _, raw in self.kv.get_prefix(CHANNEL):
            rec = datacoord_pb2.ChannelRecord.FromString(raw)
            state.channels[rec.channel] = rec
        for _, raw in self.kv.get_prefix(INDEX):
            index = meta_pb2.IndexInfo.FromString(raw)
            state.indexes[index.index_id] = index
        for _, raw in self.kv.get_prefix(SEGMENT_INDEX):
            task = meta_pb2.SegmentIndexInfo.FromString(raw)
            state.tasks[task.build_id] = task
        for _, raw in self.kv.get_prefix(COMPACTION):
            plan = datacoord_pb2.CompactionTask.FromString(raw)
            state.compactions[plan.plan_id] = plan
        return state

    # -- collections and channels ------------------------------------------------------------
    def save_collection(self, info: meta_pb2.CollectionInfo,
                        channels: Iterable[datacoord_pb2.ChannelRecord] = ()) -> None:
        puts = {f"{COLLECTION}{info.collection_id}": info.SerializeToString()}
        puts.update({f"{CHANNEL}{rec.channel}": rec.SerializeToString() for rec in channels})
        self._save(puts)

    def save_channels(self, records: Iterable[datacoord_pb2.ChannelRecord]) -> None:
        self._save({f"{CHANNEL}{rec.channel}": rec.SerializeToString() for rec in records})

    def mark_dropped(self, collection_id: int) -> None:
        self.kv.put(f"{DROPPED}{collection_id}", b"")

    def delete_collection(self, collection_id: int, channels: Iterable[str]) -> None:
        """Delete every record of the collection except its tombstone; the collection record
        goes last, so a crash midway leaves it for the next start to finish."""
        for prefix in (SEGMENT_INDEX, INDEX, SEGMENT_RANGE, SEGMENT, DELTA_LOG, DROPPED_PARTITION, COMPACTION):
            self.kv.delete_prefix(f"{prefix}{collection_id}/")
        keys: list[str] = []
        for channel in channels:
            keys += [f"{CHECKPOINT}{channel}", f"{CHANNEL}{channel}"]
        for i in range(0, len(keys), MAX_OPS):
            self.kv.multi_save({}, keys[i:i + MAX_OPS])
        self.kv.delete(f"{COLLECTION}{collection_id}")

    def mark_partitions_dropped(self, collection_id: int, partition_ids: Iterable[int]) -> None:
        self._save({f"{DROPPED_PARTITION}{collection_id}/{pid}": b"" for pid in partition_ids})

    def delete_segments(self, segments: Iterable[meta_pb2.SegmentInfo],
                        tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        """Delete segment records with their ranges and index build tasks."""
        keys = [_task_key(task) for task in tasks]
        for seg in segments:
            suffix = f"{seg.collection_id}/{seg.segment_id}"
            keys += [f"{SEGMENT_RANGE}{suffix}", f"{SEGMENT}{suffix}"]
        for i in range(0, len(keys), MAX_OPS):
            self.kv.multi_save({}, keys[i:i + MAX_OPS])

    # -- flush results -----------------------------------------------------------------------
    def save_flush(self, segments: list[meta_pb2.SegmentInfo], ranges: list[datacoord_pb2.SegmentRange],
                   delta_logs: dict[str, meta_pb2.DeltaLogInfo], checkpoint: meta_pb2.ChannelCheckpoint,
                   channel: datacoord_pb2.ChannelRecord,
                   tasks: Iterable[meta_pb2.SegmentIndexInfo] = ()) -> None:
        """Record flushed segments, their ranges, delete logs and the new checkpoint."""
        seg_puts: dict[str, bytes] = {}
        for seg in segments:
            seg_puts[f"{SEGMENT}{seg.collection_id}/{seg.segment_id}"] = seg.SerializeToString()
        for rng, seg in zip(ranges, segments):
            seg_puts[f"{SEGMENT_RANGE}{seg.collection_id}/{rng.segment_id}"] = rng.SerializeToString()
        for task in tasks:
            seg_puts[_task_key(task)] = task.SerializeToString()
        last = {key: info.SerializeToString() for key, info in delta_logs.items()}
        last[f"{CHECKPOINT}{checkpoint.channel}"] = checkpoint.SerializeToString()
        last[f"{CHANNEL}{channel.channel}"] = channel.SerializeToString()
        if len(seg_puts) + len(last) <= MAX_OPS:
            self.kv.multi_save({**seg_puts, **last})
            return
        self._save(seg_puts)
        self._save(last)

    # -- compactions -------------------------------------------------------------------------
    def save_compactions(self, tasks: Iterable[datacoord_pb2.CompactionTask],
                         segments: Iterable[meta_pb2.SegmentInfo] = (),
                         ranges: Iterable[tuple[int, datacoord_pb2.SegmentRange]] = ()) -> None:
        """Save compaction tasks with segment records and ranges (``(collection_id, range)``).
        Ranges go first, in batches (moving ranges to a target is idempotent: a crash midway is
        finished by the next round); then the segments and tasks in one transaction, so a
        commit (sources Dropped, target Flushed, task Indexing) is atomic. Raises ValueError
        when they do not fit in one transaction."""
        self._save({f"{SEGMENT_RANGE}{cid}/{rng.segment_id}": rng.SerializeToString() for cid, rng in ranges})
        puts = {f"{COMPACTION}{t.collection_id}/{t.plan_id}": t.SerializeToString() for t in tasks}
        for seg in segments:
            puts[f"{SEGMENT}{seg.collection_id}/{seg.segment_id}"] = seg.SerializeToString()
        if len(puts) > MAX_OPS:
            raise ValueError(f"a compaction commit of {len(puts)} records exceeds one transaction ({MAX_OPS})")
        if puts:
            self.kv.multi_save(puts)

    def delete_compactions(self, tasks: Iterable[datacoord_pb2.CompactionTask]) -> None:
        """Delete compaction task records (their segments and ranges stay)."""
        keys = [f"{COMPACTION}{t.collection_id}/{t.plan_id}" for t in tasks]
        for i in range(0, len(keys), MAX_OPS):
            self.kv.multi_save({}, keys[i:i + MAX_OPS])

    # -- indexes and build tasks -------------------------------------------------------------
    def save_index(self, index: meta_pb2.IndexInfo) -> None:
        self.kv.put(f"{INDEX}{index.collection_id}/{index.index_id}", index.SerializeToString())

    def delete_index(self, index: meta_pb2.IndexInfo, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        """Delete an index record and its build tasks (the index record first: tasks left by a
        crash midway belong to no index and are deleted at the next start)."""
        self.kv.delete(f"{INDEX}{index.collection_id}/{index.index_id}")
        keys = [_task_key(task) for task in tasks]
        for i in range(0, len(keys), MAX_OPS):
            self.kv.multi_save({}, keys[i:i + MAX_OPS])

    def build_ids(self, collection_id: int) -> list[int]:
        """Build ids of the stored tasks of a collection."""
        return [meta_pb2.SegmentIndexInfo.FromString(raw).build_id
                for _, raw in self.kv.get_prefix(f"{SEGMENT_INDEX}{collection_id}/")]

    def save_tasks(self, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        self._save({_task_key(task): task.SerializeToString() for task in tasks})

    def delete_tasks(self, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        keys = [_task_key(task) for task in tasks]
        for i in range(0, len(keys), MAX_OPS):
            self.kv.multi_save({}, keys[i:i + MAX_OPS])

    # -- helpers -----------------------------------------------------------------------------
    def _save(self, puts: dict[str, bytes]) -> None:
        items = list(puts.items())
        for i in range(0, len(items), MAX_OPS):
            self.kv.multi_save(dict(items[i:i + MAX_OPS]))


def _task_key(task: meta_pb2.SegmentIndexInfo) -> str:
    return f"{SEGMENT_INDEX}{task.collection_id}/{task.build_id}"
