"""Compaction: the planner (``plan_groups``), the merge (``merge_rows``), a querynode shard
switching from sources to a target, and the whole flow (flush, segment info, compaction under
concurrent reads) in a MiniCluster through the public MilvusService."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from common.errors import ParameterInvalid, SegmentNotFound
from common.schema_proto import schema_from_proto
from coordinators.datacoord import compaction
from coordinators.datacoord.compaction import MAX_SOURCES, plan_groups
from dataplane.delete_record import DeleteRecord
from dataplane.segment_file import write_segment_file
from nodes.datanode.compactor import merge_rows
from proto.internal import datacoord_pb2, meta_pb2
from proto.milvus import common_pb2, milvus_pb2
from tests.support.datacluster import DataCluster, wait_for
from tests.support.minicluster import WIRINGS, MiniCluster
from tests.unit.test_datacoord import _fake_datanode, _flush_result, _heartbeat, _index
from tests.support.mini_requests import DIM, count_rows, create_collection, insert, ok, search_ids
from tests.support.mini_requests import wait_until as mini_wait
from tests.unit.test_querynode import CID, PART, Cluster, make_collection, wait_until


def _seg(segment_id: int, rows: int, partition: int = 1, channel: str = "ch0", min_ts: int = 10,
         compact_ts: int = 0, size: int = 0) -> meta_pb2.SegmentInfo:
    return meta_pb2.SegmentInfo(segment_id=segment_id, partition_id=partition, channel=channel, num_rows=rows,
                                min_ts=min_ts, compact_ts=compact_ts, mem_size=size, state=meta_pb2.FLUSHED)


def _ids(groups: list[list[meta_pb2.SegmentInfo]]) -> list[list[int]]:
    return [[s.segment_id for s in group] for group in groups]


# ------------------------------------------------------------------------------------ planner
def test_plan_groups_merges_small_segments_per_partition_and_channel() -> None:
    segments = [_seg(1, 40), _seg(2, 30), _seg(3, 50), _seg(4, 20, partition=2), _seg(5, 10, partition=2),
                _seg(6, 10, channel="ch1")]
    # Bins of 100 rows, largest first: 50+40 | 30 (alone, nothing to purge: no plan) | 20+10.
    assert _ids(plan_groups(segments, 100, 0, {})) == [[1, 3], [4, 5]]
    # A bigger bin takes the whole partition; the lone segment of ch1 has no deletes to purge.
    assert _ids(plan_groups(segments, 1000, 0, {})) == [[1, 2, 3], [4, 5]]
    assert plan_groups([_seg(1, 10)], 1000, 0, {}) == []


def test_plan_groups_respects_size_and_source_limits() -> None:
    segments = [_seg(i, 1, size=100) for i in range(1, 5)]
    assert _ids(plan_groups(segments, 1000, 250, {})) == [[1, 2], [3, 4]]
    many = [_seg(i, 1) for i in range(1, MAX_SOURCES + 3)]
    groups = plan_groups(many, 10**6, 0, {})
    assert [len(g) for g in groups] == [MAX_SOURCES, 2]


def test_a_lone_segment_is_compacted_only_for_newer_deletes() -> None:
    seg = _seg(1, 100, min_ts=50)
    assert plan_groups([seg], 100, 0, {"ch0": 40}) == []  # older than every row: cannot hide one
    assert _ids(plan_groups([seg], 100, 0, {"ch0": 60})) == [[1]]
    assert _ids(plan_groups([seg], 100, 0, {"ch1": 60})) == []  # another channel's deletes
    purged = _seg(1, 100, min_ts=50, compact_ts=60)  # already purged up to 60
    assert plan_groups([purged], 100, 0, {"ch0": 60}) == []
    assert _ids(plan_groups([purged], 100, 0, {"ch0": 61})) == [[1]]


# -------------------------------------------------------------------------------------- merge
def _columns(ids: list[int], ts: int) -> dict[str, np.ndarray]:
    n = len(ids)
    meta = np.empty(n, dtype=object)
    meta[:] = [b"{}"] * n
    return {"id": np.array(ids, dtype=np.int64), "vec": np.full((n, 8), 0.5, dtype=np.float32),
            "age": np.array(ids, dtype=np.int64) * 2, "$meta": meta, "$ts": np.full(n, ts, dtype=np.uint64)}


def test_merge_rows_purges_deleted_rows_with_mvcc_and_partition_rules() -> None:
    schema = schema_from_proto(make_collection().schema)
    first, second = _columns([1, 2, 3, 4], ts=100), _columns([5, 6, 2], ts=200)  # 2 upserted at 200
    deletes = DeleteRecord()
    deletes.add(np.array([2]), 200)        # the upsert's delete: hides the row of ts 100 only
    deletes.add(np.array([3]), 150, 99)    # another partition's delete: hides nothing here
    deletes.add(np.array([5]), 150)        # older than row 5 (ts 200): hides nothing
    deletes.add(np.array([6]), 300, PART)  # this partition's delete of a newer row
    merged, purged = merge_rows([first, second], schema, deletes, PART)
    assert purged == 2
    assert merged["id"].tolist() == [1, 3, 4, 5, 2]
    assert merged["$ts"].tolist() == [100, 100, 100, 200, 200]
    assert merged["age"].tolist() == [2, 6, 8, 10, 4] and merged["vec"].shape == (5, 8)
    untouched, none = merge_rows([first], schema, DeleteRecord(), PART)
    assert none == 0 and untouched["id"].tolist() == [1, 2, 3, 4]
    with pytest.raises(ParameterInvalid):
        merge_rows([first, {k: v for k, v in second.items() if k != "age"}], schema, deletes, PART)


# ------------------------------------------------------------------------- querynode switch
def test_shard_switches_from_sources_to_target_in_one_step(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Sources A and B held sealed; the target T (from A and B, minus a deleted row) replaces
    both at once: a reader counting in a loop never sees A+B+T nor a partial set."""
    cluster = Cluster(tmp_path)
    try:
        info = make_collection()
        schema = schema_from_proto(info.schema)
        ch = info.channels[0]
        a, b = _columns(list(range(0, 10)), 100), _columns(list(range(10, 20)), 100)
        target = {k: np.concatenate([a[k], b[k]])[1:] for k in a}  # row 0 purged
        for name, cols in (("a", a), ("b", b), ("t", target)):
            cluster.storage.put(f"insert_log/{name}.parquet", write_segment_file(cols, schema))

        def seg(segment_id: int, name: str, rows: int, **extra) -> meta_pb2.SegmentInfo:  # type: ignore[no-untyped-def]
            return meta_pb2.SegmentInfo(segment_id=segment_id, collection_id=CID, partition_id=PART, channel=ch,
                                        num_rows=rows, state=meta_pb2.FLUSHED, insert_log=f"insert_log/{name}.parquet",
                                        **extra)

        before = datacoord_pb2.RecoveryInfo(checkpoints=[meta_pb2.ChannelCheckpoint(channel=ch, offset=0)])
        before.segments.add().segment.CopyFrom(seg(1, "a", 10))
        before.segments.add().segment.CopyFrom(seg(2, "b", 10))
        before.segment_ranges.add(segment_id=1, partition_id=PART, start_offset=0, seal_offset=1, channel=ch)
        before.segment_ranges.add(segment_id=2, partition_id=PART, start_offset=1, seal_offset=2, channel=ch)
        cluster.datacoord.set(CID, before)
        cluster.load(info)
        shard = cluster.leader(ch).logic.shard(ch)
        wait_until(lambda: shard.segment_ids() == ([1, 2], []))
        counts: list[int] = []
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                view = shard.read_view()
                counts.append(sum(s.num_rows for s in view.segments))

        reader = threading.Thread(target=read)
        reader.start()
        after = datacoord_pb2.RecoveryInfo(checkpoints=before.checkpoints)
        after.segments.add().segment.CopyFrom(seg(3, "t", 19, compaction_from=[1, 2]))
        for rng in before.segment_ranges:
            after.segment_ranges.add().CopyFrom(rng)
            after.segment_ranges[-1].compacted_to = 3
        cluster.datacoord.set(CID, after)
        wait_until(lambda: shard.segment_ids() == ([3], []))
        stop.set()
        reader.join()
        assert set(counts) <= {20, 19} and counts[-1] == 19
        held = cluster.leader(ch).logic.shard(ch).loaded_segments()
        assert [(s.segment_id, s.num_rows) for s in held] == [(3, 19)] and held[0].mem_size > 19 * 8 * 4
    finally:
        cluster.close()


