"""DataCoord: channel watches, flush results, flush state, recovery info, indexes and their
build tasks, DropCollection, and a restart from the KV.

Real components in one process: MemoryKV, LocalStorage under tmp_path, a BrokerServer, and
rootcoord, datacoord (and, where needed, datanode) RoleServers talking gRPC. Datanodes and
indexnodes are played by hand (a session plus the RPCs they send) where the test needs control.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.config import load_config
from common.errors import (
    ChannelNotFound,
    CollectionNotFound,
    FieldNotFound,
    IndexDuplicate,
    IndexNotFound,
    IndexNotSupported,
    MetricNotFound,
    MilvusError,
    ParameterInvalid,
)
from common.fielddata import field_data_from_column, ids_to_proto
from common.kv.memory import MemoryKV
from common.mq.client import BrokerClient
from common.mq.server import BrokerServer
from common.runtime import RoleContext, RoleServer, allocate_node_id
from common.schema_proto import schema_from_proto
from common.session import Session
from common.storage.local import LocalStorage
from common.storage.segment_file import read_segment_file
from common.types import DataType
from proto.internal import datacoord_pb2, dml_pb2, meta_pb2
from proto.milvus import common_pb2, milvus_pb2, schema_pb2

DIM = 8
IndexState = common_pb2.IndexState


# ---------------------------------------------------------------------------------------------
# An in-process data cluster (the same helper is in test_datanode.py and test_indexnode.py).
class DataCluster:
    def __init__(self, tmp_path: Path, **overrides: dict[str, Any]) -> None:
        sections: dict[str, dict[str, Any]] = {
            "common": {"heartbeat_interval_s": 0.05, "data_dir": str(tmp_path)},
            "storage": {"local_dir": str(tmp_path / "storage")},
        }
        for section, values in overrides.items():
            sections.setdefault(section, {}).update(values)
        self.config = load_config(environ={}).with_overrides(sections)
        self.kv = MemoryKV("by-dev")
        self.broker_server = BrokerServer(tmp_path / "broker")
        endpoint = self.broker_server.start()
        self.broker_session = Session(self.kv, "broker", 1, endpoint, ttl_s=10)
        self.broker_session.register()
        self.broker = BrokerClient(endpoint)
        self.storage = LocalStorage(tmp_path / "storage")
        self.servers: list[RoleServer] = []
        self.rootcoord = self.start("rootcoord")
        self.datacoord = self.start("datacoord")
        self.ctx = RoleContext(self.config, self.kv, allocate_node_id(self.kv))

    def start(self, role: str) -> RoleServer:
        from coordinators.datacoord.server import create_server as datacoord
        from coordinators.rootcoord.server import create_server as rootcoord
        from nodes.datanode.server import create_server as datanode
        from nodes.indexnode.server import create_server as indexnode

        factory = {"rootcoord": rootcoord, "datacoord": datacoord, "datanode": datanode, "indexnode": indexnode}[role]
        server = factory(RoleContext(self.config, self.kv, allocate_node_id(self.kv)))
        server.start()
        self.servers.append(server)
        return server

    def stop(self, server: RoleServer) -> None:
        server.stop()
        self.servers.remove(server)

    def close(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.ctx.close()
        self.broker.close()
        self.broker_session.stop()
        self.broker_server.stop()

    def call(self, role: str, method: str, request: Any) -> Any:
        return self.ctx.client(role).call(method, request)

    # -- data helpers ------------------------------------------------------------------------
    def create_collection(self, name: str = "c1", shards: int = 1, dim: int = DIM) -> meta_pb2.CollectionInfo:
        schema = schema_pb2.CollectionSchema(name=name, enable_dynamic_field=True)
        schema.fields.add(name="id", data_type=schema_pb2.Int64, is_primary_key=True)
        tag = schema.fields.add(name="tag", data_type=schema_pb2.VarChar)
        tag.type_params.add(key="max_length", value="32")
        vec = schema.fields.add(name="vec", data_type=schema_pb2.FloatVector)
        vec.type_params.add(key="dim", value=str(dim))
        return self.rootcoord.logic.create_collection(milvus_pb2.CreateCollectionRequest(
            collection_name=name, schema=schema.SerializeToString(), shards_num=shards))

    def insert(self, info: meta_pb2.CollectionInfo, ids: np.ndarray, *, shard: int = 0, partition_id: int = 0,
               segment_id: int = 0) -> int:
        """Publish one InsertMsg; returns its offset."""
        schema = schema_from_proto(info.schema)
        ids = np.asarray(ids, dtype=np.int64)
        rng = np.random.default_rng(int(ids[0]) if len(ids) else 0)
        columns = {"id": ids, "tag": np.array([f"t{i}" for i in ids], dtype=object),
                   "vec": rng.random((len(ids), schema.field("vec").dim), dtype=np.float32)}
        msg = dml_pb2.InsertMsg(collection_id=info.collection_id, partition_id=partition_id or info.partitions[0].partition_id,
                                segment_id=segment_id or self.rootcoord.logic.alloc_id(),
                                timestamp=self.rootcoord.logic.alloc_timestamp(), num_rows=len(ids))
        for name, column in columns.items():
            msg.fields_data.append(field_data_from_column(schema.field(name), column))
        return self.broker.produce(info.channels[shard], [(msg.timestamp, dml_pb2.DmlMsg(insert=msg).SerializeToString())])

    def delete(self, info: meta_pb2.CollectionInfo, ids: np.ndarray, shard: int = 0) -> int:
        msg = dml_pb2.DeleteMsg(collection_id=info.collection_id, primary_keys=ids_to_proto(ids, DataType.INT64),
                                timestamp=self.rootcoord.logic.alloc_timestamp())
        return self.broker.produce(info.channels[shard], [(msg.timestamp, dml_pb2.DmlMsg(delete=msg).SerializeToString())])

    def seal(self, info: meta_pb2.CollectionInfo, segment_ids: list[int], shard: int = 0) -> int:
        ts = self.rootcoord.logic.alloc_timestamp()
        msg = dml_pb2.SealMsg(collection_id=info.collection_id, segment_ids=segment_ids, timestamp=ts)
        return self.broker.produce(info.channels[shard], [(ts, dml_pb2.DmlMsg(seal=msg).SerializeToString())])

    def flush(self, info: meta_pb2.CollectionInfo, timeout_s: float = 20.0) -> int:
        """Flush through datacoord and wait for GetFlushState; returns flush_ts."""
        flush_ts = self.call("datacoord", "Flush", datacoord_pb2.FlushRequest(collection=info)).flush_ts
        wait_for(lambda: self.call("datacoord", "GetFlushState", datacoord_pb2.GetFlushStateRequest(
            collection_id=info.collection_id, flush_ts=flush_ts)).flushed, timeout_s)
        return flush_ts

    def recovery(self, info: meta_pb2.CollectionInfo) -> datacoord_pb2.RecoveryInfo:
        return self.call("datacoord", "GetRecoveryInfo", datacoord_pb2.CollectionRequest(collection_id=info.collection_id))

    def flushed_rows(self, info: meta_pb2.CollectionInfo) -> dict[str, np.ndarray]:
        """Every row of every flushed segment, concatenated."""
        schema = schema_from_proto(info.schema)
        parts = [read_segment_file(self.storage.get(s.segment.insert_log), schema)
                 for s in self.recovery(info).segments]
        if not parts:
            return {"id": np.empty(0, dtype=np.int64)}
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def wait_for(predicate: Callable[[], Any], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


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
    resp = cluster.call("datacoord", "DataNodeHeartbeat", datacoord_pb2.DataNodeHeartbeatRequest(node_id=node_id))
    return [w.channel for w in resp.channels]


# ---------------------------------------------------------------------------------------------
def test_channels_are_spread_over_datanodes_and_move_when_one_goes(cluster: DataCluster) -> None:
    a, b = _fake_datanode(cluster, 9001), _fake_datanode(cluster, 9002)
    info = cluster.create_collection(shards=3)
    wait_for(lambda: len(_heartbeat(cluster, 9001)) + len(_heartbeat(cluster, 9002)) == 3)  # learnt from rootcoord
    assert sorted(len(_heartbeat(cluster, n)) for n in (9001, 9002)) == [1, 2]
    resp = cluster.call("datacoord", "DataNodeHeartbeat", datacoord_pb2.DataNodeHeartbeatRequest(node_id=9001))
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


def test_save_flush_result_is_fenced_idempotent_and_drives_flush_state(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    node = _fake_datanode(cluster, 9001)
    cluster.call("datacoord", "GetStatistics", datacoord_pb2.CollectionRequest(collection=info))  # learn it now
    wait_for(lambda: _heartbeat(cluster, 9001) == [info.channels[0]])
    flush_ts = cluster.call("datacoord", "Flush", datacoord_pb2.FlushRequest(collection=info)).flush_ts
    seal = cluster.broker.fetch(info.channels[0], 0, 10)
    assert len(seal) == 1 and dml_pb2.DmlMsg.FromString(seal[0].payload).seal.timestamp == flush_ts == seal[0].ts
    state = datacoord_pb2.GetFlushStateRequest(collection_id=info.collection_id, flush_ts=flush_ts)
    assert not cluster.call("datacoord", "GetFlushState", state).flushed

    request = _flush_result(info, 9001, 77, 40, seal_offset=5, flush_ts=flush_ts)
    request.delta_logs.add(path="delta_log/x/5.parquet", num_rows=2, max_ts=flush_ts)
    with pytest.raises(ChannelNotFound):  # only the channel's datanode may move its checkpoint
        cluster.call("datacoord", "SaveFlushResult", _flush_result(info, 9999, 77, 40, 5, flush_ts))
    for _ in range(2):  # a replayed request changes nothing
        cluster.call("datacoord", "SaveFlushResult", request)
    rec = cluster.recovery(info)
    assert [s.segment.segment_id for s in rec.segments] == [77] and rec.segments[0].segment.state == meta_pb2.FLUSHED
    assert len(rec.delta_logs) == 1 and rec.checkpoints[0].offset == 6
    assert [(r.segment_id, r.start_offset, r.seal_offset) for r in rec.segment_ranges] == [(77, 4, 5)]
    assert cluster.call("datacoord", "GetFlushState", state).flushed
    stats = cluster.call("datacoord", "GetStatistics", datacoord_pb2.CollectionRequest(collection_id=info.collection_id))
    assert stats.row_count == 40
    # An older result never moves the checkpoint back.
    cluster.call("datacoord", "SaveFlushResult", _flush_result(info, 9001, 78, 5, seal_offset=2))
    assert cluster.recovery(info).checkpoints[0].offset == 6
    watch = cluster.call("datacoord", "DataNodeHeartbeat", datacoord_pb2.DataNodeHeartbeatRequest(node_id=9001)).channels[0]
    assert watch.flushed_offset == 6 and list(watch.flushed_segment_ids) == [77, 78]
    assert list(watch.flushed_ranges) == []  # both spans end below the checkpoint: no replay needs them
    assert cluster.call("datacoord", "Flush", datacoord_pb2.FlushRequest(collection=info)).segment_ids == [77, 78]

    # Everything is rebuilt from the KV by a new datacoord.
    cluster.stop(cluster.datacoord)
    cluster.datacoord = cluster.start("datacoord")
    rec2 = cluster.recovery(info)
    assert [s.segment.segment_id for s in rec2.segments] == [77, 78] and rec2.checkpoints[0].offset == 6
    assert cluster.call("datacoord", "GetFlushState", state).flushed
    node.stop()


def test_create_index_validates_and_persists_nothing_on_error(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    bad = [
        (_index(info, nlist=0), ParameterInvalid, "nlist"),
        (_index(info, index_type="NOPE"), IndexNotSupported, "invalid index type"),
        (_index(info, metric="HAMMING"), MetricNotFound, "metric type"),
        (_index(info, index_type="HNSW", M=1), ParameterInvalid, "M"),
        (_index(info, field="missing"), FieldNotFound, "missing"),
        (_index(info, field="tag"), IndexNotSupported, "scalar"),
    ]
    for request, error, text in bad:
        # Compared by code: over the wire a code maps back to the first error class with it.
        with pytest.raises(MilvusError, match=text) as exc:
            cluster.call("datacoord", "CreateIndex", request)
        assert exc.value.code == error.code
    assert cluster.kv.get_prefix("meta/index/") == [] and cluster.kv.get_prefix("meta/segment_index/") == []
    with pytest.raises(IndexNotFound) as exc:
        cluster.call("datacoord", "DescribeIndex", datacoord_pb2.DescribeIndexRequest(collection_id=info.collection_id))
    assert exc.value.code == 700

    cluster.call("datacoord", "CreateIndex", _index(info, nlist="16"))
    cluster.call("datacoord", "CreateIndex", _index(info, nlist=16))  # the same again: success
    with pytest.raises(IndexDuplicate):
        cluster.call("datacoord", "CreateIndex", _index(info, nlist=32))
    with pytest.raises(IndexDuplicate):
        cluster.call("datacoord", "CreateIndex", _index(info, name="other", nlist=16))
    indexes = cluster.kv.get_prefix(f"meta/index/{info.collection_id}/")
    assert len(indexes) == 1
    stored = meta_pb2.IndexInfo.FromString(indexes[0][1])
    assert (stored.index_name, stored.index_type, stored.metric_type) == ("vec", "IVF_FLAT", "L2")
    assert json.loads(stored.params_json) == {"nlist": 16} and stored.index_id > 0 and stored.create_ts > 0
    progress = cluster.call("datacoord", "DescribeIndex", datacoord_pb2.DescribeIndexRequest(
        collection_id=info.collection_id, index_name="vec")).indexes
    assert len(progress) == 1 and progress[0].state == IndexState.Finished and progress[0].total_rows == 0
    for name in ("nope", ""):
        request = datacoord_pb2.DescribeIndexRequest(collection_id=info.collection_id, index_name=name,
                                                     field_name="" if name else "tag")
        with pytest.raises(IndexNotFound):
            cluster.call("datacoord", "DescribeIndex", request)


def test_index_tasks_progress_fail_and_drop(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    node = _fake_datanode(cluster, 9001)
    cluster.call("datacoord", "CreateIndex", _index(info, index_type="HNSW", metric="COSINE"))
    wait_for(lambda: _heartbeat(cluster, 9001))
    cluster.call("datacoord", "SaveFlushResult", _flush_result(info, 9001, 50, 30, seal_offset=1))
    cluster.call("datacoord", "SaveFlushResult", _flush_result(info, 9001, 51, 10, seal_offset=3))
    describe = datacoord_pb2.DescribeIndexRequest(collection_id=info.collection_id, field_name="vec")
    progress = cluster.call("datacoord", "DescribeIndex", describe).indexes[0]
    assert (progress.state, progress.indexed_rows, progress.total_rows) == (IndexState.InProgress, 0, 40)

    builder = Session(cluster.kv, "indexnode", 8001, "127.0.0.1:1", ttl_s=10)
    builder.register()
    acquire = datacoord_pb2.AcquireIndexTaskRequest(node_id=8001)
    t1 = cluster.call("datacoord", "AcquireIndexTask", acquire)
    t2 = cluster.call("datacoord", "AcquireIndexTask", acquire)
    assert t1.has_task and t2.has_task and not cluster.call("datacoord", "AcquireIndexTask", acquire).has_task
    assert {t1.segment.segment_id, t2.segment.segment_id} == {50, 51}
    assert t1.index.index_type == "HNSW" and t1.collection.collection_id == info.collection_id
    cluster.storage.put(f"index_files/{t1.build_id}/index", b"x")
    cluster.call("datacoord", "ReportIndexTask", datacoord_pb2.ReportIndexTaskRequest(
        node_id=8001, build_id=t1.build_id, state=IndexState.Finished, index_path=f"index_files/{t1.build_id}/index"))
    progress = cluster.call("datacoord", "DescribeIndex", describe).indexes[0]
    assert progress.indexed_rows == t1.segment.num_rows and progress.state == IndexState.InProgress
    rec = cluster.recovery(info)
    finished = {s.segment.segment_id: [i.build_id for i in s.indexes] for s in rec.segments}
    assert finished[t1.segment.segment_id] == [t1.build_id] and finished[t2.segment.segment_id] == []

    # The builder's session goes: its task is handed out again.
    builder.stop()
    wait_for(lambda: cluster.call("datacoord", "AcquireIndexTask", acquire).has_task)
    # A build that keeps failing is retried, then reported Failed with its reason.
    for attempt in range(3):
        if attempt:
            task = cluster.call("datacoord", "AcquireIndexTask", acquire)
            assert task.build_id == t2.build_id
        cluster.call("datacoord", "ReportIndexTask", datacoord_pb2.ReportIndexTaskRequest(
            node_id=8001, build_id=t2.build_id, state=IndexState.Failed, fail_reason="boom"))
    progress = cluster.call("datacoord", "DescribeIndex", describe).indexes[0]
    assert progress.state == IndexState.Failed and "boom" in progress.fail_reason

    cluster.call("datacoord", "DropIndex", datacoord_pb2.DropIndexRequest(collection_id=info.collection_id,
                                                                          index_name="vec"))
    assert cluster.kv.get_prefix("meta/index/") == [] and cluster.kv.get_prefix("meta/segment_index/") == []
    assert cluster.storage.list("index_files/") == []
    cluster.call("datacoord", "DropIndex", datacoord_pb2.DropIndexRequest(collection_id=info.collection_id,
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
    cluster.call("datacoord", "CreateIndex", _index(info, index_type="FLAT"))
    builds = cluster.kv.get_prefix(f"meta/segment_index/{info.collection_id}/")
    assert builds
    build_id = meta_pb2.SegmentIndexInfo.FromString(builds[0][1]).build_id
    cluster.storage.put(f"index_files/{build_id}/index", b"x")
    assert cluster.storage.list(f"insert_log/{info.collection_id}/") and cluster.storage.list(f"delta_log/{info.collection_id}/")

    cluster.call("datacoord", "DropCollection", datacoord_pb2.CollectionRequest(collection_id=info.collection_id))
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
        cluster.call("datacoord", "GetFlushState", datacoord_pb2.GetFlushStateRequest(collection_id=cid, flush_ts=1))
    with pytest.raises(CollectionNotFound):  # a late request carrying the collection does not revive it
        cluster.call("datacoord", "Flush", datacoord_pb2.FlushRequest(collection=info))
    cluster.call("datacoord", "DropCollection", datacoord_pb2.CollectionRequest(collection_id=cid))  # idempotent
    # A datanode that flushed just after the drop: refused, and its file is removed.
    late = _flush_result(info, 1, 999, 5, seal_offset=9)
    cluster.storage.put(late.segments[0].insert_log, b"rows")
    with pytest.raises(CollectionNotFound):
        cluster.call("datacoord", "SaveFlushResult", late)
    assert cluster.storage.list(f"insert_log/{cid}/") == []
    # The other collection is untouched.
    assert len(cluster.recovery(other).segments) == 1
    assert cluster.storage.list(f"insert_log/{other.collection_id}/")


def test_a_collection_dropped_in_rootcoord_is_forgotten(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    node = _fake_datanode(cluster, 9001)
    wait_for(lambda: _heartbeat(cluster, 9001) == [info.channels[0]])
    cluster.rootcoord.logic.drop_collection(info.name)
    wait_for(lambda: cluster.kv.get(f"meta/dc/dropped/{info.collection_id}") is not None)
    assert _heartbeat(cluster, 9001) == []
    # The collection record is deleted last, once the channels, files and records are gone.
    wait_for(lambda: cluster.kv.get(f"meta/dc/collection/{info.collection_id}") is None)
    assert cluster.kv.get(f"meta/channel_watch/{info.channels[0]}") is None
    node.stop()
