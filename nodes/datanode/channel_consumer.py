"""One DML channel consumed by a datanode: growing segments in memory, flushed on SealMsg.

``ChannelBuffer`` is the state machine (no I/O): it applies the channel's messages in order and
says what to flush. ``ChannelConsumer`` runs it in a thread: fetch from the broker (long poll),
apply, and on a seal write the segment files and delete log to object storage, then report them
with the new checkpoint to datacoord (``SaveFlushResult``); only then are the buffers dropped.
A failed write or report is retried, never skipped, so the checkpoint never passes data that is
not persisted.

Replay. A consumer starts at the channel checkpoint datacoord returns. Segments that were open
at that offset may already be flushed; their spans (``ChannelWatch.flushed_ranges``: the
partition and the offsets ``[start, seal)``) say which inserts to skip, so the replay opens
exactly the segments the first pass opened, with the same ids, and no row is stored twice.
Deletes and seals below ``flushed_offset`` are already persisted and are skipped too.

Seals come from datacoord only (on Flush, or when a segment is full): the consumer never writes
to the channel. Once it has caught up with the end of the channel seen at its start (earlier
seals may still be ahead before that), it publishes the sizes of its growing segments
(``growing_report``) for the node's heartbeat, and calls ``on_full`` when a segment reaches
the size datacoord seals at, so that the heartbeat reports it at once.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from common.errors import ChannelNotFound, CollectionNotFound, ParameterInvalid
from common.interfaces.log import Record
from common.runtime import RoleContext
from common.schema import CollectionSchema
from common.schema_proto import schema_from_proto
from common.storage.layout import delta_log_path, insert_log_path
from dataplane.insert_msg import insert_msg_columns
from dataplane.ids import ids_from_proto
from dataplane.segment_file import write_delta_file, write_segment_file
from proto.internal import datacoord_pb2, dml_pb2, meta_pb2

FETCH_RECORDS = 256
#: Seals a ChannelBuffer remembers for its heartbeat reports (``recent_seals``).
RECENT_SEALS = 32
FETCH_WAIT_MS = 200
RETRY_MIN_S = 0.05
RETRY_MAX_S = 2.0
_T = TypeVar("_T")


@dataclass
class GrowingSegment:
    """Rows of one segment not yet flushed, as column batches."""

    segment_id: int
    partition_id: int
    start_offset: int
    batches: list[dict[str, np.ndarray]] = field(default_factory=list)
    num_rows: int = 0
    min_ts: int = 0
    max_ts: int = 0
    reported_full: bool = False

    def append(self, columns: dict[str, np.ndarray], num_rows: int, ts: int) -> None:
        self.batches.append(columns)
        self.min_ts = ts if self.num_rows == 0 else min(self.min_ts, ts)
        self.max_ts = max(self.max_ts, ts)
        self.num_rows += num_rows

    def columns(self) -> dict[str, np.ndarray]:
        """All rows, one array per column."""
        names = self.batches[0].keys()
        return {name: np.concatenate([b[name] for b in self.batches]) for name in names}


@dataclass
class FlushJob:
    """What one SealMsg asks to persist."""

    seal_offset: int
    segments: list[GrowingSegment]
    collection_wide: bool
    flush_ts: int


class ChannelBuffer:
    """The channel's state machine; ``apply`` returns a FlushJob when a message needs a flush.

    After the job is persisted, call ``flushed(job)``; until then the deletes stay buffered and
    the job's segments are no longer growing (rows after the seal open new segments)."""

    def __init__(self, watch: datacoord_pb2.ChannelWatch, log: logging.Logger) -> None:
        self.channel = watch.channel
        self.collection_id = watch.collection.collection_id
        self.schema: CollectionSchema = schema_from_proto(watch.collection.schema)
        self.log = log
        self.checkpoint = meta_pb2.ChannelCheckpoint()
        self.checkpoint.CopyFrom(watch.checkpoint)
        self.checkpoint.channel = watch.channel
        self.flushed_offset = watch.flushed_offset
        self.flushed_ids: set[int] = set(watch.flushed_segment_ids)
        self.ranges: dict[int, list[tuple[int, int]]] = {}
        for rng in watch.flushed_ranges:
            self.flushed_ids.add(rng.segment_id)
            self.ranges.setdefault(rng.partition_id, []).append((rng.start_offset, rng.seal_offset))
        self.growing: dict[int, GrowingSegment] = {}  # partition id -> segment
        # (pks, ts, offset, partition ids: 0 = every partition)
        self.deletes: list[tuple[np.ndarray, np.ndarray, int, np.ndarray]] = []
        self.skipped_rows = 0
        # (offset, ids of the growing segments it closed) of the latest SealMsgs; replaced, never
        # mutated, so another thread may read it at any time.
        self.recent_seals: tuple[tuple[int, tuple[int, ...]], ...] = ()

    # -- messages ----------------------------------------------------------------------------
    def apply(self, record: Record) -> FlushJob | None:
        try:
            msg = dml_pb2.DmlMsg.FromString(record.payload)
        except Exception:  # noqa: BLE001 - a foreign record must not stop the channel
            self.log.error("channel %s: offset %d is not a DmlMsg; skipped", self.channel, record.offset)
            return None
        kind = msg.WhichOneof("body")
        if kind == "insert":
            self._insert(msg.insert, record.offset)
        elif kind == "delete":
            self._delete(msg.delete, record.offset)
        elif kind == "seal":
            return self._seal(msg.seal, record.offset)
        elif kind == "drop_partition":
            self._drop_partition(msg.drop_partition)
        return None

    def _insert(self, msg: dml_pb2.InsertMsg, offset: int) -> None:
        if msg.collection_id != self.collection_id or msg.num_rows <= 0:
            return
        part = msg.partition_id
        if any(start <= offset < seal for start, seal in self.ranges.get(part, ())):
            self.skipped_rows += msg.num_rows  # its segment is already flushed
            return
        seg = self.growing.get(part)
        if seg is None and msg.segment_id in self.flushed_ids:
            self.log.warning("channel %s: offset %d would reopen flushed segment %d; skipped",
                             self.channel, offset, msg.segment_id)
            self.skipped_rows += msg.num_rows
            return
        try:
            columns = insert_msg_columns(self.schema, msg)
        except ParameterInvalid as exc:
            self.log.error("channel %s: insert at offset %d cannot be decoded, skipped: %s", self.channel, offset, exc)
            return
        if seg is None:
            seg = GrowingSegment(msg.segment_id, part, offset)
            self.growing[part] = seg
        seg.append(columns, msg.num_rows, msg.timestamp)

    def _delete(self, msg: dml_pb2.DeleteMsg, offset: int) -> None:
        if msg.collection_id != self.collection_id or offset < self.flushed_offset:
            return
        pks = ids_from_proto(msg.primary_keys)
        if len(pks):
            self.deletes.append((pks, np.full(len(pks), msg.timestamp, dtype=np.uint64), offset,
                                 np.full(len(pks), msg.partition_id, dtype=np.int64)))

    def _drop_partition(self, msg: dml_pb2.DropPartitionMsg) -> None:
        """Discard the growing rows of a dropped partition (they are never flushed)."""
        if msg.collection_id != self.collection_id:
            return
        seg = self.growing.pop(msg.partition_id, None)
        if seg is not None:
            self.log.info("channel %s: partition %d dropped: discarded growing segment %d (%d rows)",
                          self.channel, msg.partition_id, seg.segment_id, seg.num_rows)

    def _seal(self, msg: dml_pb2.SealMsg, offset: int) -> FlushJob | None:
        if msg.collection_id != self.collection_id:
            return None
        wanted = set(msg.segment_ids)
        sealed = [s for s in self.growing.values() if not wanted or s.segment_id in wanted]
        for seg in sealed:
            del self.growing[seg.partition_id]
        entry = (offset, tuple(sorted(s.segment_id for s in sealed)))
        self.recent_seals = (*self.recent_seals[-(RECENT_SEALS - 1):], entry)
        if offset < self.flushed_offset:
            return None  # flushed before this replay (its segments were skipped)
        if not sealed and wanted:
            return None  # a repeated seal of segments already sealed
        return FlushJob(offset, sealed, collection_wide=not wanted,
                        flush_ts=msg.timestamp if not wanted else self.checkpoint.flush_ts)

    # -- flush bookkeeping -------------------------------------------------------------------
    def next_checkpoint(self, job: FlushJob) -> meta_pb2.ChannelCheckpoint:
        """The checkpoint once ``job`` is persisted (every buffered delete goes with it)."""
        starts = [s.start_offset for s in self.growing.values()]
        offset = min(starts) if starts else job.seal_offset + 1
        return meta_pb2.ChannelCheckpoint(channel=self.channel, offset=max(offset, self.checkpoint.offset),
                                          flush_ts=max(job.flush_ts, self.checkpoint.flush_ts))

    def flushed(self, job: FlushJob, checkpoint: meta_pb2.ChannelCheckpoint) -> None:
        self.checkpoint = checkpoint
        self.flushed_ids.update(s.segment_id for s in job.segments)
        self.deletes = [d for d in self.deletes if d[2] > job.seal_offset]
        self.flushed_offset = job.seal_offset + 1


