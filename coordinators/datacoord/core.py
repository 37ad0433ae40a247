"""DataCoord logic: channel watches, flushed segments and checkpoints, flush, indexes and their
build tasks. State lives in memory and in a ``DataCoordCatalog`` (``catalog.py``); it is rebuilt
from the catalog on start.

- **Collections** are learnt from rootcoord (a loop calls ShowCollections every
  ``common.heartbeat_interval_s`` x 5) and from any request that carries a CollectionInfo (or
  names an unknown id: DescribeCollection). A collection missing from two rounds in a row
  (created before the round's timestamp) that DescribeCollection no longer finds is dropped, as
  by ``DropCollection``. Dropped ids are tombstoned and never learnt again.
- **Channels** of every collection are assigned to live datanode sessions (the least loaded,
  round-robin among equals); a channel whose datanode session is gone moves to a live one. A
  datanode learns its channels from ``DataNodeHeartbeat``. ``SaveFlushResult`` is accepted only
  from the datanode the channel is assigned to (a fenced-off node cannot move a checkpoint).
- **Partitions**: ``DropPartition`` tombstones a partition (late flushes of its rows are
  discarded, their files removed), publishes a DropPartitionMsg on every channel, then removes
  its segment files, index files and records (finished at the next sync round after a crash).
  Statistics count the flushed rows of the whole collection or of given partitions.
- **Seals** are datacoord's alone: size-based ones (``seals.py``: a growing segment a datanode
  reports in its heartbeat with ``segment_max_rows`` rows is sealed by a SealMsg naming it)
  and Flush's.
- **Flush** publishes a collection-wide SealMsg on every channel; ``GetFlushState`` is true
  once every channel's checkpoint carries a flush_ts at least as new. Datanodes report the
  segments each seal closed (``SealReport``, sent at once after the seal is applied); Flush
  waits up to ``FLUSH_SEAL_WAIT_S`` for the reports of channels with a live consumer and
  answers the segments it sealed.
- **Compaction**: see ``compaction.py``. Segments compacted away stay recorded as DROPPED
  (their channel spans matter to replays); statistics, indexes and GetSegmentInfo count the
  live (FLUSHED) segments only.
- **Indexes** and their build tasks: see ``indexes.py``.

Remote calls (rootcoord, broker, object storage) are made outside the state lock.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeGuard

from common.errors import (
    ChannelNotFound,
    CollectionNotFound,
    MilvusError,
    ParameterInvalid,
)
from common.session import list_sessions
from common.storage.layout import (
    delta_log_prefix,
    index_file_prefix,
    insert_log_prefix,
    partition_insert_log_prefix,
)
from coordinators.datacoord.catalog import delta_log_id
from coordinators.datacoord.channels import assign_channels
from coordinators.datacoord.compaction import CompactionMixin
from coordinators.datacoord.indexes import IndexMixin
from coordinators.datacoord.seals import plan_size_seals
from proto.internal import datacoord_pb2, dml_pb2, meta_pb2, rootcoord_pb2
from proto.milvus import common_pb2

IndexState = common_pb2.IndexState
#: Rounds of ShowCollections a known collection must be missing from before it is dropped.
MISSING_ROUNDS_TO_DROP = 2
WARN_EVERY_S = 5.0
#: Longest wait of Flush for the datanodes' reports of the segments its seal closed.
FLUSH_SEAL_WAIT_S = 2.0
#: Seal reports remembered per channel.
SEAL_REPORTS_KEPT = 64


class DataCoord(CompactionMixin, IndexMixin):
    """See the module docstring; its state is ``DataCoordState`` (``state.py``). Implements
    ``common.interfaces.DataCoord``; every method of it but ``get_component_state`` raises
    ServiceNotReady until started. Thread-safe."""

    # ------------------------------------------------------------------------ lifecycle
    def _start(self) -> None:
        state = self._catalog.load()
        with self._lock:
            self._dropped = state.dropped
            self._dropped_partitions = state.dropped_partitions
            self._pending_drops = {c for c in state.collections if c in state.dropped}
            self._collections = {c: info for c, info in state.collections.items() if c not in state.dropped}
            self._segments = state.segments
            self._ranges = state.ranges
            self._delta_logs = state.delta_logs
            self._checkpoints = state.checkpoints
            self._channels = state.channels
            self._indexes = state.indexes
            self._compactions = {p: t for p, t in state.compactions.items() if t.collection_id not in state.dropped}
            orphans = [t for t in state.tasks.values() if t.index_id not in self._indexes]
            self._tasks = {b: t for b, t in state.tasks.items() if t.index_id in self._indexes}
            self._task_of = {(t.segment_id, t.index_id): b for b, t in self._tasks.items()}
        if orphans:
            self._catalog.delete_tasks(orphans)
        # In-progress builds have no known lease after a restart: the maintenance loop hands
        # them out again (a late report of the old build is still accepted).
        self.run_every(self._interval, self._quietly(self._maintain), "maintain")
        self.run_every(self._interval * 5, self._quietly(self._sync_collections), "sync-collections")

    def _quietly(self, step: Callable[[], None]) -> Callable[[], None]:
        """``step`` with its expected failures (rootcoord, etcd or broker unavailable) logged at
        most every WARN_EVERY_S instead of a traceback every round; others reach run_every."""

        def run() -> None:
            try:
                step()
            except MilvusError as exc:  # the loop tries again next round
                if time.monotonic() - self._last_warning > WARN_EVERY_S and not self._stopping.is_set():
                    self._last_warning = time.monotonic()
                    self.log.warning("%s failed: %s", step.__name__.strip("_"), exc)

        return run

    # ------------------------------------------------------------------------ helpers
    @staticmethod
    def _complete(info: meta_pb2.CollectionInfo | None) -> TypeGuard[meta_pb2.CollectionInfo]:
        return info is not None and bool(info.channels) and bool(info.schema.fields)

    def _ensure_collection(self, collection_id: int,
                           info: meta_pb2.CollectionInfo | None = None) -> meta_pb2.CollectionInfo:
        """The collection, learnt from ``info`` or rootcoord when unknown. Raises
        CollectionNotFound for a dropped or unknown collection."""
        if info is not None and info.collection_id:
            collection_id = info.collection_id
        with self._lock:
            if collection_id in self._dropped:
                raise CollectionNotFound(f"collection not found[collection={collection_id}]")
            known = self._collections.get(collection_id)
            if known is not None and (not self._complete(info) or info.update_ts <= known.update_ts):
                return known
        if not self._complete(info):
            if not collection_id:
                raise ParameterInvalid("the request names no collection")
            info = self._context.rootcoord.describe_collection(
                rootcoord_pb2.DescribeCollectionRequest(collection_id=collection_id)).collection
        assert info is not None
        return self._add_collection(info)

    def _add_collection(self, info: meta_pb2.CollectionInfo) -> meta_pb2.CollectionInfo:
        with self._lock:
            cid = info.collection_id
            if cid in self._dropped:
                raise CollectionNotFound(f"collection not found[collection={cid}]")
            known = self._collections.get(cid)
            if known is not None and info.update_ts <= known.update_ts:
                return known
            new_channels = [datacoord_pb2.ChannelRecord(channel=ch, collection_id=cid)
                            for ch in info.channels if ch not in self._channels]
            self._catalog.save_collection(info, new_channels)
            self._collections[cid] = info
            for rec in new_channels:
                self._channels[rec.channel] = rec
            if known is None:
                self.log.info("watching collection %d (%s), channels %s", cid, info.name, list(info.channels))
        if new_channels:
            self._assign_channels()
        return info

    # ------------------------------------------------------------------------ loops
    def _maintain(self) -> None:
        self._assign_channels()
        self._reclaim_index_leases()
        self.advance_compactions()

    def _sync_collections(self) -> None:
        """Learn new collections from rootcoord, drop the ones it forgot, finish interrupted
        drops and create missing index build tasks."""
        for cid in list(self._pending_drops):
            self._drop_collection(cid)
        with self._lock:
            leftovers: dict[int, set[int]] = {}
            for seg in self._segments.values():
                if seg.partition_id in self._dropped_partitions:
                    leftovers.setdefault(seg.collection_id, set()).add(seg.partition_id)
        for cid, pids in leftovers.items():  # a drop_partitions interrupted by a crash
            self._drop_partitions(cid, pids)
        t0 = self._alloc_ts()
        listed = self._context.rootcoord.show_collections(rootcoord_pb2.ShowCollectionsRequest()).collections
        seen = set()
        for info in listed:
            seen.add(info.collection_id)
            if info.collection_id not in self._dropped:
                self._add_collection(info)
        with self._lock:
            gone = []
            for cid, info in self._collections.items():
                if cid in seen or info.created_ts >= t0:
                    self._missing.pop(cid, None)
                    continue
                self._missing[cid] += 1
                if self._missing[cid] >= MISSING_ROUNDS_TO_DROP:
                    gone.append(cid)
        for cid in gone:
            try:  # ask for it by id: ShowCollections may one day list one database only
                self._context.rootcoord.describe_collection(rootcoord_pb2.DescribeCollectionRequest(collection_id=cid))
            except CollectionNotFound:
                self.log.info("collection %d is gone from rootcoord: dropping its data", cid)
                self._drop_collection(cid)
            else:
                self._missing.pop(cid, None)
        for cid in list(self._collections):
            self._ensure_tasks(cid)

    def _assign_channels(self) -> None:
        """Move the channels of gone datanodes to live ones (``assign_channels``)."""
        live = [s.server_id for s in list_sessions(self._kv, "datanode")]
        with self._lock:
            moves, self._rr = assign_channels({name: rec.node_id for name, rec in self._channels.items()},
                                              live, self._rr)
            changed = []
            for name, node in sorted(moves.items()):
                moved = datacoord_pb2.ChannelRecord()
                moved.CopyFrom(self._channels[name])
                moved.node_id = node
                changed.append(moved)
            if changed:
                self._catalog.save_channels(changed)
                for rec in changed:
                    self.log.info("channel %s -> datanode %d", rec.channel, rec.node_id)
                    self._channels[rec.channel] = rec

    # ------------------------------------------------------------------------ datanodes
    def data_node_heartbeat(self, request: datacoord_pb2.DataNodeHeartbeatRequest
                            ) -> datacoord_pb2.DataNodeHeartbeatResponse:
        """Record the node's seal reports, seal its full growing segments; answer its channels
        and their compaction plans."""
        self.require_ready()
        node_id = request.node_id
        self._record_seals(request.seals, request.channels)
        self._seal_full_segments(node_id, request.channels, request.growing)
        with self._lock:
            unassigned = any(rec.node_id == 0 for rec in self._channels.values())
        if unassigned:
            self._assign_channels()
        out = datacoord_pb2.DataNodeHeartbeatResponse(segment_max_rows=self._segment_max_rows)
        with self._lock:
            for name in sorted(self._channels):
                rec = self._channels[name]
                info = self._collections.get(rec.collection_id)
                if rec.node_id != node_id or info is None:
                    continue
                watch = out.channels.add(channel=name, flushed_offset=rec.flushed_offset)
                watch.collection.CopyFrom(info)
                cp = self._checkpoints.get(name)
                watch.checkpoint.CopyFrom(cp if cp is not None else meta_pb2.ChannelCheckpoint(channel=name))
                for seg in self._collection_segments(info.collection_id):
                    if seg.channel != name:
                        continue
                    watch.flushed_segment_ids.append(seg.segment_id)
                    rng = self._ranges.get(seg.segment_id)
                    # Only spans that reach past the checkpoint matter to a replay from it.
                    if rng is not None and rng.seal_offset >= watch.checkpoint.offset:
                        watch.flushed_ranges.append(rng)
            out.compactions.extend(self.compaction_plans(node_id))
        return out

    def _seal_full_segments(self, node_id: int, channels: Iterable[str],
                            growing: Iterable[datacoord_pb2.GrowingSegmentReport]) -> None:
        """Publish a SealMsg for each full growing segment the node reports (``seals.py``), on
        the channels assigned to it. A failed publish is retried at the next heartbeat."""
        with self._lock:
            owned = [ch for ch in channels if (rec := self._channels.get(ch)) is not None and rec.node_id == node_id]
            plan = plan_size_seals(growing, owned, self._segment_max_rows,
                                   {ch: self._size_seals.get(ch, frozenset()) for ch in owned})
            self._size_seals.update(plan.requested)
            collections = {ch: self._channels[ch].collection_id for ch in plan.seals}
        if not plan.seals:
            return
        try:
            ts = self._alloc_ts()
            for channel, segment_ids in plan.seals.items():
                seal = dml_pb2.SealMsg(collection_id=collections[channel], segment_ids=segment_ids, timestamp=ts)
                self._context.log.produce(channel, [(ts, dml_pb2.DmlMsg(seal=seal).SerializeToString())])
                self.log.info("channel %s: segments %s are full: sealed", channel, segment_ids)
                del collections[channel]
        except Exception as exc:  # noqa: BLE001 - rootcoord or the broker unavailable: next heartbeat
            with self._lock:
                for channel in collections:  # not published: forget them, so they are sealed again
                    self._size_seals[channel] = self._size_seals.get(channel, frozenset()) - set(plan.seals[channel])
            self.log.warning("sealing full segments of %s failed: %s", sorted(collections), exc)

    def _record_seals(self, seals: Iterable[datacoord_pb2.SealReport], consuming: Iterable[str]) -> None:
        now = time.monotonic()
        with self._seal_reported:
            for channel in consuming:
                self._consumed_at[channel] = now
            for report in seals:
                known = self._seals.setdefault(report.channel, {})
                known[report.offset] = list(report.segment_ids)
                while len(known) > SEAL_REPORTS_KEPT:
                    del known[min(known)]
            self._seal_reported.notify_all()

    def save_flush_result(self, req: datacoord_pb2.SaveFlushResultRequest) -> None:
        """Record a datanode's flush: idempotent, and only from the channel's datanode."""
        self.require_ready()
        cid = req.collection_id
        with self._lock:
            dropped = cid in self._dropped
        if dropped:
            # Written after DropCollection removed the collection's files: remove them too.
            for path in [s.insert_log for s in req.segments] + [d.path for d in req.delta_logs]:
                if path:
                    self._context.storage.remove(path)
            raise CollectionNotFound(f"collection not found[collection={cid}]: it was dropped")
        with self._lock:
            if cid not in self._collections:
                raise CollectionNotFound(f"collection not found[collection={cid}]")
            rec = self._channels.get(req.channel)
            if rec is None or rec.collection_id != cid:
                raise ChannelNotFound(f"channel not found[channel={req.channel}]")
            if rec.node_id != req.node_id:
                raise ChannelNotFound(
                    f"channel {req.channel} is watched by datanode {rec.node_id}, not {req.node_id}")
            segments, ranges = [], []
            discarded = [s.insert_log for s in req.segments if s.partition_id in self._dropped_partitions]
            for seg in req.segments:
                if seg.segment_id in self._segments or seg.partition_id in self._dropped_partitions:
                    continue  # a replayed request, or rows of a dropped partition
                copy = meta_pb2.SegmentInfo()
                copy.CopyFrom(seg)
                copy.collection_id, copy.channel, copy.state = cid, req.channel, meta_pb2.FLUSHED
                segments.append(copy)
                ranges.append(datacoord_pb2.SegmentRange(
                    segment_id=seg.segment_id, partition_id=seg.partition_id,
                    start_offset=seg.start_offset, seal_offset=req.seal_offset))
            deltas: dict[str, meta_pb2.DeltaLogInfo] = {}
            for i, log in enumerate(req.delta_logs):
                delta = meta_pb2.DeltaLogInfo()
                delta.CopyFrom(log)
                delta.collection_id, delta.channel = cid, req.channel
                deltas[delta_log_id(cid, req.channel, req.seal_offset, i)] = delta
            old = self._checkpoints.get(req.channel, meta_pb2.ChannelCheckpoint(channel=req.channel))
            cp = meta_pb2.ChannelCheckpoint(channel=req.channel,
                                            offset=max(old.offset, req.checkpoint.offset),
                                            flush_ts=max(old.flush_ts, req.checkpoint.flush_ts))
            new_rec = datacoord_pb2.ChannelRecord()
            new_rec.CopyFrom(rec)
            new_rec.flushed_offset = max(rec.flushed_offset, req.seal_offset + 1)
            self._catalog.save_flush(segments, ranges, deltas, cp, new_rec)
            for seg, rng in zip(segments, ranges):
                self._segments[seg.segment_id] = seg
                self._ranges[seg.segment_id] = rng
            self._delta_logs.update(deltas)
            self._checkpoints[req.channel] = cp
            self._channels[req.channel] = new_rec
        for path in discarded:
            if path:
                self._context.storage.remove(path)
        if segments:
            self.log.info("channel %s: flushed segments %s, checkpoint %d", req.channel,
                          [s.segment_id for s in segments], cp.offset)
            try:
                self._ensure_tasks(cid)
            except Exception as exc:  # noqa: BLE001 - the loop creates them later
                self.log.warning("creating index tasks of collection %d failed: %s", cid, exc)

    # ------------------------------------------------------------------------ flush
    def flush(self, request: datacoord_pb2.FlushRequest) -> datacoord_pb2.FlushResponse:
        """Seal every growing segment of the collection; answers flush_ts, the ids of the
        segments flushed before and of the growing segments this flush sealed. The sealed ids
        are those the channels' datanodes report within ``FLUSH_SEAL_WAIT_S`` (a channel
        without a live consumer is not waited for)."""
        self.require_ready()
        coll = self._ensure_collection(request.collection.collection_id, request.collection)
        with self._lock:
            flushed = [s.segment_id for s in self._live_segments(coll.collection_id)]
        ts = self._alloc_ts()
        seal = dml_pb2.SealMsg(collection_id=coll.collection_id, timestamp=ts)
        payload = dml_pb2.DmlMsg(seal=seal).SerializeToString()
        offsets = {channel: self._context.log.produce(channel, [(ts, payload)]) for channel in coll.channels}
        deadline = time.monotonic() + FLUSH_SEAL_WAIT_S
        with self._seal_reported:
            while True:
                now = time.monotonic()
                waiting = [ch for ch, offset in offsets.items() if offset not in self._seals.get(ch, {})
                           and now - self._consumed_at.get(ch, -1e9) < 5 * self._interval + 1.0]
                if not waiting or now >= deadline:
                    break
                self._seal_reported.wait(deadline - now)
            sealed = sorted({i for ch, offset in offsets.items() for i in self._seals.get(ch, {}).get(offset, ())})
        if waiting:
            self.log.warning("flush of collection %d: no seal report from the datanodes of %s within %.1f s",
                             coll.collection_id, waiting, FLUSH_SEAL_WAIT_S)
        return datacoord_pb2.FlushResponse(flush_ts=ts, segment_ids=flushed, sealed_segment_ids=sealed)

    def get_flush_state(self, request: datacoord_pb2.GetFlushStateRequest) -> datacoord_pb2.GetFlushStateResponse:
        self.require_ready()
        coll = self._ensure_collection(request.collection_id)
        with self._lock:
            flushed = all((cp := self._checkpoints.get(channel)) is not None and cp.flush_ts >= request.flush_ts
                          for channel in coll.channels)
        return datacoord_pb2.GetFlushStateResponse(flushed=flushed)

    # ------------------------------------------------------------------------ recovery
    def get_recovery_info(self, request: datacoord_pb2.CollectionRequest) -> datacoord_pb2.RecoveryInfo:
        """What readers of the collection load: the visible segments (a compaction's target
        only once it is indexed) with their finished index builds, the channel spans of every
        flushed segment (compacted-away ones included, with ``compacted_to`` and ``channel``),
        delete logs, checkpoints and indexes."""
        self.require_ready()
        coll = self._ensure_collection(request.collection_id, request.collection)
        cid = coll.collection_id
        out = datacoord_pb2.RecoveryInfo()
        with self._lock:
            finished: dict[int, list[meta_pb2.SegmentIndexInfo]] = {}
            for task in self._tasks.values():
                if task.collection_id == cid and task.state == IndexState.Finished:
                    finished.setdefault(task.segment_id, []).append(task)
            for seg in self._visible_segments(cid):
                item = out.segments.add()
                item.segment.CopyFrom(seg)
                item.indexes.extend(sorted(finished.get(seg.segment_id, []), key=lambda t: t.index_id))
            for seg in self._collection_segments(cid):
                if seg.segment_id in self._ranges:
                    rng = out.segment_ranges.add()
                    rng.CopyFrom(self._ranges[seg.segment_id])
                    rng.channel = seg.channel
            out.delta_logs.extend(log for key, log in sorted(self._delta_logs.items()) if log.collection_id == cid)
            for channel in coll.channels:
                cp = self._checkpoints.get(channel)
                out.checkpoints.append(cp if cp is not None else meta_pb2.ChannelCheckpoint(channel=channel))
            out.indexes.extend(self._collection_indexes(cid))
        return out

    def get_statistics(self, request: datacoord_pb2.CollectionRequest) -> datacoord_pb2.StatisticsResponse:
        """Rows in the flushed segments of the collection (of ``partition_ids`` when given)."""
        self.require_ready()
        coll = self._ensure_collection(request.collection_id, request.collection)
        wanted = set(request.partition_ids)
        with self._lock:
            rows = sum(s.num_rows for s in self._live_segments(coll.collection_id)
                       if not wanted or s.partition_id in wanted)
        return datacoord_pb2.StatisticsResponse(row_count=rows)

    def get_segment_info(self, request: datacoord_pb2.CollectionRequest) -> datacoord_pb2.SegmentInfoResponse:
        """The collection's flushed segments (compacted-away ones excluded), by id."""
        self.require_ready()
        coll = self._ensure_collection(request.collection_id or request.collection.collection_id)
        with self._lock:
            return datacoord_pb2.SegmentInfoResponse(segments=self._live_segments(coll.collection_id))

    # ------------------------------------------------------------------------ drop partition
    def drop_partition(self, request: datacoord_pb2.CollectionRequest) -> None:
        self.require_ready()
        self._drop_partitions(request.collection_id or request.collection.collection_id, request.partition_ids)

    def _drop_partitions(self, collection_id: int, partition_ids: Iterable[int]) -> None:
        """Drop the data of partitions (idempotent): tombstone them (so flushes of their rows
        still in flight are discarded), tell every channel's consumers to discard their growing
        rows (DropPartitionMsg), then forget their flushed segments and index builds and remove
        the files."""
        dropped = sorted(set(partition_ids))
        if not dropped:
            raise ParameterInvalid("DropPartition needs the ids of the partitions to drop")
        coll = self._ensure_collection(collection_id)
        cid = coll.collection_id
        with self._lock:
            self._catalog.mark_partitions_dropped(cid, dropped)
            self._dropped_partitions.update(dropped)
        ts = self._alloc_ts()
        for pid in dropped:
            payload = dml_pb2.DmlMsg(drop_partition=dml_pb2.DropPartitionMsg(
                collection_id=cid, partition_id=pid, timestamp=ts)).SerializeToString()
            for channel in coll.channels:
                self._context.log.produce(channel, [(ts, payload)])
        with self._lock:
            segments = [s for s in self._collection_segments(cid) if s.partition_id in dropped]
            ids = {s.segment_id for s in segments}
            tasks = [t for t in self._tasks.values() if t.segment_id in ids]
        # Files first, records last: a crash midway leaves records that the next
        # _sync_collections round finds (their partition is tombstoned) and drops again.
        storage = self._context.storage
        for pid in dropped:
            storage.remove_prefix(partition_insert_log_prefix(cid, pid))
        for task in tasks:
            storage.remove_prefix(index_file_prefix(task.build_id))
        with self._lock:
            self._catalog.delete_segments(segments, tasks)
            for seg in segments:
                self._segments.pop(seg.segment_id, None)
                self._ranges.pop(seg.segment_id, None)
            for task in tasks:
                self._forget_task(task.build_id)
        self.log.info("collection %d: dropped partitions %s (%d flushed segments)", cid, dropped, len(segments))

    # ------------------------------------------------------------------------ drop
    def drop_collection(self, request: datacoord_pb2.CollectionRequest) -> None:
        self.require_ready()
        self._drop_collection(request.collection_id or request.collection.collection_id)

    def _drop_collection(self, collection_id: int) -> None:
        """Forget the collection and delete its channels, files and records (idempotent)."""
        with self._lock:
            info = self._collections.pop(collection_id, None)
            if collection_id not in self._dropped:
                self._catalog.mark_dropped(collection_id)
                self._dropped.add(collection_id)
            self._pending_drops.add(collection_id)
            channels = sorted({name for name, rec in self._channels.items() if rec.collection_id == collection_id}
                              | set(info.channels if info is not None else ()))
            for name in channels:
                self._channels.pop(name, None)
                self._checkpoints.pop(name, None)
                self._seals.pop(name, None)
                self._size_seals.pop(name, None)
            self._forget_compactions(collection_id)
            for seg in self._collection_segments(collection_id):
                self._segments.pop(seg.segment_id, None)
                self._ranges.pop(seg.segment_id, None)
            for key in [k for k, log in self._delta_logs.items() if log.collection_id == collection_id]:
                del self._delta_logs[key]
            for index in self._collection_indexes(collection_id):
                del self._indexes[index.index_id]
            builds = [b for b, t in self._tasks.items() if t.collection_id == collection_id]
            for build_id in builds:
                self._forget_task(build_id)
        stored_builds = builds + self._catalog.build_ids(collection_id)
        for name in channels:
            self._context.log.drop(name)
        storage = self._context.storage
        storage.remove_prefix(insert_log_prefix(collection_id))
        storage.remove_prefix(delta_log_prefix(collection_id))
        for build_id in sorted(set(stored_builds)):
            storage.remove_prefix(index_file_prefix(build_id))
        self._catalog.delete_collection(collection_id, channels)
        with self._lock:
            self._pending_drops.discard(collection_id)
        self.log.info("dropped collection %d (channels %s)", collection_id, channels)
