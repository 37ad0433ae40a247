"""Runs compaction plans on a datanode.

A plan (``CompactionPlan``: datacoord hands the plans of the channels this node consumes out
with the heartbeat) names source segments of one (collection, partition, channel), the
channel's persisted delete logs and a new segment id. ``merge_rows`` keeps every source row
that no delete hides at any time (a delete of the row's primary key, for its partition or for
every partition, newer than the row: the semantics of ``DeleteRecord``), in source order, with
the rows' own insert timestamps. The result is written as the target's Parquet file
(``insert_log/{coll}/{part}/{target}/{target}.parquet``; a rerun overwrites it) and reported
with ``ReportCompaction``; datacoord commits it (or refuses a stale one). No file is written
when every row was deleted.

``Compactor`` runs plans one at a time in a thread. A plan id runs once on this node as long
as datacoord keeps listing it; a report that cannot be delivered is retried until it is (or
the node stops: the channel's next datanode then runs the plan again).
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from common.errors import ParameterInvalid
from common.runtime import RoleContext
from common.schema import CollectionSchema
from common.schema_proto import schema_from_proto
from common.storage.base import ObjectStorage
from common.storage.layout import insert_log_path
from common.types import TIMESTAMP_COLUMN
from dataplane.delete_record import DeleteRecord
from dataplane.segment_file import read_delta_records, read_segment_file, write_segment_file
from proto.internal import datacoord_pb2, meta_pb2

RETRY_MIN_S = 0.05
RETRY_MAX_S = 2.0


def merge_rows(sources: Sequence[Mapping[str, np.ndarray]], schema: CollectionSchema,
               deletes: DeleteRecord, partition_id: int) -> tuple[dict[str, np.ndarray], int]:
    """The rows of ``sources`` (segment columns as ``read_segment_file`` returns them, in
    order) that no delete in ``deletes`` hides, as one set of columns; and the number of rows
    purged. Raises ParameterInvalid when the sources do not have the same columns."""
    if not sources:
        raise ParameterInvalid("a compaction needs at least one source segment")
    names = list(sources[0])
    for columns in sources[1:]:
        if set(columns) != set(names):
            raise ParameterInvalid(f"source segments have different columns: {sorted(names)} and {sorted(columns)}")
    merged = {name: np.concatenate([columns[name] for columns in sources]) for name in names}
    if not len(deletes):
        return merged, 0
    pk = schema.primary_field.name
    deleted = deletes.deleted_mask(merged[pk], merged[TIMESTAMP_COLUMN], deletes.max_ts, partition_id)
    purged = int(np.count_nonzero(deleted))
    if purged:
        keep = ~deleted
        merged = {name: column[keep] for name, column in merged.items()}
    return merged, purged


def load_deletes(storage: ObjectStorage, delta_logs: Iterable[meta_pb2.DeltaLogInfo]) -> DeleteRecord:
    """Every delete of the delta logs, as a DeleteRecord."""
    deletes = DeleteRecord()
    for log in delta_logs:
        pks, ts, partition_ids = read_delta_records(storage.get(log.path))
        deletes.add(pks, ts, partition_ids)
    return deletes


class Compactor:
    """Runs the compaction plans offered by the heartbeat (see the module docstring)."""

    def __init__(self, context: RoleContext, log: logging.Logger) -> None:
        self._context = context
        self.log = log
        self._queue: queue.Queue[datacoord_pb2.CompactionPlan | None] = queue.Queue()
        self._lock = threading.Lock()
        self._known: set[int] = set()  # plan ids queued, running or done
        self._running = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.completed = 0  # plans run and reported by this node

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="datanode-compactor", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def offer(self, plans: Iterable[datacoord_pb2.CompactionPlan]) -> None:
        """Queue the plans not seen yet; forget ids datacoord no longer lists (the running
        one excepted)."""
        plans = list(plans)
        with self._lock:
            listed = {p.plan_id for p in plans}
            self._known = {i for i in self._known if i in listed or i == self._running}
            for plan in plans:
                if plan.plan_id not in self._known:
                    self._known.add(plan.plan_id)
                    self._queue.put(plan)

    def _loop(self) -> None:
        while not self._stop.is_set():
            plan = self._queue.get()
            if plan is None:
                return
            with self._lock:
                self._running = plan.plan_id
            try:
                self._report(self.run(plan))
            finally:
                with self._lock:
                    self._running = 0

    def run(self, plan: datacoord_pb2.CompactionPlan) -> datacoord_pb2.ReportCompactionRequest:
        """Run one plan; the report to send (success with the target, or the failure)."""
        report = datacoord_pb2.ReportCompactionRequest(node_id=self._context.node_id, plan_id=plan.plan_id)
        storage = self._context.storage
        try:
            schema = schema_from_proto(plan.collection.schema)
            sources = [read_segment_file(storage.get(s.insert_log), schema) for s in plan.sources]
            deletes = load_deletes(storage, plan.delta_logs)
            columns, purged = merge_rows(sources, schema, deletes, plan.partition_id)
            rows = len(columns[TIMESTAMP_COLUMN])
            target = meta_pb2.SegmentInfo(
                segment_id=plan.target_id, collection_id=plan.collection.collection_id,
                partition_id=plan.partition_id, channel=plan.channel, num_rows=rows, state=meta_pb2.FLUSHED,
                start_offset=min(s.start_offset for s in plan.sources),
                compaction_from=[s.segment_id for s in plan.sources],
                compact_ts=max([deletes.max_ts] + [s.compact_ts for s in plan.sources]))
            if rows:
                ts = columns[TIMESTAMP_COLUMN]
                target.min_ts, target.max_ts = int(ts.min()), int(ts.max())
                target.insert_log = insert_log_path(plan.collection.collection_id, plan.partition_id, plan.target_id)
                data = write_segment_file(columns, schema)
                storage.put(target.insert_log, data)
                target.mem_size = len(data)
        except Exception as exc:  # noqa: BLE001 - any failure is reported with its text
            self.log.warning("compaction plan %d (segments %s) failed: %s", plan.plan_id,
                             [s.segment_id for s in plan.sources], exc)
            report.success, report.fail_reason = False, f"{type(exc).__name__}: {exc}"
            return report
        self.log.info("compaction plan %d: segments %s -> %d (%d rows, %d deleted rows purged)", plan.plan_id,
                      [s.segment_id for s in plan.sources], plan.target_id, rows, purged)
        report.success = True
        report.target.CopyFrom(target)
        return report

    def _report(self, report: datacoord_pb2.ReportCompactionRequest) -> None:
        delay = RETRY_MIN_S
        while not self._stop.is_set():
            try:
                self._context.datacoord.report_compaction(report)
                self.completed += 1
                return
            except Exception as exc:  # noqa: BLE001 - retried: the work is done
                self.log.warning("ReportCompaction(%d) failed: %s", report.plan_id, exc)
            self._stop.wait(delay)
            delay = min(delay * 2, RETRY_MAX_S)