class Fenced(Exception):
    """Datacoord refused the flush: the channel is no longer this node's (or is dropped)."""


class ChannelConsumer:
    """Runs a ChannelBuffer over the broker in a thread (see the module docstring)."""

    def __init__(self, context: RoleContext, watch: datacoord_pb2.ChannelWatch,
                 max_rows: Callable[[], int], log: logging.Logger,
                 on_seal: Callable[[], None] = lambda: None, on_full: Callable[[], None] = lambda: None) -> None:
        """``max_rows()`` is the segment size datacoord seals at (0: none). ``on_seal`` is
        called (in the consumer thread) after a SealMsg is applied, before its segments are
        persisted: the node reports ``buffer.recent_seals`` early. ``on_full`` is called once
        per growing segment that reaches ``max_rows()``: the node reports ``growing_report``
        early."""
        self._context = context
        self._on_seal = on_seal
        self._on_full = on_full
        self.channel = watch.channel
        self.collection_id = watch.collection.collection_id
        self.buffer = ChannelBuffer(watch, log)
        self.offset = watch.checkpoint.offset
        self._max_rows = max_rows
        self.log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._replay_end = -1
        self.fenced = False
        self.flushes = 0
        # The growing segments once caught up, replaced (never mutated) after every fetch, so
        # the heartbeat thread may read it at any time.
        self.growing_report: tuple[datacoord_pb2.GrowingSegmentReport, ...] = ()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"datanode-{self.channel}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float) -> bool:
        """Wait for the thread to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            return not self._thread.is_alive()
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    # -- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        self.log.info("channel %s: consuming from offset %d", self.channel, self.offset)
        try:
            self._replay_end = self._retry(lambda: self._context.log.end_offset(self.channel), "end_offset")
            while not self._stop.is_set():
                try:
                    records = self._context.log.fetch(self.channel, self.offset, max_records=FETCH_RECORDS,
                                                      wait_ms=FETCH_WAIT_MS)
                except Exception as exc:  # noqa: BLE001 - the broker may be restarting
                    self.log.warning("channel %s: fetch at %d failed: %s", self.channel, self.offset, exc)
                    self._stop.wait(RETRY_MAX_S / 4)
                    continue
                for record in records:
                    job = self.buffer.apply(record)
                    if job is not None:
                        self._on_seal()
                        self._flush(job)
                    self.offset = record.offset + 1
                self._report_growing()
        except (_Stopped, Fenced):
            pass
        except Exception:
            self.log.exception("channel %s: consumer died at offset %d", self.channel, self.offset)
        finally:
            self._stop.set()
            self.log.info("channel %s: consumer stopped at offset %d", self.channel, self.offset)

    def _retry(self, fn: Callable[..., _T], what: str) -> _T:
        """``fn()`` (called without arguments; its defaults bind loop variables), retried with backoff
        until it works; Fenced is raised at once, _Stopped once the consumer stops."""
        delay = RETRY_MIN_S
        while True:
            if self._stop.is_set():
                raise _Stopped()
            try:
                return fn()
            except (Fenced, _Stopped):
                raise
            except Exception as exc:  # noqa: BLE001 - retried until it works or we stop
                self.log.warning("channel %s: %s failed (retrying in %.2fs): %s", self.channel, what, delay, exc)
            self._stop.wait(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _flush(self, job: FlushJob) -> None:
        buf = self.buffer
        storage = self._context.storage
        segments = []
        for seg in job.segments:
            path = insert_log_path(self.collection_id, seg.partition_id, seg.segment_id)
            data = self._retry(lambda seg=seg: write_segment_file(seg.columns(), buf.schema), "encode segment")
            self._retry(lambda path=path, data=data: storage.put(path, data), f"write {path}")
            segments.append(meta_pb2.SegmentInfo(
                segment_id=seg.segment_id, collection_id=self.collection_id, partition_id=seg.partition_id,
                channel=self.channel, num_rows=seg.num_rows, state=meta_pb2.FLUSHED, insert_log=path,
                min_ts=seg.min_ts, max_ts=seg.max_ts, start_offset=seg.start_offset, mem_size=len(data)))
        deltas = []
        pending = [d for d in buf.deletes if d[2] < job.seal_offset]
        if pending:
            pks = np.concatenate([d[0] for d in pending])
            ts = np.concatenate([d[1] for d in pending])
            parts = np.concatenate([d[3] for d in pending])
            path = delta_log_path(self.collection_id, self.channel, job.seal_offset)
            data = self._retry(lambda: write_delta_file(pks, ts, parts), "encode delta log")
            self._retry(lambda path=path, data=data: storage.put(path, data), f"write {path}")
            deltas.append(meta_pb2.DeltaLogInfo(collection_id=self.collection_id, channel=self.channel, path=path,
                                                num_rows=len(pks), max_ts=int(ts.max())))
        checkpoint = buf.next_checkpoint(job)
        request = datacoord_pb2.SaveFlushResultRequest(
            node_id=self._context.node_id, channel=self.channel, collection_id=self.collection_id,
            segments=segments, delta_logs=deltas, checkpoint=checkpoint, seal_offset=job.seal_offset)
        self._retry(lambda: self._save(request), "SaveFlushResult")
        buf.flushed(job, checkpoint)
        self.flushes += 1
        self.log.info("channel %s: flushed segments %s (%s rows), %d deletes; checkpoint %d flush_ts %d",
                      self.channel, [s.segment_id for s in segments], [s.num_rows for s in segments],
                      sum(d.num_rows for d in deltas), checkpoint.offset, checkpoint.flush_ts)

    def _save(self, request: datacoord_pb2.SaveFlushResultRequest) -> None:
        try:
            self._context.datacoord.save_flush_result(request)
        except (ChannelNotFound, CollectionNotFound) as exc:
            self.fenced = True
            self.log.warning("channel %s: datacoord refused the flush, stopping: %s", self.channel, exc)
            raise Fenced() from None

    def _report_growing(self) -> None:
        """Publish the growing segments' sizes once caught up; ``on_full`` for newly full ones."""
        if self.offset < self._replay_end:
            return
        segments = list(self.buffer.growing.values())
        self.growing_report = tuple(datacoord_pb2.GrowingSegmentReport(
            channel=self.channel, segment_id=seg.segment_id, partition_id=seg.partition_id, num_rows=seg.num_rows)
            for seg in segments)
        max_rows = self._max_rows()
        full = [seg for seg in segments if 0 < max_rows <= seg.num_rows and not seg.reported_full]
        for seg in full:
            seg.reported_full = True
            self.log.info("channel %s: segment %d is full (%d rows)", self.channel, seg.segment_id, seg.num_rows)
        if full:
            self._on_full()


class _Stopped(Exception):
    """The consumer was stopped while retrying."""
