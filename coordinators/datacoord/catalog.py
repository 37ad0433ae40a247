"""Where DataCoord's records live: the ``DataCoordCatalog`` contract, its etcd implementation
(over the cluster's ``MetaKV``) and an in-memory one for unit tests.

Records: the collections datacoord serves, tombstones of dropped collections and partitions,
flushed segments with their channel spans, delete logs, channel checkpoints and watches
(datanode assignments), indexes and their build tasks, compaction plans.

etcd key layout (relative to the cluster's etcd root; existing clusters' data loads as is)::

    meta/dc/collection/{coll}                    CollectionInfo (the copy datacoord serves)
    meta/dc/dropped/{coll}                       b"" (tombstone: never learn this id again)
    meta/dc/dropped_partition/{coll}/{part}      b"" (a dropped partition: its late flushes are discarded)
    meta/segment/{coll}/{seg}                    SegmentInfo (state FLUSHED, or DROPPED once compacted away)
    meta/segment_range/{coll}/{seg}              SegmentRange (channel span of the segment)
    meta/compaction/{coll}/{plan}                CompactionTask (one compaction plan)
    meta/delta_log/{coll}/{channel}/{offset}_{i} DeltaLogInfo (offset: 20 digits, the seal's; i-th log of the flush)
    meta/channel_cp/{channel}                    ChannelCheckpoint
    meta/channel_watch/{channel}                 ChannelRecord (datanode assignment)
    meta/index/{coll}/{index_id}                 IndexInfo
    meta/segment_index/{coll}/{build_id}         SegmentIndexInfo (one build task)

The etcd implementation saves a flush result with one ``multi_save`` (segments, ranges, delete
logs, checkpoint and channel record together). When it would exceed the KV's transaction
limit, the segments and ranges go first in smaller batches and the checkpoint last: a segment
recorded without the checkpoint is only skipped on replay (its file is already written), so no
row is lost or doubled.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

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


def delta_log_id(collection_id: int, channel: str, seal_offset: int, index: int) -> str:
    """The id of the ``index``-th delete log a flush up to ``seal_offset`` wrote. Ids of one
    channel sort in flush order (``CompactionTask.delta_until`` holds one to bound the logs
    a plan applies); an id is also the log's etcd key."""
    return f"{DELTA_LOG}{collection_id}/{channel}/{seal_offset:020d}_{index}"


@dataclass
class CatalogState:
    """Everything the catalog holds, as loaded at start (all empty on a fresh cluster)."""

    collections: dict[int, meta_pb2.CollectionInfo] = field(default_factory=dict)
    dropped: set[int] = field(default_factory=set)
    dropped_partitions: set[int] = field(default_factory=set)
    segments: dict[int, meta_pb2.SegmentInfo] = field(default_factory=dict)
    ranges: dict[int, datacoord_pb2.SegmentRange] = field(default_factory=dict)
    delta_logs: dict[str, meta_pb2.DeltaLogInfo] = field(default_factory=dict)  # delta_log_id -> info
    checkpoints: dict[str, meta_pb2.ChannelCheckpoint] = field(default_factory=dict)
    channels: dict[str, datacoord_pb2.ChannelRecord] = field(default_factory=dict)
    indexes: dict[int, meta_pb2.IndexInfo] = field(default_factory=dict)  # index_id -> info
    tasks: dict[int, meta_pb2.SegmentIndexInfo] = field(default_factory=dict)  # build_id -> task
    compactions: dict[int, datacoord_pb2.CompactionTask] = field(default_factory=dict)  # plan_id -> task


