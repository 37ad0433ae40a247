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

Replay: inserts at offsets inside the channel span ``[start, seal)`` of a flushed segment we
hold (``ChannelTarget.segment_ranges``) are skipped, as the datanode does, so a replay from a
checkpoint reopens exactly the segments the first pass opened.

Handoff: a sealed segment is loaded first, then, under the shard lock, it replaces the growing
segment with the same id; later inserts that belong to a segment held sealed are skipped. A
reader takes its segment list under the same lock, so it sees either copy, never both, and
never neither.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from common.errors import MilvusError, MqFailed, ServiceUnavailable, Timeout
from common.fielddata import column_from_field_data, ids_from_proto
from common.schema import CollectionSchema
from common.schema_proto import schema_from_proto
from common.storage.base import ObjectStorage
from common.types import DYNAMIC_FIELD_NAME, TIMESTAMP_COLUMN
from nodes.querynode import segments as seglib
from proto.internal import dml_pb2, querycoord_pb2

_log = logging.getLogger("milvuspy.querynode.shard")

FETCH_WAIT_MS = 200
FETCH_MAX_RECORDS = 1000
RETRY_S = 0.5


@dataclass
class ReadView:
    """The segments a read works on, taken atomically."""

    segments: list = field(default_factory=list)
    deletes: object = None


