"""DataCoord: channel watches, flush results, flush state, recovery info, indexes and their
build tasks, DropCollection, and a restart from the KV.

Real components in one process: MemoryKV, LocalStorage under tmp_path, a BrokerServer, and
rootcoord, datacoord (and, where needed, datanode) RoleServers talking gRPC. Datanodes and
indexnodes are played by hand (a session plus the RPCs they send) where the test needs control.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.errors import (
    ChannelNotFound,
    CollectionNotFound,
    FieldNotFound,
    IndexDuplicate,
    IndexNotFound,
    IndexNotSupported,
    MilvusError,
    ParameterInvalid,
)
from common.session import Session
from proto.internal import datacoord_pb2, dml_pb2, meta_pb2
from proto.milvus import common_pb2, milvus_pb2
from tests.support.datacluster import DataCluster, wait_for

IndexState = common_pb2.IndexState


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[DataCluster]:
    c = DataCluster(tmp_path)
    yield c
    c.close()


def _index(info: meta_pb2.CollectionInfo, index_type: str = "IVF_FLAT", metric: str = "L2", field: str = "vec",
           name: str = "", **params: Any) -> datacoord_pb2.CreateIndexRequest:
    index = meta_pb2.IndexInfo(collection_id=info.collection_id, index_name=name, field_name=field,
                               index_type=index_type, metric_type=metric, params_json=json.dumps(params))
    index.user_params.add(key="index_type", value=index_type)
    return datacoord_pb2.CreateIndexRequest(collection=info, index=index)


def _flush_result(info: meta_pb2.CollectionInfo, node_id: int, seg_id: int, rows: int, seal_offset: int,
                  flush_ts: int = 0) -> datacoord_pb2.SaveFlushResultRequest:
    """A flush result as a datanode would send it (files are not needed by datacoord)."""
    seg = meta_pb2.SegmentInfo(segment_id=seg_id, collection_id=info.collection_id,
                               partition_id=info.partitions[0].partition_id, channel=info.channels[0], num_rows=rows,
                               insert_log=f"insert_log/{info.collection_id}/1/{seg_id}/{seg_id}.parquet",
                               start_offset=seal_offset - 1)
    return datacoord_pb2.SaveFlushResultRequest(
        node_id=node_id, channel=info.channels[0], collection_id=info.collection_id, segments=[seg],
        checkpoint=meta_pb2.ChannelCheckpoint(channel=info.channels[0], offset=seal_offset + 1, flush_ts=flush_ts),
        seal_offset=seal_offset)


def _fake_datanode(cluster: DataCluster, node_id: int) -> Session:
    session = Session(cluster.kv, "datanode", node_id, f"127.0.0.1:{node_id}", ttl_s=10)
    session.register()
    return session


def _heartbeat(cluster: DataCluster, node_id: int) -> list[str]:
    resp = cluster.ctx.datacoord.data_node_heartbeat(datacoord_pb2.DataNodeHeartbeatRequest(node_id=node_id))
    return [w.channel for w in resp.channels]


# ---------------------------------------------------------------------------------------------
def test_channels_are_spread_over_datanodes_and_move_when_one_goes(cluster: DataCluster) -> None:
    a, b = _fake_datanode(cluster, 9001), _fake_datanode(cluster, 9002)
    info = cluster.create_collection(shards=3)
    wait_for(lambda: len(_heartbeat(cluster, 9001)) + len(_heartbeat(cluster, 9002)) == 3)  # learnt from rootcoord
    assert sorted(len(_heartbeat(cluster, n)) for n in (9001, 9002)) == [1, 2]
    resp = cluster.ctx.datacoord.data_node_heartbeat(datacoord_pb2.DataNodeHeartbeatRequest(node_id=9001))
    assert resp.segment_max_rows == cluster.config.get("datacoord", "segment_max_rows")
    watch = resp.channels[0]
    assert watch.collection.collection_id == info.collection_id and watch.checkpoint.offset == 0
    a.stop()
    wait_for(lambda: len(_heartbeat(cluster, 9002)) == 3)
    assert _heartbeat(cluster, 9001) == []
    # The persisted assignment survives a datacoord restart.
    cluster.stop(cluster.datacoord)
    cluster.datacoord = cluster.start("datacoord")
    assert len(_heartbeat(cluster, 9002)) == 3
    b.stop()



def test_full_growing_segments_reported_by_their_datanode_are_sealed_once(tmp_path: Path) -> None:
    c = DataCluster(tmp_path, datacoord={"segment_max_rows": 100})
    try:
        info = c.create_collection()
        channel = info.channels[0]
        node = _fake_datanode(c, 9001)
        stranger = _fake_datanode(c, 9002)
        c.ctx.datacoord.get_statistics(datacoord_pb2.CollectionRequest(collection=info))  # learn it now
        wait_for(lambda: _heartbeat(c, 9001) == [channel])

        def report(node_id: int, rows: int) -> list[dml_pb2.SealMsg]:
            c.ctx.datacoord.data_node_heartbeat(datacoord_pb2.DataNodeHeartbeatRequest(
                node_id=node_id, channels=[channel],
                growing=[datacoord_pb2.GrowingSegmentReport(channel=channel, segment_id=77, partition_id=1,
                                                            num_rows=rows)]))
            msgs = [dml_pb2.DmlMsg.FromString(r.payload) for r in c.broker.fetch(channel, 0, 100)]
            return [m.seal for m in msgs if m.WhichOneof("body") == "seal"]

        assert report(9001, 99) == []                      # not full yet
        assert report(9002, 100) == []                     # not the channel's datanode
        seals = report(9001, 100)                          # full: sealed by a SealMsg naming it
        assert [(s.collection_id, list(s.segment_ids)) for s in seals] == [(info.collection_id, [77])]
        assert seals[0].timestamp > 0
        assert len(report(9001, 120)) == 1                 # still growing (seal not applied): once
        node.stop()
        stranger.stop()
    finally:
        c.close()

def test_save_flush_result_is_fenced_idempotent_and_drives_flush_state(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    node = _fake_datanode(cluster, 9001)
    cluster.ctx.datacoord.get_statistics(datacoord_pb2.CollectionRequest(collection=info))  # learn it now
    wait_for(lambda: _heartbeat(cluster, 9001) == [info.channels[0]])
    flush_ts = cluster.ctx.datacoord.flush(datacoord_pb2.FlushRequest(collection=info)).flush_ts
    seal = cluster.broker.fetch(info.channels[0], 0, 10)
    assert len(seal) == 1 and dml_pb2.DmlMsg.FromString(seal[0].payload).seal.timestamp == flush_ts == seal[0].ts
    state = datacoord_pb2.GetFlushStateRequest(collection_id=info.collection_id, flush_ts=flush_ts)
    assert not cluster.ctx.datacoord.get_flush_state(state).flushed

    request = _flush_result(info, 9001, 77, 40, seal_offset=5, flush_ts=flush_ts)
    request.delta_logs.add(path="delta_log/x/5.parquet", num_rows=2, max_ts=flush_ts)
    with pytest.raises(ChannelNotFound):  # only the channel's datanode may move its checkpoint
        cluster.ctx.datacoord.save_flush_result(_flush_result(info, 9999, 77, 40, 5, flush_ts))
    for _ in range(2):  # a replayed request changes nothing
        cluster.ctx.datacoord.save_flush_result(request)
    rec = cluster.recovery(info)
    assert [s.segment.segment_id for s in rec.segments] == [77] and rec.segments[0].segment.state == meta_pb2.FLUSHED
    assert len(rec.delta_logs) == 1 and rec.checkpoints[0].offset == 6
    assert [(r.segment_id, r.start_offset, r.seal_offset) for r in rec.segment_ranges] == [(77, 4, 5)]
    assert cluster.ctx.datacoord.get_flush_state(state).flushed
    stats = cluster.ctx.datacoord.get_statistics(datacoord_pb2.CollectionRequest(collection_id=info.collection_id))
    assert stats.row_count == 40
    # An older result never moves the checkpoint back.
    cluster.ctx.datacoord.save_flush_result(_flush_result(info, 9001, 78, 5, seal_offset=2))
    assert cluster.recovery(info).checkpoints[0].offset == 6
    watch = cluster.ctx.datacoord.data_node_heartbeat(datacoord_pb2.DataNodeHeartbeatRequest(node_id=9001)).channels[0]
    assert watch.flushed_offset == 6 and list(watch.flushed_segment_ids) == [77, 78]
    assert list(watch.flushed_ranges) == []  # both spans end below the checkpoint: no replay needs them
    assert cluster.ctx.datacoord.flush(datacoord_pb2.FlushRequest(collection=info)).segment_ids == [77, 78]

    # Everything is rebuilt from the KV by a new datacoord.
    cluster.stop(cluster.datacoord)
    cluster.datacoord = cluster.start("datacoord")
    rec2 = cluster.recovery(info)
    assert [s.segment.segment_id for s in rec2.segments] == [77, 78] and rec2.checkpoints[0].offset == 6
    assert cluster.ctx.datacoord.get_flush_state(state).flushed
    node.stop()


def test_create_index_validates_and_persists_nothing_on_error(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    bad = [
        (_index(info, nlist=0), ParameterInvalid, "nlist"),
        (_index(info, index_type="NOPE"), ParameterInvalid, "invalid index type"),
        (_index(info, metric="HAMMING"), ParameterInvalid, "does not support metric type: HAMMING"),
        (_index(info, index_type="HNSW", M=1), ParameterInvalid, "M"),
        (_index(info, field="missing"), FieldNotFound, "missing"),
        (_index(info, field="tag"), IndexNotSupported, "scalar"),
    ]
    for request, error, text in bad:
        # Compared by code: over the wire a code maps back to the first error class with it.
        with pytest.raises(MilvusError, match=text) as exc:
            cluster.ctx.datacoord.create_index(request)
        assert exc.value.code == error.code
    assert cluster.kv.get_prefix("meta/index/") == [] and cluster.kv.get_prefix("meta/segment_index/") == []
    with pytest.raises(IndexNotFound) as exc:
        cluster.ctx.datacoord.describe_index(datacoord_pb2.DescribeIndexRequest(collection_id=info.collection_id))
    assert exc.value.code == 700

    cluster.ctx.datacoord.create_index(_index(info, nlist="16"))
    cluster.ctx.datacoord.create_index(_index(info, nlist=16))  # the same again: success
    with pytest.raises(IndexDuplicate):
        cluster.ctx.datacoord.create_index(_index(info, nlist=32))
    with pytest.raises(IndexDuplicate):
        cluster.ctx.datacoord.create_index(_index(info, name="other", nlist=16))
    indexes = cluster.kv.get_prefix(f"meta/index/{info.collection_id}/")
    assert len(indexes) == 1
    stored = meta_pb2.IndexInfo.FromString(indexes[0][1])
    assert (stored.index_name, stored.index_type, stored.metric_type) == ("vec", "IVF_FLAT", "L2")
    assert json.loads(stored.params_json) == {"nlist": 16} and stored.index_id > 0 and stored.create_ts > 0
    progress = cluster.ctx.datacoord.describe_index(datacoord_pb2.DescribeIndexRequest(
        collection_id=info.collection_id, index_name="vec")).indexes
    assert len(progress) == 1 and progress[0].state == IndexState.Finished and progress[0].total_rows == 0
    for name in ("nope", ""):
        request = datacoord_pb2.DescribeIndexRequest(collection_id=info.collection_id, index_name=name,
                                                     field_name="" if name else "tag")
        with pytest.raises(IndexNotFound):
            cluster.ctx.datacoord.describe_index(request)


def test_index_tasks_progress_fail_and_drop(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    node = _fake_datanode(cluster, 9001)
    cluster.ctx.datacoord.create_index(_index(info, index_type="HNSW", metric="COSINE"))
    wait_for(lambda: _heartbeat(cluster, 9001))
    cluster.ctx.datacoord.save_flush_result(_flush_result(info, 9001, 50, 30, seal_offset=1))
    cluster.ctx.datacoord.save_flush_result(_flush_result(info, 9001, 51, 10, seal_offset=3))
    describe = datacoord_pb2.DescribeIndexRequest(collection_id=info.collection_id, field_name="vec")
    progress = cluster.ctx.datacoord.describe_index(describe).indexes[0]
    assert (progress.state, progress.indexed_rows, progress.total_rows) == (IndexState.InProgress, 0, 40)

    builder = Session(cluster.kv, "indexnode", 8001, "127.0.0.1:1", ttl_s=10)
    builder.register()
    acquire = datacoord_pb2.AcquireIndexTaskRequest(node_id=8001)
    t1 = cluster.ctx.datacoord.acquire_index_task(acquire)
    t2 = cluster.ctx.datacoord.acquire_index_task(acquire)
    assert t1.has_task and t2.has_task and not cluster.ctx.datacoord.acquire_index_task(acquire).has_task
    assert {t1.segment.segment_id, t2.segment.segment_id} == {50, 51}
    assert t1.index.index_type == "HNSW" and t1.collection.collection_id == info.collection_id
    cluster.storage.put(f"index_files/{t1.build_id}/index", b"x")
    cluster.ctx.datacoord.report_index_task(datacoord_pb2.ReportIndexTaskRequest(
        node_id=8001, build_id=t1.build_id, state=IndexState.Finished, index_path=f"index_files/{t1.build_id}/index"))
    progress = cluster.ctx.datacoord.describe_index(describe).indexes[0]
    assert progress.indexed_rows == t1.segment.num_rows and progress.state == IndexState.InProgress
    rec = cluster.recovery(info)
    finished = {s.segment.segment_id: [i.build_id for i in s.indexes] for s in rec.segments}
    assert finished[t1.segment.segment_id] == [t1.build_id] and finished[t2.segment.segment_id] == []

    # The builder's session goes: its task is handed out again.
    builder.stop()
    wait_for(lambda: cluster.ctx.datacoord.acquire_index_task(acquire).has_task)
    # A build that keeps failing is retried, then reported Failed with its reason.
    for attempt in range(3):
        if attempt:
            task = cluster.ctx.datacoord.acquire_index_task(acquire)
            assert task.build_id == t2.build_id
        cluster.ctx.datacoord.report_index_task(datacoord_pb2.ReportIndexTaskRequest(
            node_id=8001, build_id=t2.build_id, state=IndexState.Failed, fail_reason="boom"))
    progress = cluster.ctx.datacoord.describe_index(describe).indexes[0]
    assert progress.state == IndexState.Failed and "boom" in progress.fail_reason

    cluster.ctx.datacoord.drop_index(datacoord_pb2.DropIndexRequest(collection_id=info.collection_id,
                                                                          index_name="vec"))
    assert cluster.kv.get_prefix("meta/index/") == [] and cluster.kv.get_prefix("meta/segment_index/") == []
    assert cluster.storage.list("index_files/") == []
    cluster.ctx.datacoord.drop_index(datacoord_pb2.DropIndexRequest(collection_id=info.collection_id,
                                                                          index_name="vec"))  # no error
    node.stop()


def test_drop_collection_removes_metadata_objects_and_channels(cluster: DataCluster) -> None:
    info = cluster.create_collection(shards=2)
    other = cluster.create_collection("c2")
    cluster.start("datanode")
    for c in (info, other):
        cluster.insert(c, np.arange(20))
        cluster.delete(c, np.array([1]))
        cluster.flush(c)
    cluster.ctx.datacoord.create_index(_index(info, index_type="FLAT"))
    builds = cluster.kv.get_prefix(f"meta/segment_index/{info.collection_id}/")
    assert builds
    build_id = meta_pb2.SegmentIndexInfo.FromString(builds[0][1]).build_id
    cluster.storage.put(f"index_files/{build_id}/index", b"x")
    assert cluster.storage.list(f"insert_log/{info.collection_id}/")
    assert cluster.storage.list(f"delta_log/{info.collection_id}/")

    cluster.ctx.datacoord.drop_collection(datacoord_pb2.CollectionRequest(collection_id=info.collection_id))
    cid = info.collection_id
    for prefix in (f"meta/segment/{cid}/", f"meta/segment_range/{cid}/", f"meta/delta_log/{cid}/",
                   f"meta/index/{cid}/", f"meta/segment_index/{cid}/", f"meta/dc/collection/{cid}"):
        assert cluster.kv.get_prefix(prefix) == [], prefix
    for channel in info.channels:
        assert cluster.kv.get(f"meta/channel_cp/{channel}") is None
        assert cluster.kv.get(f"meta/channel_watch/{channel}") is None
        assert channel not in cluster.broker.list_channels()
    for prefix in (f"insert_log/{cid}/", f"delta_log/{cid}/", f"index_files/{build_id}/"):
        assert cluster.storage.list(prefix) == [], prefix
    with pytest.raises(CollectionNotFound):
        cluster.ctx.datacoord.get_flush_state(datacoord_pb2.GetFlushStateRequest(collection_id=cid, flush_ts=1))
    with pytest.raises(CollectionNotFound):  # a late request carrying the collection does not revive it
        cluster.ctx.datacoord.flush(datacoord_pb2.FlushRequest(collection=info))
    cluster.ctx.datacoord.drop_collection(datacoord_pb2.CollectionRequest(collection_id=cid))  # idempotent
    # A datanode that flushed just after the drop: refused, and its file is removed.
    late = _flush_result(info, 1, 999, 5, seal_offset=9)
    cluster.storage.put(late.segments[0].insert_log, b"rows")
    with pytest.raises(CollectionNotFound):
        cluster.ctx.datacoord.save_flush_result(late)
    assert cluster.storage.list(f"insert_log/{cid}/") == []
    # The other collection is untouched.
    assert len(cluster.recovery(other).segments) == 1
    assert cluster.storage.list(f"insert_log/{other.collection_id}/")


def test_a_collection_dropped_in_rootcoord_is_forgotten(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    node = _fake_datanode(cluster, 9001)
    wait_for(lambda: _heartbeat(cluster, 9001) == [info.channels[0]])
    cluster.ctx.rootcoord.drop_collection(milvus_pb2.DropCollectionRequest(collection_name=info.name))
    wait_for(lambda: cluster.kv.get(f"meta/dc/dropped/{info.collection_id}") is not None)
    assert _heartbeat(cluster, 9001) == []
    # The collection record is deleted last, once the channels, files and records are gone.
    wait_for(lambda: cluster.kv.get(f"meta/dc/collection/{info.collection_id}") is None)
    assert cluster.kv.get(f"meta/channel_watch/{info.channels[0]}") is None
    node.stop()