class DataCoordCatalog(Protocol):
    """DataCoord's persistent records.

    Contract shared by every implementation:
    - ``load`` returns what the saves left (a fresh cluster: an empty ``CatalogState``), as
      records the caller may keep and change: a change is stored only when saved again, and a
      saved record is stored as it was at the call;
    - a save replaces records with the same identity (collection id, channel, segment id,
      delta log id, index id, build id, plan id); deletes ignore absent records;
    - atomicity: ``save_collection`` (with its channels) and the segments and tasks of
      ``save_compactions`` go in one transaction; ``save_flush`` too unless it holds more than
      ``MAX_OPS`` records (then segments and ranges first, checkpoint and channel last);
      the other multi-record saves and deletes may apply in several steps, each idempotent,
      so a crash midway is finished by doing the same call again;
    - failures raise ``MetaKVError``.
    """

    def load(self) -> CatalogState:
        """Every record."""

    def save_collection(self, info: meta_pb2.CollectionInfo,
                        channels: Iterable[datacoord_pb2.ChannelRecord] = ()) -> None:
        """Store a collection with new channel records, in one transaction."""

    def save_channels(self, records: Iterable[datacoord_pb2.ChannelRecord]) -> None:
        """Store channel records (datanode assignments)."""

    def mark_dropped(self, collection_id: int) -> None:
        """Tombstone a collection: its id is never learnt again."""

    def delete_collection(self, collection_id: int, channels: Iterable[str]) -> None:
        """Delete every record of the collection (and the checkpoints and records of
        ``channels``) except its tombstone; the collection record goes last."""

    def mark_partitions_dropped(self, collection_id: int, partition_ids: Iterable[int]) -> None:
        """Tombstone partitions: late flushes of their rows are discarded."""

    def delete_segments(self, segments: Iterable[meta_pb2.SegmentInfo],
                        tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        """Delete segment records with their ranges, and index build tasks."""

    def save_flush(self, segments: list[meta_pb2.SegmentInfo], ranges: list[datacoord_pb2.SegmentRange],
                   delta_logs: dict[str, meta_pb2.DeltaLogInfo], checkpoint: meta_pb2.ChannelCheckpoint,
                   channel: datacoord_pb2.ChannelRecord) -> None:
        """Record a flush: segments with their ranges (``ranges[i]`` is ``segments[i]``'s),
        delete logs by ``delta_log_id``, the channel's new checkpoint and record."""

    def save_compactions(self, tasks: Iterable[datacoord_pb2.CompactionTask],
                         segments: Iterable[meta_pb2.SegmentInfo] = (),
                         ranges: Iterable[tuple[int, datacoord_pb2.SegmentRange]] = ()) -> None:
        """Store compaction tasks with segment records and ranges (``(collection_id, range)``):
        ranges first, possibly in several steps (moving ranges to a target is idempotent), then
        the segments and tasks in one transaction. Raises ValueError (nothing of the segments
        and tasks stored) when they are more than ``MAX_OPS``."""

    def delete_compactions(self, tasks: Iterable[datacoord_pb2.CompactionTask]) -> None:
        """Delete compaction task records (their segments and ranges stay)."""

    def save_index(self, index: meta_pb2.IndexInfo) -> None:
        """Store an index."""

    def delete_index(self, index: meta_pb2.IndexInfo, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        """Delete an index record, then its build tasks (tasks left by a crash midway belong
        to no index)."""

    def build_ids(self, collection_id: int) -> list[int]:
        """Build ids of the stored build tasks of a collection."""

    def save_tasks(self, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        """Store index build tasks."""

    def delete_tasks(self, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        """Delete index build tasks."""


class EtcdDataCoordCatalog:
    """``DataCoordCatalog`` over a ``MetaKV`` (layout in the module docstring)."""

    def __init__(self, kv: MetaKV) -> None:
        self._kv = kv

    # -- loading -----------------------------------------------------------------------------
    def load(self) -> CatalogState:
        state = CatalogState()
        for _, raw in self._kv.get_prefix(COLLECTION):
            info = meta_pb2.CollectionInfo.FromString(raw)
            state.collections[info.collection_id] = info
        for key, _ in self._kv.get_prefix(DROPPED):
            state.dropped.add(int(key.rsplit("/", 1)[1]))
        for key, _ in self._kv.get_prefix(DROPPED_PARTITION):
            state.dropped_partitions.add(int(key.rsplit("/", 1)[1]))
        for _, raw in self._kv.get_prefix(SEGMENT):
            seg = meta_pb2.SegmentInfo.FromString(raw)
            state.segments[seg.segment_id] = seg
        for _, raw in self._kv.get_prefix(SEGMENT_RANGE):
            rng = datacoord_pb2.SegmentRange.FromString(raw)
            state.ranges[rng.segment_id] = rng
        for key, raw in self._kv.get_prefix(DELTA_LOG):
            state.delta_logs[key] = meta_pb2.DeltaLogInfo.FromString(raw)
        for _, raw in self._kv.get_prefix(CHECKPOINT):
            cp = meta_pb2.ChannelCheckpoint.FromString(raw)
            state.checkpoints[cp.channel] = cp
        for _, raw in self._kv.get_prefix(CHANNEL):
            rec = datacoord_pb2.ChannelRecord.FromString(raw)
            state.channels[rec.channel] = rec
        for _, raw in self._kv.get_prefix(INDEX):
            index = meta_pb2.IndexInfo.FromString(raw)
            state.indexes[index.index_id] = index
        for _, raw in self._kv.get_prefix(SEGMENT_INDEX):
            task = meta_pb2.SegmentIndexInfo.FromString(raw)
            state.tasks[task.build_id] = task
        for _, raw in self._kv.get_prefix(COMPACTION):
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
        self._kv.put(f"{DROPPED}{collection_id}", b"")

    def delete_collection(self, collection_id: int, channels: Iterable[str]) -> None:
        """Delete every record of the collection except its tombstone; the collection record
        goes last, so a crash midway leaves it for the next start to finish."""
        for prefix in (SEGMENT_INDEX, INDEX, SEGMENT_RANGE, SEGMENT, DELTA_LOG, DROPPED_PARTITION, COMPACTION):
            self._kv.delete_prefix(f"{prefix}{collection_id}/")
        keys: list[str] = []
        for channel in channels:
            keys += [f"{CHECKPOINT}{channel}", f"{CHANNEL}{channel}"]
        for i in range(0, len(keys), MAX_OPS):
            self._kv.multi_save({}, keys[i:i + MAX_OPS])
        self._kv.delete(f"{COLLECTION}{collection_id}")

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
            self._kv.multi_save({}, keys[i:i + MAX_OPS])

    # -- flush results -----------------------------------------------------------------------
    def save_flush(self, segments: list[meta_pb2.SegmentInfo], ranges: list[datacoord_pb2.SegmentRange],
                   delta_logs: dict[str, meta_pb2.DeltaLogInfo], checkpoint: meta_pb2.ChannelCheckpoint,
                   channel: datacoord_pb2.ChannelRecord) -> None:
        seg_puts: dict[str, bytes] = {}
        for seg in segments:
            seg_puts[f"{SEGMENT}{seg.collection_id}/{seg.segment_id}"] = seg.SerializeToString()
        for rng, seg in zip(ranges, segments):
            seg_puts[f"{SEGMENT_RANGE}{seg.collection_id}/{rng.segment_id}"] = rng.SerializeToString()
        last = {key: info.SerializeToString() for key, info in delta_logs.items()}
        last[f"{CHECKPOINT}{checkpoint.channel}"] = checkpoint.SerializeToString()
        last[f"{CHANNEL}{channel.channel}"] = channel.SerializeToString()
        if len(seg_puts) + len(last) <= MAX_OPS:
            self._kv.multi_save({**seg_puts, **last})
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
            self._kv.multi_save(puts)

    def delete_compactions(self, tasks: Iterable[datacoord_pb2.CompactionTask]) -> None:
        """Delete compaction task records (their segments and ranges stay)."""
        keys = [f"{COMPACTION}{t.collection_id}/{t.plan_id}" for t in tasks]
        for i in range(0, len(keys), MAX_OPS):
            self._kv.multi_save({}, keys[i:i + MAX_OPS])

    # -- indexes and build tasks -------------------------------------------------------------
    def save_index(self, index: meta_pb2.IndexInfo) -> None:
        self._kv.put(f"{INDEX}{index.collection_id}/{index.index_id}", index.SerializeToString())

    def delete_index(self, index: meta_pb2.IndexInfo, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        """Delete an index record and its build tasks (the index record first: tasks left by a
        crash midway belong to no index and are deleted at the next start)."""
        self._kv.delete(f"{INDEX}{index.collection_id}/{index.index_id}")
        keys = [_task_key(task) for task in tasks]
        for i in range(0, len(keys), MAX_OPS):
            self._kv.multi_save({}, keys[i:i + MAX_OPS])

    def build_ids(self, collection_id: int) -> list[int]:
        """Build ids of the stored tasks of a collection."""
        return [meta_pb2.SegmentIndexInfo.FromString(raw).build_id
                for _, raw in self._kv.get_prefix(f"{SEGMENT_INDEX}{collection_id}/")]

    def save_tasks(self, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        self._save({_task_key(task): task.SerializeToString() for task in tasks})

    def delete_tasks(self, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        keys = [_task_key(task) for task in tasks]
        for i in range(0, len(keys), MAX_OPS):
            self._kv.multi_save({}, keys[i:i + MAX_OPS])

    # -- helpers -----------------------------------------------------------------------------
    def _save(self, puts: dict[str, bytes]) -> None:
        items = list(puts.items())
        for i in range(0, len(items), MAX_OPS):
            self._kv.multi_save(dict(items[i:i + MAX_OPS]))


class MemoryDataCoordCatalog:
    """``DataCoordCatalog`` in plain dicts (records copied in and out, never serialized)."""

    def __init__(self) -> None:
        self.collections: dict[int, meta_pb2.CollectionInfo] = {}
        self.dropped: set[int] = set()
        self.dropped_partitions: set[tuple[int, int]] = set()  # (collection, partition)
        self.segments: dict[int, meta_pb2.SegmentInfo] = {}
        self.ranges: dict[int, tuple[int, datacoord_pb2.SegmentRange]] = {}  # segment -> (collection, range)
        self.delta_logs: dict[str, meta_pb2.DeltaLogInfo] = {}
        self.checkpoints: dict[str, meta_pb2.ChannelCheckpoint] = {}
        self.channels: dict[str, datacoord_pb2.ChannelRecord] = {}
        self.indexes: dict[int, meta_pb2.IndexInfo] = {}
        self.tasks: dict[int, meta_pb2.SegmentIndexInfo] = {}
        self.compactions: dict[int, datacoord_pb2.CompactionTask] = {}

    def load(self) -> CatalogState:
        return deepcopy(CatalogState(
            collections=self.collections, dropped=self.dropped,
            dropped_partitions={pid for _, pid in self.dropped_partitions},
            segments=self.segments, ranges={s: rng for s, (_, rng) in self.ranges.items()},
            delta_logs=dict(sorted(self.delta_logs.items())), checkpoints=self.checkpoints,
            channels=self.channels, indexes=self.indexes, tasks=self.tasks, compactions=self.compactions))

    def save_collection(self, info: meta_pb2.CollectionInfo,
                        channels: Iterable[datacoord_pb2.ChannelRecord] = ()) -> None:
        self.collections[info.collection_id] = deepcopy(info)
        self.save_channels(channels)

    def save_channels(self, records: Iterable[datacoord_pb2.ChannelRecord]) -> None:
        self.channels.update({rec.channel: deepcopy(rec) for rec in records})

    def mark_dropped(self, collection_id: int) -> None:
        self.dropped.add(collection_id)

    def delete_collection(self, collection_id: int, channels: Iterable[str]) -> None:
        _delete_where(self.tasks, lambda t: t.collection_id == collection_id)
        _delete_where(self.indexes, lambda i: i.collection_id == collection_id)
        _delete_where(self.ranges, lambda r: r[0] == collection_id)
        _delete_where(self.segments, lambda s: s.collection_id == collection_id)
        _delete_where(self.delta_logs, lambda d: d.collection_id == collection_id)
        _delete_where(self.compactions, lambda t: t.collection_id == collection_id)
        self.dropped_partitions = {(c, p) for c, p in self.dropped_partitions if c != collection_id}
        for channel in channels:
            self.checkpoints.pop(channel, None)
            self.channels.pop(channel, None)
        self.collections.pop(collection_id, None)

    def mark_partitions_dropped(self, collection_id: int, partition_ids: Iterable[int]) -> None:
        self.dropped_partitions.update((collection_id, pid) for pid in partition_ids)

    def delete_segments(self, segments: Iterable[meta_pb2.SegmentInfo],
                        tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        self.delete_tasks(tasks)
        for seg in segments:
            self.ranges.pop(seg.segment_id, None)
            self.segments.pop(seg.segment_id, None)

    def save_flush(self, segments: list[meta_pb2.SegmentInfo], ranges: list[datacoord_pb2.SegmentRange],
                   delta_logs: dict[str, meta_pb2.DeltaLogInfo], checkpoint: meta_pb2.ChannelCheckpoint,
                   channel: datacoord_pb2.ChannelRecord) -> None:
        for seg in segments:
            self.segments[seg.segment_id] = deepcopy(seg)
        for rng, seg in zip(ranges, segments):
            self.ranges[rng.segment_id] = (seg.collection_id, deepcopy(rng))
        self.delta_logs.update(deepcopy(delta_logs))
        self.checkpoints[checkpoint.channel] = deepcopy(checkpoint)
        self.channels[channel.channel] = deepcopy(channel)

    def save_compactions(self, tasks: Iterable[datacoord_pb2.CompactionTask],
                         segments: Iterable[meta_pb2.SegmentInfo] = (),
                         ranges: Iterable[tuple[int, datacoord_pb2.SegmentRange]] = ()) -> None:
        for cid, rng in ranges:
            self.ranges[rng.segment_id] = (cid, deepcopy(rng))
        tasks, segments = list(tasks), list(segments)
        if len(tasks) + len(segments) > MAX_OPS:
            raise ValueError(f"a compaction commit of {len(tasks) + len(segments)} records exceeds one "
                             f"transaction ({MAX_OPS})")
        self.compactions.update({t.plan_id: deepcopy(t) for t in tasks})
        self.segments.update({s.segment_id: deepcopy(s) for s in segments})

    def delete_compactions(self, tasks: Iterable[datacoord_pb2.CompactionTask]) -> None:
        for task in tasks:
            self.compactions.pop(task.plan_id, None)

    def save_index(self, index: meta_pb2.IndexInfo) -> None:
        self.indexes[index.index_id] = deepcopy(index)

    def delete_index(self, index: meta_pb2.IndexInfo, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        self.indexes.pop(index.index_id, None)
        self.delete_tasks(tasks)

    def build_ids(self, collection_id: int) -> list[int]:
        return sorted(b for b, t in self.tasks.items() if t.collection_id == collection_id)

    def save_tasks(self, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        self.tasks.update({t.build_id: deepcopy(t) for t in tasks})

    def delete_tasks(self, tasks: Iterable[meta_pb2.SegmentIndexInfo]) -> None:
        for task in tasks:
            self.tasks.pop(task.build_id, None)


def _task_key(task: meta_pb2.SegmentIndexInfo) -> str:
    return f"{SEGMENT_INDEX}{task.collection_id}/{task.build_id}"


_K = TypeVar("_K")
_V = TypeVar("_V")


def _delete_where(records: dict[_K, _V], matches: Callable[[_V], bool]) -> None:
    for key in [k for k, v in records.items() if matches(v)]:
        del records[key]