# -------------------------------------------------------------------------------- whole flow
@pytest.fixture(params=WIRINGS)
def mini(tmp_path, request):  # type: ignore[no-untyped-def]
    cluster = MiniCluster(tmp_path, wiring=request.param).start()
    yield cluster
    cluster.stop()


def _persistent(stub, name: str) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    response = stub.GetPersistentSegmentInfo(milvus_pb2.GetPersistentSegmentInfoRequest(collectionName=name))
    ok(response.status)
    assert all(i.state == common_pb2.SegmentState.Flushed for i in response.infos)
    return [(i.segmentID, i.num_rows) for i in response.infos]


def _loaded(stub, name: str) -> list[int]:  # type: ignore[no-untyped-def]
    response = stub.GetQuerySegmentInfo(milvus_pb2.GetQuerySegmentInfoRequest(collectionName=name))
    ok(response.status)
    return [i.segmentID for i in response.infos]


def test_flush_segment_info_and_compaction_under_reads(mini: MiniCluster) -> None:
    stub = mini.milvus()
    create_collection(stub, "c1")
    rng = np.random.default_rng(3)
    vectors = rng.random((150, DIM), dtype=np.float32)
    sealed: list[int] = []
    for batch in range(3):
        ids = np.arange(batch * 50, batch * 50 + 50, dtype=np.int64)
        insert(stub, "c1", ids, vectors[ids])
        flush = stub.Flush(milvus_pb2.FlushRequest(collection_names=["c1"]))
        ok(flush.status)
        assert len(flush.coll_segIDs["c1"].data) == 1 and list(flush.flush_coll_segIDs["c1"].data) == sealed
        sealed += list(flush.coll_segIDs["c1"].data)
        flush_ts = flush.coll_flush_ts["c1"]
        mini_wait(lambda flush_ts=flush_ts: stub.GetFlushState(milvus_pb2.GetFlushStateRequest(
            collection_name="c1", flush_ts=flush_ts)).flushed)
    assert _persistent(stub, "c1") == [(s, 50) for s in sealed]
    mini_wait(lambda: _loaded(stub, "c1") == sealed)
    info = stub.GetQuerySegmentInfo(milvus_pb2.GetQuerySegmentInfoRequest(collectionName="c1")).infos[0]
    assert info.num_rows == 50 and list(info.nodeIds) and info.state == common_pb2.SegmentState.Sealed
    mini_wait(lambda: stub.GetQuerySegmentInfo(milvus_pb2.GetQuerySegmentInfoRequest(
        collectionName="c1")).infos[0].index_name == "v")

    ok(stub.Delete(milvus_pb2.DeleteRequest(collection_name="c1", expr="id in [0, 1, 60, 149]")).status)
    live = np.setdiff1d(np.arange(150), [0, 1, 60, 149])
    flush = stub.Flush(milvus_pb2.FlushRequest(collection_names=["c1"]))  # persists the deletes
    assert list(flush.coll_segIDs["c1"].data) == []
    mini_wait(lambda: stub.GetFlushState(milvus_pb2.GetFlushStateRequest(
        collection_name="c1", flush_ts=flush.coll_flush_ts["c1"])).flushed)

    errors: list[str] = []
    reads = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            reads.append(1)
            q = int(rng.integers(0, 150))
            exact = live[np.argsort(((vectors[live] - vectors[q]) ** 2).sum(1), kind="stable")[:5]]
            got = search_ids(stub, "c1", vectors[q], 5)
            if got != exact.tolist():
                errors.append(f"search {q}: {got} != {exact.tolist()}")
            if (n := count_rows(stub, "c1")) != len(live):
                errors.append(f"count {n}")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        response = stub.ManualCompaction(milvus_pb2.ManualCompactionRequest(collection_name="c1"))
        ok(response.status)
        assert response.compactionID > 0 and response.compactionPlanCount == 1
        mini_wait(lambda: stub.GetCompactionState(milvus_pb2.GetCompactionStateRequest(
            compactionID=response.compactionID)).state == common_pb2.CompactionState.Completed)
        plans = stub.GetCompactionStateWithPlans(milvus_pb2.GetCompactionPlansRequest(
            compactionID=response.compactionID))
        assert [sorted(m.sources) for m in plans.mergeInfos] == [sorted(sealed)]
        target = plans.mergeInfos[0].target
        assert _persistent(stub, "c1") == [(target, 146)]
        mini_wait(lambda: _loaded(stub, "c1") == [target])
    finally:
        stop.set()
        reader.join()
    assert not errors, errors[:5]
    assert len(reads) >= 5
    state = stub.GetCompactionState(milvus_pb2.GetCompactionStateRequest(compactionID=response.compactionID))
    assert (state.completedPlanNo, state.executingPlanNo, state.failedPlanNo) == (1, 0, 0)
    # Nothing left to compact: one segment and no newer delete.
    again = stub.ManualCompaction(milvus_pb2.ManualCompactionRequest(collection_name="c1"))
    assert (again.compactionID, again.compactionPlanCount) == (-1, 0)
    unknown = stub.GetCompactionState(milvus_pb2.GetCompactionStateRequest(compactionID=12345))
    assert unknown.state == common_pb2.CompactionState.Completed and unknown.completedPlanNo == 0


