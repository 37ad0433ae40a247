"""Datacoord's decisions as pure functions of records, without a cluster or a KV: which
datanode consumes a channel, which growing segments are sealed by size, and the life of
compaction plans (what may merge, the tasks, the commit, the spans a target takes over, what
readers see, the next step of a plan)."""
from __future__ import annotations

from coordinators.datacoord.channels import assign_channels
from coordinators.datacoord.compaction import (
    COMPLETED,
    EXECUTING,
    FAILED,
    GC_DELAY_S,
    INDEXING,
    RECORD_RETENTION_S,
    Step,
    busy_segments,
    commit_records,
    compaction_candidates,
    delete_horizons,
    moved_ranges,
    new_tasks,
    next_step,
    plan_delta_logs,
    sources_problem,
    visible_segments,
)
from coordinators.datacoord.seals import plan_size_seals
from proto.internal import datacoord_pb2, meta_pb2


def _seg(sid: int, partition: int = 1, channel: str = "ch0", state: int = meta_pb2.FLUSHED,
         rows: int = 10) -> meta_pb2.SegmentInfo:
    return meta_pb2.SegmentInfo(segment_id=sid, collection_id=1, partition_id=partition, channel=channel,
                                num_rows=rows, state=state, insert_log=f"f/{sid}")


def _task(plan: int, sources: list[int], target: int, state: int = EXECUTING, collection: int = 1,
          target_rows: int = 0) -> datacoord_pb2.CompactionTask:
    return datacoord_pb2.CompactionTask(compaction_id=1, plan_id=plan, collection_id=collection, partition_id=1,
                                        channel="ch0", sources=sources, target_id=target, state=state,
                                        target_rows=target_rows)


# ------------------------------------------------------------------------------------ channels
def test_channels_of_gone_datanodes_go_to_the_least_loaded_taking_turns() -> None:
    owners = {"c": 0, "a": 7, "b": 0, "d": 5}  # 7 is gone, 5 is live
    moves, turn = assign_channels(owners, [5, 6], 0)
    # a (first by name) goes to 6, the only least loaded; then 5 and 6 are equal: turns decide
    assert moves == {"a": 6, "b": 6, "c": 5} and turn == 3
    moves, turn = assign_channels({"a": 0, "b": 0}, [5, 6], 1)
    assert moves == {"a": 6, "b": 5} and turn == 3  # turn 1 picks the second of the equals first


def test_channels_stay_without_live_datanodes_or_when_their_owner_lives() -> None:
    assert assign_channels({"a": 0}, [], 4) == ({}, 4)
    assert assign_channels({"a": 5, "b": 6}, [5, 6], 2) == ({}, 2)
    assert assign_channels({}, [5], 0) == ({}, 0)


# ------------------------------------------------------------------------------------ planning
def test_busy_segments_are_those_of_running_plans_of_the_collection() -> None:
    tasks = [_task(1, [1, 2], 3), _task(2, [4], 5, state=INDEXING), _task(3, [6], 7, state=COMPLETED),
             _task(4, [8], 9, state=FAILED), _task(5, [10], 11, collection=2)]
    assert busy_segments(tasks, 1) == {1, 2, 3, 4, 5}
    assert busy_segments([], 1) == set()


def test_candidates_filter_by_busy_partition_channel_and_names() -> None:
    live = [_seg(1), _seg(2, partition=2), _seg(3, channel="ch1"), _seg(4)]
    ids = lambda segs: [s.segment_id for s in segs]  # noqa: E731
    assert ids(compaction_candidates(live, {4})) == [1, 2, 3]
    assert ids(compaction_candidates(live, set(), partition_id=2)) == [2]
    assert ids(compaction_candidates(live, set(), channel="ch1")) == [3]
    assert ids(compaction_candidates(live, {1}, named=[1, 4])) == [4]
    assert ids(compaction_candidates(live, set(), partition_id=1, channel="ch0", named=[2])) == []


def test_delete_horizons_per_channel_of_the_collection() -> None:
    logs = {
        "k/ch0/05_0": meta_pb2.DeltaLogInfo(collection_id=1, channel="ch0", max_ts=50),
        "k/ch0/09_0": meta_pb2.DeltaLogInfo(collection_id=1, channel="ch0", max_ts=40),
        "k/ch1/02_0": meta_pb2.DeltaLogInfo(collection_id=1, channel="ch1", max_ts=7),
        "k/x/01_0": meta_pb2.DeltaLogInfo(collection_id=2, channel="x", max_ts=99),
    }
    newest, until = delete_horizons(logs, 1)
    assert newest == {"ch0": 50, "ch1": 7}  # the newest timestamp, not the last log's
    assert until == {"ch0": "k/ch0/09_0", "ch1": "k/ch1/02_0"}  # the last log by id
    assert delete_horizons(logs, 3) == ({}, {})


