"""Compaction in datacoord: manual compaction plans, their execution by datanodes, the commit,
and the switch of readers to the result.

``manual_compaction`` takes the flushed segments of a collection that no running compaction
holds (optionally only those of one partition, one channel, or the named segments) and groups
them with ``plan_groups``: per (partition, channel), segments are packed largest first into
bins of at most ``segment_max_rows`` rows (and the request's target size) and ``MAX_SOURCES``
segments. A bin of two or more segments is a merge plan; a lone segment is a plan only when its
channel has persisted deletes that may hide some of its rows (newer than its rows and than its
last compaction), so that they are purged. The compaction id, the plan ids and the target
segment ids come from the id allocator; tasks are persisted under ``meta/compaction/``.

Life of a plan (``CompactionTask.state``):

1. EXECUTING: the datanode consuming the plan's channel gets it with its heartbeat (a channel
   that moves to another datanode takes its plans along) and runs it
   (``nodes/datanode/compactor.py``), then reports the target it wrote.
2. The report commits it in one etcd transaction: sources DROPPED, target FLUSHED (with
   ``compaction_from``), task INDEXING. A failure, or sources that changed meanwhile (a dropped
   partition), makes it FAILED and removes the written file. Late or repeated reports change
   nothing.
3. INDEXING: the target's index builds run as for any flushed segment, while readers keep the
   sources: ``_visible_segments`` (what GetRecoveryInfo serves to querycoord) shows the
   sources and hides the target.
4. COMPLETED once every index of the collection is built (or failed) on the target: the channel
   spans (``SegmentRange``) of the sources' rows move to the target (``compacted_to``), and
   ``_visible_segments`` shows the target instead of its sources. Querynodes load it and
   release the sources in one step (``nodes/querynode/shard.py``), so a search never misses
   or duplicates a row.
5. ``GC_DELAY_S`` after completion the sources' files and index builds are deleted; their
   records stay (their spans still tell a replay which inserts are persisted).

A compaction (``GetCompactionState``) is Executing while one of its plans is EXECUTING or
INDEXING, else Completed; an unknown id has no plans (Completed, as in Milvus).

Rows deleted at timestamp T are purged for good: a read as of a time before T no longer sees
them once the target replaces the sources (Milvus behaves the same).
"""
from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from common.errors import (
    ChannelNotFound,
    ParameterInvalid,
    PartitionNotFound,
    SegmentNotFound,
)
from common.storage.layout import index_file_prefix
from coordinators.datacoord.state import DataCoordState
from proto.internal import datacoord_pb2, meta_pb2
from proto.milvus import common_pb2

#: Most source segments one plan merges (Milvus's dataCoord.compaction.max.segment).
MAX_SOURCES = 30
#: Seconds after a plan completed before its sources' files are deleted.
GC_DELAY_S = 60.0
#: Seconds a finished (or failed) plan's record is kept for GetCompactionState after that.
RECORD_RETENTION_S = 86400.0

EXECUTING = datacoord_pb2.COMPACTION_EXECUTING
INDEXING = datacoord_pb2.COMPACTION_INDEXING
COMPLETED = datacoord_pb2.COMPACTION_COMPLETED
FAILED = datacoord_pb2.COMPACTION_FAILED
RUNNING = (EXECUTING, INDEXING)
_BUILT = (common_pb2.IndexState.Finished, common_pb2.IndexState.Failed)