def test_segment_and_compaction_errors(mini: MiniCluster) -> None:
    stub = mini.milvus()
    for response in (
            stub.GetPersistentSegmentInfo(milvus_pb2.GetPersistentSegmentInfoRequest(collectionName="nope")),
            stub.GetQuerySegmentInfo(milvus_pb2.GetQuerySegmentInfoRequest(collectionName="nope")),
            stub.ManualCompaction(milvus_pb2.ManualCompactionRequest(collection_name="nope"))):
        assert response.status.code == 100
    create_collection(stub, "c1")
    ok(stub.ReleaseCollection(milvus_pb2.ReleaseCollectionRequest(collection_name="c1")))
    response = stub.GetQuerySegmentInfo(milvus_pb2.GetQuerySegmentInfoRequest(collectionName="c1"))
    assert response.status.code == 101
    response = stub.ManualCompaction(milvus_pb2.ManualCompactionRequest(collection_name="c1", majorCompaction=True))
    assert response.status.code == 1100 and "clustering" in response.status.reason
    response = stub.ManualCompaction(milvus_pb2.ManualCompactionRequest(collection_name="c1", segment_ids=[42]))
    assert response.status.code == 600
    response = stub.ManualCompaction(milvus_pb2.ManualCompactionRequest(collection_name="c1", channel="x"))
    assert response.status.code == 500