def test_new_tasks_take_their_ids_from_one_block() -> None:
    groups = [[_seg(1), _seg(2)], [_seg(3, channel="ch1")]]
    tasks = new_tasks(groups, 100, 1, 555, {"ch0": "k0"})
    assert [(t.compaction_id, t.plan_id, t.target_id, list(t.sources)) for t in tasks] == [
        (100, 101, 102, [1, 2]), (100, 103, 104, [3])]
    assert [t.delta_until for t in tasks] == ["k0", ""]  # ch1 has no delete logs
    assert all(t.state == EXECUTING and t.start_ts == 555 and t.collection_id == 1 for t in tasks)
    assert new_tasks([], 100, 1, 555, {}) == []


def test_a_plan_applies_its_channels_delete_logs_up_to_its_horizon() -> None:
    logs = {
        "k/ch0/07_0": meta_pb2.DeltaLogInfo(collection_id=1, channel="ch0", path="late"),
        "k/ch0/03_0": meta_pb2.DeltaLogInfo(collection_id=1, channel="ch0", path="early"),
        "k/ch0/05_0": meta_pb2.DeltaLogInfo(collection_id=1, channel="ch0", path="middle"),
        "k/ch1/01_0": meta_pb2.DeltaLogInfo(collection_id=1, channel="ch1", path="other channel"),
        "k/ch0/02_0": meta_pb2.DeltaLogInfo(collection_id=2, channel="ch0", path="other collection"),
    }
    task = _task(1, [1], 2)
    task.delta_until = "k/ch0/05_0"
    assert [d.path for d in plan_delta_logs(task, logs)] == ["early", "middle"]
    task.delta_until = ""  # planned before any delete was persisted
    assert plan_delta_logs(task, logs) == []


# ------------------------------------------------------------------------------------ commit
def test_sources_problem_names_the_first_changed_source() -> None:
    task = _task(1, [1, 2], 3)
    segments = {1: _seg(1), 2: _seg(2)}
    assert sources_problem(task, segments, set()) == ""
    assert "partition 1 was dropped" in sources_problem(task, segments, {1})
    assert "source segment 2 was dropped" in sources_problem(task, {1: _seg(1)}, set())
    assert "source segment 1 was dropped" in sources_problem(
        task, {1: _seg(1, state=meta_pb2.DROPPED), 2: _seg(2)}, set())


def test_commit_records_drop_the_sources_and_flush_the_target() -> None:
    task = _task(7, [1, 2], 30)
    written = meta_pb2.SegmentInfo(segment_id=999, num_rows=15, insert_log="f/30", compaction_from=[5])
    changed, updated = commit_records(task, [_seg(1), _seg(2)], written)
    assert [(s.segment_id, s.state) for s in changed] == [
        (1, meta_pb2.DROPPED), (2, meta_pb2.DROPPED), (30, meta_pb2.FLUSHED)]
    target = changed[-1]
    assert (target.collection_id, target.partition_id, target.channel) == (1, 1, "ch0")
    assert list(target.compaction_from) == [1, 2] and target.insert_log == "f/30"
    assert updated.state == INDEXING and updated.target_rows == 15 and task.state == EXECUTING
    # every row purged: no target record, the task still moves on
    changed, updated = commit_records(task, [_seg(1), _seg(2)], meta_pb2.SegmentInfo(num_rows=-1))
    assert [s.segment_id for s in changed] == [1, 2] and updated.target_rows == 0


def test_moved_ranges_follow_earlier_compactions() -> None:
    task = _task(7, [1, 2], 30)
    earlier = datacoord_pb2.SegmentRange(segment_id=9, compacted_to=2)  # 9 was merged into source 2
    other = datacoord_pb2.SegmentRange(segment_id=5, compacted_to=6)
    ranges = [datacoord_pb2.SegmentRange(segment_id=1), earlier, other, datacoord_pb2.SegmentRange(segment_id=4)]
    moved = moved_ranges(task, ranges)
    assert [(r.segment_id, r.compacted_to) for r in moved] == [(1, 30), (9, 30)]
    assert earlier.compacted_to == 2  # copies: the inputs are unchanged


