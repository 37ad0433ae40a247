"""One channel led by this querynode: its growing segments (consumed from the broker), the
sealed segments of its target (loaded from object storage), and the channel's deletes.

Life of a shard:
1. ``start()`` runs a worker thread that loads the target's delta logs into the DeleteRecord
   and the target's sealed segments (with their finished indexes), notes the channel's end
   offset, then consumes the channel from the target checkpoint. The shard is *serviceable*
   once it has consumed up to that end offset.
2. Every heartbeat hands it the newest target (``update_target``); a second thread loads new
   sealed segments and indexes and releases segments no longer targeted.

Segments follow the channel order (docs/architecture.md): rows of an InsertMsg go to the
partition's open growing segment, or open one with the message's candidate id; a SealMsg
closes the segments it names (all of the collection's when it names none); closed segments
stay searchable until their sealed copy replaces them.

Replay: inserts at offsets inside the channel span ``[start, seal)`` of a flushed segment
(``ChannelTarget.segment_ranges``) are skipped once the rows are held sealed (or are not this
shard's to hold: an unloaded partition, rows a compaction purged), as the datanode does, so a
replay from a checkpoint reopens exactly the segments the first pass opened.

Handoff: new sealed segments are loaded first, then, under the shard lock and in one step,
they replace what holds the same rows: the growing segment with the same id, and for a
compaction's target (``compaction_from``; spans whose ``compacted_to`` it is) the growing or
sealed copies of its sources; sealed segments the target no longer names are released in the
same step (unless the segment replacing them is not loaded yet). Later inserts that belong to
a segment held or replaced are skipped. A reader takes its segment list under the same lock,
so it sees either copy, never both, and never neither.

Partitions: the target says which partitions are loaded (every one after LoadCollection).
The shard consumes the rows of every partition (a partition loaded later needs the growing
rows since the checkpoint) but reads see loaded partitions only; a read naming a partition
that is not loaded fails. Sealed-off growing segments of partitions that are not loaded are
dropped; a DropPartitionMsg discards the partition's growing segments. Deletes keep their
partition (see ``DeleteRecord``).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from common.errors import MilvusError, MqFailed, PartitionNotLoaded, ServiceUnavailable, Timeout
from common.interfaces.log import Log, Record
from common.schema import CollectionSchema
from common.schema_proto import schema_from_proto
from common.storage.base import ObjectStorage
from dataplane.insert_msg import insert_msg_columns
from dataplane.ids import ids_from_proto
from dataplane.delete_record import Deletes
from dataplane.segment_file import read_delta_records
from nodes.querynode import segments as seglib
from nodes.querynode.segment import Segment
from nodes.querynode.segments import SegmentView
from proto.internal import datacoord_pb2, dml_pb2, meta_pb2, querycoord_pb2

_log = logging.getLogger("milvuspy.querynode.shard")

FETCH_WAIT_MS = 200
FETCH_MAX_RECORDS = 1000
RETRY_S = 0.5


@dataclass
class ReadView:
    """The segments a read works on, taken atomically; on a leader also the sealed segments
    that other nodes hold for it (``remote``: RemoteSegments) and the channel offset consumed
    so far (``position``: those nodes must have consumed as far before answering)."""

    segments: list[SegmentView] = field(default_factory=list)
    deletes: Deletes | None = None
    remote: list[querycoord_pb2.RemoteSegment] = field(default_factory=list)
    position: int = 0


class Shard:
    """Growing + sealed segments and deletes of one channel; see the module doc."""

    def __init__(self, target: querycoord_pb2.ChannelTarget, storage: ObjectStorage, broker: Log) -> None:
        self.channel = target.channel
        self.collection = target.collection
        self.collection_id = target.collection.collection_id
        self.schema: CollectionSchema = schema_from_proto(target.collection.schema)
        self._storage = storage
        self._broker = broker
        self._checkpoint = int(target.checkpoint.offset)
        self._lock = threading.RLock()
        self._consumed = threading.Condition(self._lock)
        self.deletes = seglib.new_delete_record(self.schema)
        self._growing: dict[int, Segment] = {}
        self._sealed: dict[int, Segment] = {}
        self._open: dict[int, int] = {}  # partition id -> id of the growing segment taking its rows
        self._ranges: dict[int, list[tuple[int, int]]] = {}  # partition id -> flushed [start, seal) spans
        self._retired: set[int] = set()  # sealed segments released since (their late inserts stay skipped)
        self._loaded_builds: dict[int, set[int]] = {}  # sealed segment id -> index build ids set
        # sealed segment id -> (its builds, memory size), for heartbeats
        self._sizes: dict[int, tuple[frozenset[int] | None, int]] = {}
        self._position = self._checkpoint  # next broker offset to consume
        self._start_end: int | None = None
        self._ready = threading.Event()  # initial load done
        self._serviceable = threading.Event()
        self._target = target
        self._loaded = _loaded_partitions(target)  # None: every partition
        # A worker holds sealed segments for another node's shard: no growing segments.
        self.worker = bool(target.worker)
        self._remote = {r.segment_id: r for r in target.remote_segments}  # leader: held elsewhere
        self._replacement: dict[int, int] = {}  # segment id -> the compaction target holding its rows
        self._target_changed = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.error: str = ""

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        thread = threading.Thread(target=self._run, name=f"shard-{self.channel}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._target_changed.set()
        with self._consumed:
            self._consumed.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    @property
    def serviceable(self) -> bool:
        return self._serviceable.is_set()

    @property
    def position(self) -> int:
        with self._lock:
            return self._position

    def status(self) -> querycoord_pb2.ChannelStatus:
        with self._lock:
            loaded = self._loaded
            routed = sorted(self._routed(), key=lambda r: r.segment_id)
            index_ids = sorted(i.index_id for i in self._target.indexes)
        return querycoord_pb2.ChannelStatus(channel=self.channel, collection_id=self.collection_id,
                                            serviceable=self.serviceable, partition_load=loaded is not None,
                                            partition_ids=sorted(loaded or ()), worker=self.worker, routed=routed,
                                            index_ids=index_ids)

    def growing_counts(self) -> tuple[int, int]:
        """(growing segments held, their rows)."""
        with self._lock:
            return len(self._growing), sum(seg.num_rows for seg in self._growing.values())

    def sealed_segment_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._sealed)

    def indexed_build_ids(self) -> list[int]:
        with self._lock:
            return sorted(b for builds in self._loaded_builds.values() for b in builds)

    def loaded_segments(self) -> list[querycoord_pb2.LoadedSegment]:
        """The sealed segments held, with their memory sizes and (first) loaded index. A size
        is computed once per (segment, loaded index builds)."""
        with self._lock:
            sealed = dict(self._sealed)
            builds = {i: frozenset(b) for i, b in self._loaded_builds.items()}
            indexes = list(self._target.indexes)
        out = []
        for segment_id, seg in sorted(sealed.items()):
            cached = self._sizes.get(segment_id)
            if cached is None or cached[0] != builds.get(segment_id):
                cached = self._sizes[segment_id] = (builds.get(segment_id), seg.memory_size())
            index = next((i for i in indexes if seg.index(i.field_name) is not None), None)
            out.append(querycoord_pb2.LoadedSegment(
                segment_id=segment_id, collection_id=self.collection_id, partition_id=seg.partition_id,
                channel=self.channel, num_rows=seg.num_rows, mem_size=cached[1],
                index_id=index.index_id if index is not None else 0,
                index_name=index.index_name if index is not None else ""))
        for segment_id in [i for i in self._sizes if i not in sealed]:
            del self._sizes[segment_id]
        return out

    def indexes(self) -> list[meta_pb2.IndexInfo]:
        """The collection's indexes (IndexInfo) as of the newest target."""
        with self._lock:
            return list(self._target.indexes)

    def update_target(self, target: querycoord_pb2.ChannelTarget) -> None:
        """Hand the shard its newest target: its loaded partitions apply at once (reads of a
        partition no longer loaded fail from now on), its sealed segments asynchronously."""
        with self._lock:
            self._target = target
            self._loaded = _loaded_partitions(target)
            self._remote = {r.segment_id: r for r in target.remote_segments}
            self._drop_closed_unloaded()
        self._target_changed.set()

    # ------------------------------------------------------------------------ threads
    def _run(self) -> None:
        # Initial load: deletes, then sealed segments, then consume.
        while not self._stop.is_set():
            try:
                self._load_delta_logs(self._target.delta_logs)
                self._sync_sealed()
                break
            except Exception as exc:  # noqa: BLE001 - retry until it works or we stop
                self.error = f"initial load failed: {exc}"
                _log.warning("shard %s: %s; retrying", self.channel, self.error)
                self._stop.wait(RETRY_S)
        if self._stop.is_set():
            return
        self._ready.set()
        syncer = threading.Thread(target=self._sync_loop, name=f"shard-sync-{self.channel}", daemon=True)
        syncer.start()
        self._threads.append(syncer)
        self._consume_loop()

    def _sync_loop(self) -> None:
        while not self._stop.is_set():
            self._target_changed.wait()
            self._target_changed.clear()
            if self._stop.is_set():
                return
            try:
                self._sync_sealed()
                self.error = ""
            except Exception as exc:  # noqa: BLE001 - try again with the next target
                self.error = f"loading sealed segments failed: {exc}"
                _log.warning("shard %s: %s", self.channel, self.error)
                self._stop.wait(RETRY_S)
                self._target_changed.set()

    def _consume_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._start_end is None:
                    self._start_end = int(self._broker.end_offset(self.channel))
                    self._check_serviceable()
                records = self._broker.fetch(self.channel, self._position, max_records=FETCH_MAX_RECORDS,
                                             wait_ms=FETCH_WAIT_MS)
            except MqFailed as exc:
                if self._stop.is_set():
                    return
                self.error = f"consuming {self.channel} at offset {self._position} failed: {exc}"
                _log.warning("shard %s: %s", self.channel, self.error)
                self._stop.wait(RETRY_S)
                continue
            if not records:
                continue
            if len(records) >= FETCH_MAX_RECORDS:
                records = whole_appends(records)
            with self._consumed:
                for record in records:
                    if record.offset < self._position:
                        continue
                    try:
                        self._apply(record.payload, record.offset)
                    except Exception:  # noqa: BLE001 - one bad message must not stop the shard
                        _log.exception("shard %s: cannot apply the message at offset %d", self.channel,
                                       record.offset)
                    self._position = record.offset + 1
                self._consumed.notify_all()
            self._check_serviceable()

    def _check_serviceable(self) -> None:
        if not self._serviceable.is_set() and self._start_end is not None and self._position >= self._start_end:
            self._serviceable.set()
            _log.info("shard %s is serviceable at offset %d", self.channel, self._position)

    # ------------------------------------------------------------------------ messages
    def _apply(self, payload: bytes, offset: int) -> None:
        """Apply the DML message at ``offset`` (caller holds the lock)."""
        msg = dml_pb2.DmlMsg.FromString(payload)
        kind = msg.WhichOneof("body")
        if kind == "insert":
            self._on_insert(msg.insert, offset)
        elif kind == "delete":
            if msg.delete.collection_id == self.collection_id:
                pks = ids_from_proto(msg.delete.primary_keys)
                self.deletes.add(pks, np.full(len(pks), msg.delete.timestamp, dtype=np.uint64),
                                 msg.delete.partition_id)
        elif kind == "drop_partition":
            if msg.drop_partition.collection_id == self.collection_id:
                self._drop_growing(msg.drop_partition.partition_id)
        elif kind == "seal":
            if msg.seal.collection_id == self.collection_id:
                named = set(msg.seal.segment_ids)
                for partition, segment_id in list(self._open.items()):
                    if not named or segment_id in named:
                        del self._open[partition]
                        seg = self._growing.get(segment_id)
                        if seg is not None:
                            seglib.close_growing(seg)
                self._drop_closed_unloaded()

    def _drop_growing(self, partition_id: int) -> None:
        """The partition was dropped: forget its growing segments (caller holds the lock)."""
        self._open.pop(partition_id, None)
        for segment_id in [i for i, seg in self._growing.items() if seg.partition_id == partition_id]:
            del self._growing[segment_id]
            _log.info("shard %s: partition %d dropped: discarded growing segment %d", self.channel,
                      partition_id, segment_id)

    def _drop_closed_unloaded(self) -> None:
        """Forget sealed-off growing segments of partitions that are not loaded: nothing reads
        them, and their flushed copies are not in the target, so they would never be handed
        off (caller holds the lock). A later LoadPartitions loads their flushed copies."""
        if self._loaded is None:
            return
        still_open = set(self._open.values())
        for segment_id in [i for i, seg in self._growing.items()
                           if i not in still_open and seg.partition_id not in self._loaded]:
            del self._growing[segment_id]

    def _on_insert(self, msg: dml_pb2.InsertMsg, offset: int) -> None:
        if self.worker or msg.collection_id != self.collection_id or msg.num_rows <= 0:
            return
        if any(start <= offset < end for start, end in self._ranges.get(msg.partition_id, ())):
            return  # within the span of a flushed segment: its rows are in the sealed copy
        segment_id = self._open.get(msg.partition_id)
        if segment_id is None:
            segment_id = msg.segment_id
            self._open[msg.partition_id] = segment_id
        if segment_id in self._sealed or segment_id in self._retired:
            return  # these rows are in the sealed copy we hold (or held: compacted away since)
        columns = insert_msg_columns(self.schema, msg)
        seg = self._growing.get(segment_id)
        if seg is None:
            seg = seglib.new_growing(segment_id, self.collection_id, msg.partition_id, self.channel, self.schema)
            self._growing[segment_id] = seg
        seg.append(columns)

    # ------------------------------------------------------------------------ sealed segments
    def _load_delta_logs(self, delta_logs: Iterable[meta_pb2.DeltaLogInfo]) -> None:
        for delta in delta_logs:
            pks, ts, partition_ids = read_delta_records(self._storage.get(delta.path))
            with self._lock:
                self.deletes.add(pks, ts, partition_ids)

    def _sync_sealed(self) -> None:
        """Load the target's new sealed segments and indexes, then switch to the target in one
        step (``_switch``). A failed load is raised after the switch of what did load."""
        with self._lock:
            target = self._target
            held = dict(self._sealed)
        indexes = {i.index_id: i for i in target.indexes}
        wanted = {s.segment.segment_id: s for s in target.sealed_segments}
        fresh: dict[int, tuple[Segment, set[int]]] = {}
        error: Exception | None = None
        for segment_id, seg_info in wanted.items():
            if self._stop.is_set():
                return
            try:
                if segment_id in held:
                    with self._lock:
                        have = set(self._loaded_builds.get(segment_id, set()))
                    builds = self._load_indexes(held[segment_id], seg_info, indexes, have)
                    if builds != have:
                        with self._lock:
                            self._loaded_builds[segment_id] = builds
                else:
                    seg = seglib.load_sealed(self._storage, seg_info.segment, self.schema)
                    fresh[segment_id] = (seg, self._load_indexes(seg, seg_info, indexes, set()))
            except Exception as exc:  # noqa: BLE001 - the others still switch; raised below
                error = error or exc
        self._switch(target, wanted, fresh)
        if error is not None:
            raise error

    def _switch(self, target: querycoord_pb2.ChannelTarget, wanted: dict[int, datacoord_pb2.SegmentWithIndex],
                fresh: dict[int, tuple[Segment, set[int]]]) -> None:
        """Publish the freshly loaded sealed segments and drop what they replace, under the
        lock at once, so a reader sees either the old copies or the new ones: growing copies
        of the same ids, growing or sealed copies of segments compacted into a held segment
        (``compaction_from``, and spans whose ``compacted_to`` it is), and sealed segments the
        target no longer holds (kept while their compaction target is targeted but not loaded).
        The target's spans are remembered for the replay skip once their rows are held (or
        are not this shard's to hold)."""
        replacement: dict[int, int] = {}  # segment id -> targeted segment that holds its rows
        for seg_info in target.sealed_segments:
            for source in seg_info.segment.compaction_from:
                replacement[source] = seg_info.segment.segment_id
        for rng in target.segment_ranges:
            if rng.compacted_to:
                replacement.setdefault(rng.segment_id, rng.compacted_to)
        with self._lock:
            self._replacement = replacement
            for segment_id, (seg, builds) in fresh.items():
                self._sealed[segment_id] = seg
                self._loaded_builds[segment_id] = builds
            for rng in target.segment_ranges:
                owner = rng.compacted_to or rng.segment_id
                if owner in self._sealed or owner not in wanted:
                    self._add_range(rng)
            replaced = [i for i in self._growing if i in self._sealed or replacement.get(i) in self._sealed]
            for segment_id in replaced:
                del self._growing[segment_id]
                if segment_id not in self._sealed:
                    self._retired.add(segment_id)  # its late inserts belong to a held segment
            released = []
            for segment_id in [i for i in self._sealed if i not in wanted]:
                successor = replacement.get(segment_id)
                if successor in wanted and successor not in self._sealed:
                    continue  # its rows are not held elsewhere yet
                del self._sealed[segment_id]
                self._retired.add(segment_id)
                self._loaded_builds.pop(segment_id, None)
                released.append(segment_id)
        for segment_id, (seg, _) in fresh.items():
            _log.info("shard %s: loaded sealed segment %d (%d rows)", self.channel, segment_id, seg.num_rows)
        if replaced:
            _log.info("shard %s: growing copies %s replaced by sealed segments", self.channel, sorted(replaced))
        if released:
            _log.info("shard %s: released sealed segments %s", self.channel, sorted(released))

    def _add_range(self, rng: datacoord_pb2.SegmentRange) -> None:
        """Remember the channel span of a flushed segment: its inserts are skipped from now on
        (caller holds the lock)."""
        if rng.seal_offset <= max(rng.start_offset, self._position):
            return  # empty, or already consumed past: never consulted again
        spans = self._ranges.setdefault(rng.partition_id, [])
        if (rng.start_offset, rng.seal_offset) not in spans:
            spans.append((rng.start_offset, rng.seal_offset))

    def _load_indexes(self, seg: Segment, seg_info: datacoord_pb2.SegmentWithIndex,
                      indexes: dict[int, meta_pb2.IndexInfo], have: set[int]) -> set[int]:
        builds = set(have)
        for idx in seg_info.indexes:
            info = indexes.get(idx.index_id)
            if info is None or idx.build_id in builds or not idx.index_path:
                continue
            seglib.attach_index(seg, info.field_name, self._storage.get(idx.index_path))
            builds.add(idx.build_id)
        return builds

    # ------------------------------------------------------------------------ reads
    def wait_ready(self, timeout_s: float) -> None:
        """Wait until the initial load is done. Raises ServiceUnavailable after ``timeout_s``."""
        if not self._ready.wait(timeout_s):
            detail = f": {self.error}" if self.error else ""
            raise ServiceUnavailable(f"channel {self.channel} is still loading{detail}")

    def wait_consumed(self, offset: int, timeout_s: float) -> None:
        """Wait until every message below ``offset`` is applied. Raises Timeout."""
        deadline = time.monotonic() + timeout_s
        with self._consumed:
            while self._position < offset and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    detail = f" ({self.error})" if self.error else ""
                    raise Timeout(f"channel {self.channel} has consumed up to offset {self._position}, the read "
                                  f"needs {offset}: not caught up within {timeout_s:.0f} s{detail}")
                self._consumed.wait(left)
        if self._stop.is_set():
            raise ServiceUnavailable(f"channel {self.channel} was released from this querynode")

    def wait_latest(self, timeout_s: float) -> None:
        """Wait until every message the broker holds now for the channel is applied."""
        try:
            end = int(self._broker.end_offset(self.channel))
        except MilvusError as exc:
            raise ServiceUnavailable(f"cannot read the end offset of channel {self.channel}: {exc}") from None
        self.wait_consumed(end, timeout_s)

    def read_view(self, partition_ids: Iterable[int] = (), segment_ids: Iterable[int] = ()) -> ReadView:
        """The segments of ``partition_ids`` (every loaded partition when empty), taken
        atomically: on a leader its own segments plus the ``remote`` ones other nodes hold; on a
        worker exactly ``segment_ids``. Raises PartitionNotLoaded when a named partition is not
        loaded, ServiceUnavailable when a worker does not hold a named segment (yet)."""
        wanted = set(partition_ids)
        with self._lock:
            loaded = self._loaded
            if wanted and loaded is not None and not wanted <= loaded:
                missing = sorted(wanted - loaded)
                raise PartitionNotLoaded(f"partition not loaded[partition={missing[0]}]")
            parts = wanted or loaded
            if self.worker:
                missing_ids = [i for i in segment_ids if i not in self._sealed]
                if missing_ids:
                    raise ServiceUnavailable(f"querynode does not hold segment {missing_ids[0]} of channel "
                                             f"{self.channel} (yet)")
                segs = [self._sealed[i] for i in segment_ids]
                return ReadView(segments=[seglib.snapshot(s) for s in segs], deletes=self.deletes.snapshot(),
                                position=self._position)
            segs = [s for s in list(self._sealed.values()) + list(self._growing.values())
                    if (parts is None or s.partition_id in parts) and s.segment_id not in self._remote]
            remote = [r for r in self._routed() if parts is None or r.partition_id in parts]
            return ReadView(segments=[seglib.snapshot(s) for s in segs], deletes=self.deletes.snapshot(), remote=remote,
                            position=self._position)

    def _routed(self) -> list[querycoord_pb2.RemoteSegment]:
        """The remote segments reads go to: those whose rows a held compaction target does not
        hold already (caller holds the lock)."""
        return [r for r in self._remote.values() if self._replacement.get(r.segment_id) not in self._sealed]

    def segment_ids(self) -> tuple[list[int], list[int]]:
        """(sealed ids, growing ids), for tests and introspection."""
        with self._lock:
            return sorted(self._sealed), sorted(self._growing)


def whole_appends(records: list[Record]) -> list[Record]:
    """``records`` (a full fetch) without the trailing records that share the last one's
    timestamp: the rest of that append (an upsert's insert after its delete) may lie beyond the
    fetch, and is applied with them next time. All of them when they all share it."""
    cut = len(records)
    while cut > 0 and records[cut - 1].ts == records[-1].ts:
        cut -= 1
    return records[:cut] or records


def _loaded_partitions(target: querycoord_pb2.ChannelTarget) -> frozenset[int] | None:
    """The partitions a target loads; None for every partition (a LoadCollection)."""
    return frozenset(target.partition_ids) if target.partition_load else None