# -------------------------------------------------------------------------------- datacoord
def _build_all(cluster: DataCluster) -> list[int]:
    """Play an indexnode: finish every index task handed out; their segment ids."""
    built = []
    acquire = datacoord_pb2.AcquireIndexTaskRequest(node_id=8001)
    while (task := cluster.ctx.datacoord.acquire_index_task(acquire)).has_task:
        cluster.ctx.datacoord.report_index_task(datacoord_pb2.ReportIndexTaskRequest(
            node_id=8001, build_id=task.build_id, state=common_pb2.IndexState.Finished, index_path="index_files/x"))
        built.append(task.segment.segment_id)
    return built


def _plans(cluster: DataCluster, node_id: int) -> list[datacoord_pb2.CompactionPlan]:
    heartbeat = datacoord_pb2.DataNodeHeartbeatRequest(node_id=node_id)
    return list(cluster.ctx.datacoord.data_node_heartbeat(heartbeat).compactions)


def _states(cluster: DataCluster, compaction_id: int) -> list[int]:
    return [t.state for t in cluster.ctx.datacoord.get_compaction_state(datacoord_pb2.CompactionStateRequest(
        compaction_id=compaction_id)).tasks]


def test_datacoord_commits_a_plan_and_shows_the_target_once_indexed(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cluster = DataCluster(tmp_path)
    session = _fake_datanode(cluster, 9001)
    try:
        info = cluster.create_collection()
        cluster.ctx.datacoord.get_statistics(datacoord_pb2.CollectionRequest(collection=info))
        wait_for(lambda: _heartbeat(cluster, 9001) == [info.channels[0]])
        for seg_id, offset in ((77, 5), (78, 9)):
            request = _flush_result(info, 9001, seg_id, 40, seal_offset=offset)
            cluster.storage.put(request.segments[0].insert_log, b"source")
            cluster.ctx.datacoord.save_flush_result(request)
        cluster.ctx.datacoord.create_index(_index(info, "FLAT"))
        assert sorted(_build_all(cluster)) == [77, 78]
        request = datacoord_pb2.ManualCompactionRequest(collection=info)

        first = cluster.ctx.datacoord.manual_compaction(request)
        assert first.plan_count == 1 and _plans(cluster, 9002) == []  # only the channel's datanode runs it
        (plan,) = _plans(cluster, 9001)
        assert [s.segment_id for s in plan.sources] == [77, 78] and plan.target_id not in (77, 78)
        assert cluster.ctx.datacoord.manual_compaction(request).compaction_id == -1  # sources are busy
        cluster.ctx.datacoord.report_compaction(datacoord_pb2.ReportCompactionRequest(
            node_id=9001, plan_id=plan.plan_id, success=False, fail_reason="disk full"))
        assert _states(cluster, first.compaction_id) == [datacoord_pb2.COMPACTION_FAILED] and not _plans(cluster, 9001)

        second = cluster.ctx.datacoord.manual_compaction(request)
        (plan,) = _plans(cluster, 9001)
        path = f"insert_log/{info.collection_id}/1/{plan.target_id}/{plan.target_id}.parquet"
        cluster.storage.put(path, b"the target")
        report = datacoord_pb2.ReportCompactionRequest(node_id=9001, plan_id=plan.plan_id, success=True,
                                                       target=meta_pb2.SegmentInfo(num_rows=70, insert_log=path))
        cluster.ctx.datacoord.report_compaction(report)
        segments = cluster.ctx.datacoord.get_segment_info(datacoord_pb2.CollectionRequest(
            collection_id=info.collection_id)).segments
        assert [(s.segment_id, s.num_rows, list(s.compaction_from)) for s in segments] == [
            (plan.target_id, 70, [77, 78])]
        assert _states(cluster, second.compaction_id) == [datacoord_pb2.COMPACTION_INDEXING]
        hidden = cluster.recovery(info)  # readers keep the sources until the target is indexed
        assert [s.segment.segment_id for s in hidden.segments] == [77, 78]
        assert all(s.segment.state == meta_pb2.FLUSHED and s.indexes for s in hidden.segments)

        assert _build_all(cluster) == [plan.target_id]
        wait_for(lambda: _states(cluster, second.compaction_id) == [datacoord_pb2.COMPACTION_COMPLETED])
        shown = cluster.recovery(info)
        assert [s.segment.segment_id for s in shown.segments] == [plan.target_id]
        assert [(r.segment_id, r.compacted_to, r.channel) for r in shown.segment_ranges] == [
            (77, plan.target_id, info.channels[0]), (78, plan.target_id, info.channels[0])]
        cluster.ctx.datacoord.report_compaction(report)  # a late duplicate changes nothing
        assert cluster.storage.get(path) == b"the target"
        monkeypatch.setattr(compaction, "GC_DELAY_S", 0.0)  # the sources' files go after the delay
        wait_for(lambda: cluster.storage.list(f"insert_log/{info.collection_id}/") == [path])
        wait_for(lambda: cluster.ctx.datacoord.get_compaction_state(datacoord_pb2.CompactionStateRequest(
            compaction_id=second.compaction_id)).tasks[0].sources_removed)

        cluster.stop(cluster.datacoord)  # everything is in etcd
        cluster.datacoord = cluster.start("datacoord")
        assert _states(cluster, second.compaction_id) == [datacoord_pb2.COMPACTION_COMPLETED]
        assert [s.segment.segment_id for s in cluster.recovery(info).segments] == [plan.target_id]
        heartbeat = datacoord_pb2.DataNodeHeartbeatRequest(node_id=9001)
        watch = cluster.ctx.datacoord.data_node_heartbeat(heartbeat).channels[0]
        assert set(watch.flushed_segment_ids) == {77, 78, plan.target_id}  # a replay still skips the sources
        with pytest.raises(SegmentNotFound):
            cluster.ctx.datacoord.manual_compaction(datacoord_pb2.ManualCompactionRequest(
                collection=info, segment_ids=[77]))

        # Finished and failed plans' records go after the retention; segments and spans stay.
        monkeypatch.setattr(compaction, "RECORD_RETENTION_S", 0.0)
        wait_for(lambda: not _states(cluster, first.compaction_id) and not _states(cluster, second.compaction_id))
        assert cluster.kv.get_prefix("meta/compaction/") == []
        shown = cluster.recovery(info)
        assert [s.segment.segment_id for s in shown.segments] == [plan.target_id]
        assert [r.compacted_to for r in shown.segment_ranges] == [plan.target_id, plan.target_id]
    finally:
        session.stop()
        cluster.close()