class Shard:
    """Growing + sealed segments and deletes of one channel; see the module doc."""

    def __init__(self, target: querycoord_pb2.ChannelTarget, storage: ObjectStorage, broker) -> None:  # type: ignore[no-untyped-def]
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
        self._growing: dict[int, object] = {}
        self._sealed: dict[int, object] = {}
        self._open: dict[int, int] = {}  # partition id -> id of the growing segment taking its rows
        self._ranges: dict[int, list[tuple[int, int]]] = {}  # partition id -> flushed [start, seal) spans
        self._retired: set[int] = set()  # sealed segments released since (their late inserts stay skipped)
        self._loaded_builds: dict[int, set[int]] = {}  # sealed segment id -> index build ids set
        self._position = self._checkpoint  # next broker offset to consume
        self._start_end: int | None = None
        self._ready = threading.Event()  # initial load done
        self._serviceable = threading.Event()
        self._target = target
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
        return querycoord_pb2.ChannelStatus(channel=self.channel, collection_id=self.collection_id,
                                            serviceable=self.serviceable)

    def sealed_segment_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._sealed)

    def indexed_build_ids(self) -> list[int]:
        with self._lock:
            return sorted(b for builds in self._loaded_builds.values() for b in builds)

    def indexes(self) -> list:
        """The collection's indexes (IndexInfo) as of the newest target."""
        with self._lock:
            return list(self._target.indexes)

    def update_target(self, target: querycoord_pb2.ChannelTarget) -> None:
        """Hand the shard its newest target (applied asynchronously)."""
        with self._lock:
            self._target = target
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
                self.deletes.add(pks, np.full(len(pks), msg.delete.timestamp, dtype=np.uint64))
        elif kind == "seal":
            if msg.seal.collection_id == self.collection_id:
                named = set(msg.seal.segment_ids)
                for partition, segment_id in list(self._open.items()):
                    if not named or segment_id in named:
                        del self._open[partition]
                        seg = self._growing.get(segment_id)
                        if seg is not None:
                            seglib.close_growing(seg)

    def _on_insert(self, msg: dml_pb2.InsertMsg, offset: int) -> None:
        if msg.collection_id != self.collection_id or msg.num_rows <= 0:
            return
        if any(start <= offset < end for start, end in self._ranges.get(msg.partition_id, ())):
            return  # within the span of a flushed segment: its rows are in the sealed copy
        segment_id = self._open.get(msg.partition_id)
        if segment_id is None:
            segment_id = msg.segment_id
            self._open[msg.partition_id] = segment_id
        if segment_id in self._sealed or segment_id in self._retired:
            return  # these rows are in the sealed copy we hold (or held: compacted away since)
        columns = insert_columns(self.schema, msg)
        seg = self._growing.get(segment_id)
        if seg is None:
            seg = seglib.new_growing(segment_id, self.collection_id, msg.partition_id, self.channel, self.schema)
            self._growing[segment_id] = seg
        seg.append(columns)

    # ------------------------------------------------------------------------ sealed segments
    def _load_delta_logs(self, delta_logs: Iterable) -> None:
        for delta in delta_logs:
            pks, ts = seglib.read_delta(self._storage.get(delta.path))
            with self._lock:
                self.deletes.add(pks, ts)

    def _sync_sealed(self) -> None:
        """Load the target's new sealed segments and indexes, release the ones it dropped."""
        with self._lock:
            target = self._target
        indexes = {i.index_id: i for i in target.indexes}
        wanted = {s.segment.segment_id: s for s in target.sealed_segments}
        ranges = {r.segment_id: r for r in target.segment_ranges}
        for segment_id, seg_info in wanted.items():
            if self._stop.is_set():
                return
            with self._lock:
                held = self._sealed.get(segment_id)
            if held is None:
                seg = seglib.load_sealed(self._storage, seg_info.segment, self.schema)
                builds = self._load_indexes(seg, seg_info, indexes, set())
                with self._lock:  # the handoff: sealed copy in, growing copy out, atomically
                    self._add_range(ranges.get(segment_id))
                    self._sealed[segment_id] = seg
                    self._loaded_builds[segment_id] = builds
                    replaced = self._growing.pop(segment_id, None)
                _log.info("shard %s: loaded sealed segment %d (%d rows)%s", self.channel, segment_id,
                          seg.num_rows, ", replacing its growing copy" if replaced is not None else "")
            else:
                with self._lock:
                    self._add_range(ranges.get(segment_id))
                    have = set(self._loaded_builds.get(segment_id, set()))
                builds = self._load_indexes(held, seg_info, indexes, have)
                if builds != have:
                    with self._lock:
                        self._loaded_builds[segment_id] = builds
        with self._lock:
            for segment_id in [s for s in self._sealed if s not in wanted]:
                del self._sealed[segment_id]
                self._retired.add(segment_id)
                self._loaded_builds.pop(segment_id, None)
                _log.info("shard %s: released sealed segment %d", self.channel, segment_id)

    def _add_range(self, rng) -> None:  # type: ignore[no-untyped-def]
        """Remember the channel span of a sealed segment we hold (caller holds the lock)."""
        if rng is None or rng.seal_offset <= max(rng.start_offset, self._position):
            return  # unknown, empty, or already consumed past: never consulted again
        spans = self._ranges.setdefault(rng.partition_id, [])
        if (rng.start_offset, rng.seal_offset) not in spans:
            spans.append((rng.start_offset, rng.seal_offset))

    def _load_indexes(self, seg, seg_info, indexes: dict, have: set[int]) -> set[int]:  # type: ignore[no-untyped-def]
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
                    raise Timeout(
                        f"channel {self.channel} has consumed up to offset {self._position}, the read needs "
                        f"{offset}: not caught up within {timeout_s:.0f} s" + (f" ({self.error})" if self.error else ""))
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

    def read_view(self, partition_ids: Iterable[int] = ()) -> ReadView:
        """The segments of ``partition_ids`` (all when empty), taken atomically."""
        parts = set(partition_ids)
        with self._lock:
            segs = [s for s in list(self._sealed.values()) + list(self._growing.values())
                    if not parts or s.partition_id in parts]
            return ReadView(segments=[seglib.snapshot(s) for s in segs], deletes=self.deletes)

    def segment_ids(self) -> tuple[list[int], list[int]]:
        """(sealed ids, growing ids), for tests and introspection."""
        with self._lock:
            return sorted(self._sealed), sorted(self._growing)


def insert_columns(schema: CollectionSchema, msg: dml_pb2.InsertMsg) -> dict[str, np.ndarray]:
    """The columns of an InsertMsg (every field, pk included) plus ``$ts``."""
    by_name = {(DYNAMIC_FIELD_NAME if fd.is_dynamic else fd.field_name): fd for fd in msg.fields_data}
    n = int(msg.num_rows)
    columns: dict[str, np.ndarray] = {}
    for f in schema.fields:
        data = by_name.get(f.name)
        if data is None:
            if f.is_dynamic:
                col = np.empty(n, dtype=object)
                col[:] = [b"{}"] * n
                columns[f.name] = col
                continue
            raise ValueError(f"insert message lacks field {f.name}")
        columns[f.name] = column_from_field_data(f, data, n)
    columns[TIMESTAMP_COLUMN] = np.full(n, msg.timestamp, dtype=np.uint64)
    return columns
