"""The state DataCoord's parts share: ``DataCoordState`` holds datacoord's records in memory
(rebuilt from the ``DataCoordCatalog`` on start) and the helpers over them. ``DataCoord``
(``core.py``) is this state with the methods of its parts mixed in: ``CompactionMixin``
(``compaction.py``) and ``IndexMixin`` (``indexes.py``) derive from it, so each part is
type-checked against the state it uses. Every record is read and changed under ``_lock``.
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING

from common.component import ComponentState
from common.errors import ServiceNotReady
from common.runtime import RoleComponent, RoleContext
from coordinators.datacoord.catalog import DataCoordCatalog
from proto.internal import datacoord_pb2, meta_pb2, rootcoord_pb2


class DataCoordState(RoleComponent):
    """DataCoord's records and the helpers every part uses (see the module docstring)."""

    role = "datacoord"

    def __init__(self, context: RoleContext, catalog: DataCoordCatalog) -> None:
        """``catalog`` holds datacoord's records; ``context.kv`` is used for sessions only."""
        super().__init__(context.node_id)
        self._context = context
        self._kv = context.kv
        self._catalog = catalog
        self._interval = float(context.config.get("common", "heartbeat_interval_s"))
        self._segment_max_rows = int(context.config.get("datacoord", "segment_max_rows"))
        self._lock = threading.RLock()
        self._collections: dict[int, meta_pb2.CollectionInfo] = {}
        self._dropped: set[int] = set()
        self._dropped_partitions: set[int] = set()
        self._pending_drops: set[int] = set()  # tombstoned but not cleaned up (crash midway)
        self._segments: dict[int, meta_pb2.SegmentInfo] = {}
        self._ranges: dict[int, datacoord_pb2.SegmentRange] = {}
        self._delta_logs: dict[str, meta_pb2.DeltaLogInfo] = {}
        self._checkpoints: dict[str, meta_pb2.ChannelCheckpoint] = {}
        self._channels: dict[str, datacoord_pb2.ChannelRecord] = {}
        self._indexes: dict[int, meta_pb2.IndexInfo] = {}
        self._tasks: dict[int, meta_pb2.SegmentIndexInfo] = {}
        self._task_of: dict[tuple[int, int], int] = {}  # (segment_id, index_id) -> build_id
        self._leases: dict[int, int] = {}  # build_id -> indexnode id
        self._attempts: Counter[int] = Counter()
        self._missing: Counter[int] = Counter()
        self._rr = 0
        self._compactions: dict[int, datacoord_pb2.CompactionTask] = {}  # plan_id -> task
        self._completed_at: dict[int, float] = {}  # plan_id -> time.monotonic() when seen completed
        self._seals: dict[str, dict[int, list[int]]] = {}  # channel -> seal offset -> segments it closed
        self._size_seals: dict[str, frozenset[int]] = {}  # channel -> full segments sealed, still reported growing
        self._consumed_at: dict[str, float] = {}  # channel -> monotonic time a datanode last reported consuming it
        self._seal_reported = threading.Condition(self._lock)
        self._last_warning = 0.0

    def segment_state_counts(self) -> dict[str, int]:
        """Segments per state, named as Milvus's metrics label them (Growing, Sealed, Flushed, Dropped)."""
        with self._lock:
            states = [s.state for s in self._segments.values()]
        counts: dict[str, int] = {}
        for state in states:
            name = meta_pb2.SegmentState.Name(state).capitalize()
            counts[name] = counts.get(name, 0) + 1
        return counts

    def stored_rows(self) -> dict[int, int]:
        """Rows of the flushed segments per collection."""
        with self._lock:
            segments = [s for s in self._segments.values() if s.state == meta_pb2.FLUSHED]
        rows: dict[int, int] = {}
        for seg in segments:
            rows[seg.collection_id] = rows.get(seg.collection_id, 0) + seg.num_rows
        return rows

    def require_ready(self) -> None:
        """Raise ServiceNotReady (retriable) unless started: the gRPC server answers before
        the state is loaded, and an answer from empty state could mislead a caller."""
        if self.state is not ComponentState.HEALTHY:
            raise ServiceNotReady(f"datacoord is not ready (state {self.state.value})")

    def _alloc_ts(self) -> int:
        return self._context.rootcoord.alloc_timestamp(rootcoord_pb2.AllocRequest(count=1)).timestamp

    def _alloc_ids(self, count: int) -> int:
        return self._context.rootcoord.alloc_id(rootcoord_pb2.AllocRequest(count=count)).begin

    def _collection_segments(self, collection_id: int) -> list[meta_pb2.SegmentInfo]:
        """Every segment record of the collection, compacted-away (DROPPED) ones included."""
        return sorted((s for s in self._segments.values() if s.collection_id == collection_id),
                      key=lambda s: s.segment_id)

    def _live_segments(self, collection_id: int) -> list[meta_pb2.SegmentInfo]:
        """The collection's FLUSHED segments."""
        return [s for s in self._collection_segments(collection_id) if s.state != meta_pb2.DROPPED]

    def _collection_indexes(self, collection_id: int) -> list[meta_pb2.IndexInfo]:
        return sorted((i for i in self._indexes.values() if i.collection_id == collection_id),
                      key=lambda i: i.index_id)

    def _forget_task(self, build_id: int) -> None:
        """Forget an index build (its record, lease and attempts). Caller holds the lock."""
        task = self._tasks.pop(build_id, None)
        if task is not None:
            self._task_of.pop((task.segment_id, task.index_id), None)
        self._leases.pop(build_id, None)
        self._attempts.pop(build_id, None)

    if TYPE_CHECKING:  # one part's methods that another part calls; defined where named
        def _ensure_collection(self, collection_id: int,
                               info: meta_pb2.CollectionInfo | None = None) -> meta_pb2.CollectionInfo:
            """core.py"""

        def _ensure_tasks(self, collection_id: int) -> None:
            """indexes.py"""