def plan_groups(segments: Iterable[meta_pb2.SegmentInfo], max_rows: int, max_bytes: int,
                newest_delete_ts: Mapping[str, int]) -> list[list[meta_pb2.SegmentInfo]]:
    """The source groups of compaction plans among ``segments`` (see the module docstring):
    per (partition, channel), first-fit decreasing by rows into bins of at most ``max_rows``
    rows, ``max_bytes`` file bytes (when > 0) and ``MAX_SOURCES`` segments. A bin of one segment
    is kept only when ``newest_delete_ts[channel]`` is newer than both its oldest row and its
    ``compact_ts``. Deterministic; each group sorted by segment id."""
    by_key: dict[tuple[int, str], list[meta_pb2.SegmentInfo]] = {}
    for seg in segments:
        by_key.setdefault((seg.partition_id, seg.channel), []).append(seg)
    plans = []
    for key in sorted(by_key):
        bins: list[list[meta_pb2.SegmentInfo]] = []
        for seg in sorted(by_key[key], key=lambda s: (-s.num_rows, s.segment_id)):
            for members in bins:
                rows = sum(s.num_rows for s in members) + seg.num_rows
                size = sum(s.mem_size for s in members) + seg.mem_size
                if len(members) < MAX_SOURCES and rows <= max_rows and (max_bytes <= 0 or size <= max_bytes):
                    members.append(seg)
                    break
            else:
                bins.append([seg])
        for members in bins:
            lone = members[0]
            if len(members) > 1 or newest_delete_ts.get(lone.channel, 0) > max(lone.min_ts, lone.compact_ts):
                plans.append(sorted(members, key=lambda s: s.segment_id))
    return plans


def busy_segments(compactions: Iterable[datacoord_pb2.CompactionTask], collection_id: int) -> set[int]:
    """Sources and targets of the collection's running (EXECUTING or INDEXING) plans."""
    busy: set[int] = set()
    for task in compactions:
        if task.collection_id == collection_id and task.state in RUNNING:
            busy.update(task.sources)
            busy.add(task.target_id)
    return busy


def compaction_candidates(live: Iterable[meta_pb2.SegmentInfo], busy: set[int], partition_id: int = 0,
                          channel: str = "", named: Iterable[int] = ()) -> list[meta_pb2.SegmentInfo]:
    """The segments of ``live`` a manual compaction may merge: not ``busy``, of
    ``partition_id`` / ``channel`` when set, among ``named`` when not empty."""
    wanted = set(named)
    return [s for s in live if s.segment_id not in busy
            and (not partition_id or s.partition_id == partition_id)
            and (not channel or s.channel == channel)
            and (not wanted or s.segment_id in wanted)]


def delete_horizons(delta_logs: Mapping[str, meta_pb2.DeltaLogInfo],
                    collection_id: int) -> tuple[dict[str, int], dict[str, str]]:
    """Per channel of the collection: the newest timestamp of its persisted deletes, and the
    id of its newest delete log (a plan applies the logs up to it)."""
    newest: dict[str, int] = {}
    until: dict[str, str] = {}
    for log_id, log in delta_logs.items():
        if log.collection_id == collection_id:
            newest[log.channel] = max(newest.get(log.channel, 0), int(log.max_ts))
            until[log.channel] = max(until.get(log.channel, ""), log_id)
    return newest, until


def new_tasks(groups: Sequence[Sequence[meta_pb2.SegmentInfo]], begin: int, collection_id: int, start_ts: int,
              delta_until: Mapping[str, str]) -> list[datacoord_pb2.CompactionTask]:
    """The EXECUTING tasks of one compaction (id ``begin``) merging each of ``groups``: plan
    ``i`` gets plan id ``begin + 1 + 2i`` and target id ``begin + 2 + 2i`` (the ids were
    allocated as one block of ``1 + 2 * len(groups)``)."""
    return [datacoord_pb2.CompactionTask(
        compaction_id=begin, plan_id=begin + 1 + 2 * i, collection_id=collection_id,
        partition_id=group[0].partition_id, channel=group[0].channel, sources=[s.segment_id for s in group],
        target_id=begin + 2 + 2 * i, state=EXECUTING, start_ts=start_ts,
        delta_until=delta_until.get(group[0].channel, ""))
        for i, group in enumerate(groups)]


def plan_delta_logs(task: datacoord_pb2.CompactionTask,
                    delta_logs: Mapping[str, meta_pb2.DeltaLogInfo]) -> list[meta_pb2.DeltaLogInfo]:
    """The persisted delete logs a plan applies, in id order: its channel's, up to the newest
    one when it was planned (``delta_until``; none when there was none)."""
    return [log for log_id, log in sorted(delta_logs.items())
            if log.collection_id == task.collection_id and log.channel == task.channel
            and log_id <= task.delta_until]