def test_visible_segments_hide_indexing_targets_behind_their_sources() -> None:
    dropped = {1: _seg(1, state=meta_pb2.DROPPED), 2: _seg(2, state=meta_pb2.DROPPED)}
    live = [_seg(30), _seg(5)]
    shown = visible_segments(live, [_task(7, [1, 2, 3], 30, state=INDEXING)], dropped)
    assert [(s.segment_id, s.state) for s in shown] == [(1, meta_pb2.FLUSHED), (2, meta_pb2.FLUSHED),
                                                        (5, meta_pb2.FLUSHED)]
    assert dropped[1].state == meta_pb2.DROPPED  # a copy is shown
    assert [s.segment_id for s in visible_segments(live, [_task(7, [1, 2], 30, state=COMPLETED)], dropped)] == [5, 30]


# ------------------------------------------------------------------------------------ next step
def test_next_step_of_each_state() -> None:
    segments = {1: _seg(1), 2: _seg(2), 30: _seg(30)}
    never: set[int] = set()
    yes, no = (lambda s: True), (lambda s: False)
    assert next_step(_task(1, [1, 2], 30), segments, never, yes, 0) == (Step.WAIT, "")
    step, reason = next_step(_task(1, [1, 2], 30), segments, {1}, yes, 0)
    assert step is Step.FAIL and "partition 1" in reason

    indexing = _task(1, [1, 2], 30, state=INDEXING, target_rows=20)
    assert next_step(indexing, segments, never, no, 0) == (Step.WAIT, "")
    assert next_step(indexing, segments, never, yes, 0) == (Step.COMPLETE, "")
    step, reason = next_step(indexing, {1: _seg(1), 2: _seg(2)}, never, yes, 0)
    assert step is Step.FAIL and "target segment 30" in reason
    empty = _task(1, [1, 2], 30, state=INDEXING, target_rows=0)  # every row purged: nothing to index
    assert next_step(empty, {}, never, no, 0) == (Step.COMPLETE, "")

    done = _task(1, [1, 2], 30, state=COMPLETED)
    assert next_step(done, segments, never, yes, GC_DELAY_S - 1) == (Step.WAIT, "")
    assert next_step(done, segments, never, yes, GC_DELAY_S) == (Step.REMOVE_SOURCES, "")
    done.sources_removed = True
    assert next_step(done, segments, never, yes, GC_DELAY_S) == (Step.WAIT, "")
    assert next_step(done, segments, never, yes, RECORD_RETENTION_S) == (Step.FORGET, "")
    failed = _task(1, [1, 2], 30, state=FAILED)
    assert next_step(failed, segments, never, yes, RECORD_RETENTION_S - 1) == (Step.WAIT, "")
    assert next_step(failed, segments, never, yes, RECORD_RETENTION_S) == (Step.FORGET, "")


# ------------------------------------------------------------------------------ size seals
def _growing(channel: str, segment_id: int, rows: int) -> datacoord_pb2.GrowingSegmentReport:
    return datacoord_pb2.GrowingSegmentReport(channel=channel, segment_id=segment_id, partition_id=1, num_rows=rows)


def test_a_full_segment_is_sealed_once_and_forgotten_once_closed() -> None:
    reports = [_growing("a", 1, 100), _growing("a", 2, 99), _growing("b", 3, 250)]
    first = plan_size_seals(reports, ["a", "b"], 100, {})
    assert first.seals == {"a": [1], "b": [3]}
    assert first.requested == {"a": frozenset({1}), "b": frozenset({3})}
    # The next heartbeat still reports them growing (the seals are not applied yet): no repeat.
    again = plan_size_seals(reports + [_growing("a", 2, 100)], ["a", "b"], 100, first.requested)
    assert again.seals == {"a": [2]} and again.requested == {"a": frozenset({1, 2}), "b": frozenset({3})}
    # Applied: no longer growing, so forgotten; a new segment of the channel starts afresh.
    done = plan_size_seals([_growing("a", 4, 5)], ["a", "b"], 100, again.requested)
    assert done.seals == {} and done.requested == {"a": frozenset(), "b": frozenset()}


def test_size_seals_only_for_the_reported_channels_and_a_positive_size() -> None:
    reports = [_growing("a", 1, 500), _growing("other", 2, 500)]
    plan = plan_size_seals(reports, ["a"], 100, {"other": frozenset({9})})
    assert plan.seals == {"a": [1]} and set(plan.requested) == {"a"}  # "other" is not this node's
    assert plan_size_seals(reports, ["a"], 0, {}).seals == {}  # 0: no size-based seals
    assert plan_size_seals([], ["a"], 100, {"a": frozenset({1})}).requested == {"a": frozenset()}