def sources_problem(task: datacoord_pb2.CompactionTask, segments: Mapping[int, meta_pb2.SegmentInfo],
                    dropped_partitions: set[int]) -> str:
    """Why the plan's sources can no longer be replaced ("" when they can): one is not a
    FLUSHED segment any more, or its partition was dropped."""
    for segment_id in task.sources:
        seg = segments.get(segment_id)
        if seg is None or seg.state != meta_pb2.FLUSHED:
            return f"source segment {segment_id} was dropped meanwhile"
        if seg.partition_id in dropped_partitions:
            return f"partition {seg.partition_id} was dropped meanwhile"
    return ""


def commit_records(task: datacoord_pb2.CompactionTask, sources: Sequence[meta_pb2.SegmentInfo],
                   target: meta_pb2.SegmentInfo) -> tuple[list[meta_pb2.SegmentInfo], datacoord_pb2.CompactionTask]:
    """The records a successful report commits: the ``sources`` DROPPED, the target FLUSHED
    under the plan's ids with ``compaction_from`` (none when every row was purged), and the
    task INDEXING with the target's row count."""
    changed = []
    for source in sources:
        dropped = meta_pb2.SegmentInfo()
        dropped.CopyFrom(source)
        dropped.state = meta_pb2.DROPPED
        changed.append(dropped)
    if target.num_rows > 0:
        seg = meta_pb2.SegmentInfo()
        seg.CopyFrom(target)
        seg.segment_id, seg.collection_id, seg.partition_id = task.target_id, task.collection_id, task.partition_id
        seg.channel, seg.state = task.channel, meta_pb2.FLUSHED
        del seg.compaction_from[:]
        seg.compaction_from.extend(task.sources)
        changed.append(seg)
    updated = datacoord_pb2.CompactionTask()
    updated.CopyFrom(task)
    updated.state, updated.target_rows = INDEXING, max(0, target.num_rows)
    return changed, updated


def moved_ranges(task: datacoord_pb2.CompactionTask,
                 ranges: Iterable[datacoord_pb2.SegmentRange]) -> list[datacoord_pb2.SegmentRange]:
    """The channel spans the plan's target takes over: those of its sources, and those earlier
    compactions had moved to one of its sources (copies with ``compacted_to`` = the target)."""
    sources = set(task.sources)
    moved = []
    for rng in ranges:
        if (rng.compacted_to or rng.segment_id) in sources:
            copy = datacoord_pb2.SegmentRange()
            copy.CopyFrom(rng)
            copy.compacted_to = task.target_id
            moved.append(copy)
    return moved


def visible_segments(live: Iterable[meta_pb2.SegmentInfo], compactions: Iterable[datacoord_pb2.CompactionTask],
                     segments: Mapping[int, meta_pb2.SegmentInfo]) -> list[meta_pb2.SegmentInfo]:
    """The segments readers use, by id: the ``live`` ones, except targets of plans (among
    ``compactions``) still INDEXING, whose sources (from ``segments``, shown FLUSHED) stand in
    for them."""
    hidden = {t.target_id: t for t in compactions if t.state == INDEXING}
    out = [s for s in live if s.segment_id not in hidden]
    for task in hidden.values():
        for segment_id in task.sources:
            seg = segments.get(segment_id)
            if seg is not None:
                copy = meta_pb2.SegmentInfo()
                copy.CopyFrom(seg)
                copy.state = meta_pb2.FLUSHED
                out.append(copy)
    return sorted(out, key=lambda s: s.segment_id)


class Step(enum.Enum):
    """What ``advance_compactions`` does to a plan next."""

    WAIT = "wait"
    FAIL = "fail"
    COMPLETE = "complete"
    REMOVE_SOURCES = "remove sources"
    FORGET = "forget"


def next_step(task: datacoord_pb2.CompactionTask, segments: Mapping[int, meta_pb2.SegmentInfo],
              dropped_partitions: set[int], indexed: Callable[[meta_pb2.SegmentInfo], bool],
              finished_for_s: float) -> tuple[Step, str]:
    """The next step of a plan and, for FAIL, why. EXECUTING: fail when its sources changed.
    INDEXING: fail when its (non-empty) target was dropped, complete once the target is
    ``indexed`` (at once when every row was purged). COMPLETED ``finished_for_s`` ≥
    ``GC_DELAY_S`` ago: remove the sources; once removed, or FAILED, forget the record after
    ``RECORD_RETENTION_S``."""
    if task.state == EXECUTING:
        problem = sources_problem(task, segments, dropped_partitions)
        return (Step.FAIL, problem) if problem else (Step.WAIT, "")
    if task.state == INDEXING:
        target = segments.get(task.target_id)
        if task.target_rows and (target is None or target.state != meta_pb2.FLUSHED):
            return Step.FAIL, f"target segment {task.target_id} was dropped meanwhile"
        if not task.target_rows or (target is not None and indexed(target)):
            return Step.COMPLETE, ""
        return Step.WAIT, ""
    if task.state == COMPLETED and not task.sources_removed:
        return (Step.REMOVE_SOURCES, "") if finished_for_s >= GC_DELAY_S else (Step.WAIT, "")
    if task.state in (FAILED, COMPLETED) and finished_for_s >= RECORD_RETENTION_S:
        return Step.FORGET, ""
    return Step.WAIT, ""


class CompactionMixin(DataCoordState):
    """DataCoord's compaction methods (mixed into ``DataCoord``; see the module docstring)."""

    # ------------------------------------------------------------------------ planning
    def manual_compaction(self, req: datacoord_pb2.ManualCompactionRequest
                          ) -> datacoord_pb2.ManualCompactionResponse:
        """Plan a compaction; answers its id and plan count, (-1, 0) when there is nothing to
        compact. Raises CollectionNotFound, PartitionNotFound, ChannelNotFound, SegmentNotFound
        (a named segment that is not a flushed segment of the collection)."""
        self.require_ready()
        coll = self._ensure_collection(req.collection.collection_id, req.collection)
        cid = coll.collection_id
        if req.channel and req.channel not in coll.channels:
            raise ChannelNotFound(f"channel not found[channel={req.channel}]: not a channel of collection {coll.name}")
        if req.partition_id and req.partition_id not in {p.partition_id for p in coll.partitions}:
            raise PartitionNotFound(f"partition not found[partition={req.partition_id}]")
        if req.target_size_mb < 0:
            raise ParameterInvalid(f"target size must not be negative, got {req.target_size_mb}")
        with self._lock:
            live = {s.segment_id: s for s in self._live_segments(cid)}
            unknown = sorted(set(req.segment_ids) - set(live))
            if unknown:
                raise SegmentNotFound(f"segment not found[segment={unknown[0]}]: not a flushed segment of "
                                      f"collection {coll.name}")
            candidates = compaction_candidates(live.values(), busy_segments(self._compactions.values(), cid),
                                               req.partition_id, req.channel, req.segment_ids)
            newest, until = delete_horizons(self._delta_logs, cid)
        groups = plan_groups(candidates, self._segment_max_rows, req.target_size_mb << 20, newest)
        if not groups:
            return datacoord_pb2.ManualCompactionResponse(compaction_id=-1, plan_count=0)
        begin = self._alloc_ids(1 + 2 * len(groups))  # the compaction id, then (plan id, target id) per plan
        start_ts = self._alloc_ts()
        tasks = new_tasks(groups, begin, cid, start_ts, until)
        with self._lock:  # sources may have changed while ids were allocated
            busy = busy_segments(self._compactions.values(), cid)
            tasks = [t for t in tasks if all(self._is_live(i) and i not in busy for i in t.sources)]
            if not tasks:
                return datacoord_pb2.ManualCompactionResponse(compaction_id=-1, plan_count=0)
            self._catalog.save_compactions(tasks)
            for task in tasks:
                self._compactions[task.plan_id] = task
        self.log.info("collection %d: compaction %d planned: %s", cid, begin,
                      {t.target_id: list(t.sources) for t in tasks})
        return datacoord_pb2.ManualCompactionResponse(compaction_id=begin, plan_count=len(tasks))

    def get_compaction_state(self, request: datacoord_pb2.CompactionStateRequest
                             ) -> datacoord_pb2.CompactionStateResponse:
        """The plans of a compaction (none for an unknown id), by plan id."""
        self.require_ready()
        with self._lock:
            tasks = sorted((t for t in self._compactions.values() if t.compaction_id == request.compaction_id),
                           key=lambda t: t.plan_id)
        return datacoord_pb2.CompactionStateResponse(tasks=tasks)

    def _is_live(self, segment_id: int) -> bool:
        seg = self._segments.get(segment_id)
        return seg is not None and seg.state == meta_pb2.FLUSHED

    # ------------------------------------------------------------------------ execution
    def compaction_plans(self, node_id: int) -> list[datacoord_pb2.CompactionPlan]:
        """The EXECUTING plans of the channels datanode ``node_id`` consumes (caller holds the
        lock)."""
        plans = []
        for task in sorted(self._compactions.values(), key=lambda t: t.plan_id):
            rec = self._channels.get(task.channel)
            coll = self._collections.get(task.collection_id)
            if task.state != EXECUTING or rec is None or rec.node_id != node_id or coll is None:
                continue
            sources = [s for s in (self._segments.get(i) for i in task.sources) if s is not None]
            if len(sources) != len(task.sources):
                continue  # dropped meanwhile: the maintenance loop fails it
            plan = datacoord_pb2.CompactionPlan(
                plan_id=task.plan_id, compaction_id=task.compaction_id, collection=coll,
                partition_id=task.partition_id, channel=task.channel, sources=sources, target_id=task.target_id)
            plan.delta_logs.extend(plan_delta_logs(task, self._delta_logs))
            plans.append(plan)
        return plans

    def report_compaction(self, req: datacoord_pb2.ReportCompactionRequest) -> None:
        """Commit (or fail) a plan from its datanode's report. A report of a plan that is not
        EXECUTING (late, repeated, or of a dropped collection) changes nothing; its file is
        removed unless it is the committed target's."""
        self.require_ready()
        remove = ""
        committed = None
        with self._lock:
            task = self._compactions.get(req.plan_id)
            path = req.target.insert_log
            if task is None or task.state != EXECUTING:
                if task is None or task.state == FAILED:
                    remove = path
            elif not req.success:
                self._fail_compaction(task, req.fail_reason or "the datanode reported a failure")
                remove = path
            else:
                problem = sources_problem(task, self._segments, self._dropped_partitions)
                if problem:
                    self._fail_compaction(task, problem)
                    remove = path
                else:
                    committed = self._commit_compaction(task, req.target)
        if remove:
            self._context.storage.remove(remove)
        if committed is not None:
            self.log.info("collection %d: compaction %d plan %d committed: %s -> %d (%d rows)",
                          committed.collection_id, committed.compaction_id, committed.plan_id,
                          list(committed.sources), committed.target_id, committed.target_rows)
            try:
                self._ensure_tasks(committed.collection_id)
            except Exception as exc:  # noqa: BLE001 - the loop creates them later
                self.log.warning("creating index tasks of collection %d failed: %s", committed.collection_id, exc)
            self.advance_compactions()

    def _commit_compaction(self, task: datacoord_pb2.CompactionTask,
                           target: meta_pb2.SegmentInfo) -> datacoord_pb2.CompactionTask:
        """Sources DROPPED, target FLUSHED (none when every row was purged), task INDEXING: one
        transaction. Caller holds the lock."""
        changed, updated = commit_records(task, [self._segments[i] for i in task.sources], target)
        self._catalog.save_compactions([updated], changed)
        for seg in changed:
            self._segments[seg.segment_id] = seg
        self._compactions[task.plan_id] = updated
        return updated

    def _fail_compaction(self, task: datacoord_pb2.CompactionTask, reason: str) -> None:
        """Caller holds the lock."""
        updated = datacoord_pb2.CompactionTask()
        updated.CopyFrom(task)
        updated.state, updated.fail_reason = FAILED, reason
        self._catalog.save_compactions([updated])
        self._compactions[task.plan_id] = updated
        self.log.warning("collection %d: compaction %d plan %d failed: %s", task.collection_id,
                         task.compaction_id, task.plan_id, reason)

    # ------------------------------------------------------------------------ completion
    def advance_compactions(self) -> None:
        """Complete the plans whose target is indexed, fail the ones whose segments were
        dropped meanwhile, delete the sources of plans completed ``GC_DELAY_S`` ago, and the
        records of plans finished (sources deleted) or failed ``RECORD_RETENTION_S`` ago."""
        collect, expired = [], []
        now = time.monotonic()
        with self._lock:
            for task in list(self._compactions.values()):
                finished_for = 0.0
                if task.state in (COMPLETED, FAILED):
                    finished_for = now - self._completed_at.setdefault(task.plan_id, now)
                step, reason = next_step(task, self._segments, self._dropped_partitions, self._indexed, finished_for)
                if step is Step.FAIL:
                    self._fail_compaction(task, reason)
                elif step is Step.COMPLETE:
                    self._complete_compaction(task)
                elif step is Step.REMOVE_SOURCES:
                    collect.append(task)
                elif step is Step.FORGET:
                    expired.append(task)
            if expired:
                self._catalog.delete_compactions(expired)
                for task in expired:
                    del self._compactions[task.plan_id]
                    self._completed_at.pop(task.plan_id, None)
        for task in collect:
            self._remove_sources(task)

    def _indexed(self, seg: meta_pb2.SegmentInfo) -> bool:
        """Every index of the segment's collection is built (or failed) on it. Caller holds the
        lock."""
        for index in self._collection_indexes(seg.collection_id):
            build = self._task_of.get((seg.segment_id, index.index_id))
            task = self._tasks.get(build) if build is not None else None
            if task is None or task.state not in _BUILT:
                return False
        return True

    def _complete_compaction(self, task: datacoord_pb2.CompactionTask) -> None:
        """Move the sources' channel spans to the target and mark the plan COMPLETED: readers
        switch to the target. Caller holds the lock."""
        moved = moved_ranges(task, (self._ranges[s.segment_id] for s in self._collection_segments(task.collection_id)
                                    if s.segment_id in self._ranges))
        updated = datacoord_pb2.CompactionTask()
        updated.CopyFrom(task)
        updated.state = COMPLETED
        self._catalog.save_compactions([updated], ranges=[(task.collection_id, r) for r in moved])
        for rng in moved:
            self._ranges[rng.segment_id] = rng
        self._compactions[task.plan_id] = updated
        self._completed_at[task.plan_id] = time.monotonic()
        self.log.info("collection %d: compaction %d plan %d completed: readers move from %s to %d",
                      task.collection_id, task.compaction_id, task.plan_id, list(task.sources), task.target_id)

    def _remove_sources(self, task: datacoord_pb2.CompactionTask) -> None:
        """Delete the files and index builds of a completed plan's sources (their records
        stay)."""

        sources = set(task.sources)
        with self._lock:
            paths = [s.insert_log for s in (self._segments.get(i) for i in sources)
                     if s is not None and s.state == meta_pb2.DROPPED and s.insert_log]
            builds = [t for t in self._tasks.values() if t.segment_id in sources]
        for path in paths:
            self._context.storage.remove(path)
        for build in builds:
            self._context.storage.remove_prefix(index_file_prefix(build.build_id))
        with self._lock:
            current = self._compactions.get(task.plan_id)
            if current is None:
                return
            self._catalog.delete_tasks(builds)
            for build in builds:
                self._forget_task(build.build_id)
            updated = datacoord_pb2.CompactionTask()
            updated.CopyFrom(current)
            updated.sources_removed = True
            self._catalog.save_compactions([updated])
            self._compactions[task.plan_id] = updated

    # ------------------------------------------------------------------------ readers
    def _visible_segments(self, collection_id: int) -> list[meta_pb2.SegmentInfo]:
        """The segments readers use (caller holds the lock): the live ones, except targets of
        plans still INDEXING, whose sources (shown FLUSHED) stand in for them."""
        return visible_segments(self._live_segments(collection_id),
                                (t for t in self._compactions.values() if t.collection_id == collection_id),
                                self._segments)

    def _forget_compactions(self, collection_id: int) -> None:
        """Forget a dropped collection's plans (their records go with the collection's)."""
        for plan_id in [p for p, t in self._compactions.items() if t.collection_id == collection_id]:
            del self._compactions[plan_id]
            self._completed_at.pop(plan_id, None)

