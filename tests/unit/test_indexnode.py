"""IndexNode: real HNSW / IVF_FLAT builds of flushed segments driven by datacoord's tasks, index
progress through DescribeIndex, failures, and reports of builds whose index was dropped.

Real components in one process: MemoryKV, LocalStorage under tmp_path, a BrokerServer, and
rootcoord, datacoord, datanode and indexnode RoleServers talking gRPC.
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
from common.fielddata import field_data_from_column, ids_to_proto
from common.index.faiss_index import load_index
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
# An in-process data cluster (the same helper is in test_datanode.py and test_datacoord.py).
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


def _create_index(cluster: DataCluster, info: meta_pb2.CollectionInfo, index_type: str, metric: str,
                  **params: Any) -> None:
    index = meta_pb2.IndexInfo(collection_id=info.collection_id, field_name="vec", index_type=index_type,
                               metric_type=metric, params_json=json.dumps(params))
    cluster.call("datacoord", "CreateIndex", datacoord_pb2.CreateIndexRequest(collection=info, index=index))


def _progress(cluster: DataCluster, info: meta_pb2.CollectionInfo) -> datacoord_pb2.IndexProgress:
    return cluster.call("datacoord", "DescribeIndex", datacoord_pb2.DescribeIndexRequest(
        collection_id=info.collection_id, index_name="vec")).indexes[0]


def _wait_state(cluster: DataCluster, info: meta_pb2.CollectionInfo, state: int) -> datacoord_pb2.IndexProgress:
    wait_for(lambda: _progress(cluster, info).state == state, 30)
    return _progress(cluster, info)


@pytest.mark.parametrize(("index_type", "metric", "params"), [
    ("HNSW", "L2", {"M": 8, "efConstruction": 40}),
    ("IVF_FLAT", "IP", {"nlist": 16}),
])
def test_indexnode_builds_every_flushed_segment(cluster: DataCluster, index_type: str, metric: str,
                                                params: dict[str, Any]) -> None:
    info = cluster.create_collection(dim=16)
    cluster.start("datanode")
    cluster.insert(info, np.arange(0, 1200))  # above the 1024 rows that get a real structure
    cluster.flush(info)
    _create_index(cluster, info, index_type, metric, **params)
    assert _progress(cluster, info).state == IndexState.InProgress
    node = cluster.start("indexnode")
    done = _wait_state(cluster, info, IndexState.Finished)
    assert (done.indexed_rows, done.total_rows) == (1200, 1200)
    assert done.index.index_type == index_type and done.index.metric_type == metric

    # A segment flushed later is indexed too.
    cluster.insert(info, np.arange(1200, 1300))
    cluster.flush(info)
    wait_for(lambda: _progress(cluster, info).total_rows == 1300)
    done = _wait_state(cluster, info, IndexState.Finished)
    assert done.indexed_rows == 1300 and node.logic.builds == 2

    rec = cluster.recovery(info)
    schema = schema_from_proto(info.schema)
    for item in rec.segments:
        (build,) = item.indexes
        assert build.state == IndexState.Finished and build.index_path == f"index_files/{build.build_id}/index"
        index = load_index(cluster.storage.get(build.index_path))
        assert index.index_type == index_type and index.num_rows == item.segment.num_rows
        vectors = read_segment_file(cluster.storage.get(item.segment.insert_log), schema, fields=["vec"])["vec"]
        _, ids = index.search(vectors[:5], 1, {"ef": 64} if index_type == "HNSW" else {"nprobe": 16})
        if metric == "L2":
            assert ids[:, 0].tolist() == [0, 1, 2, 3, 4]
        else:
            assert (ids[:, 0] >= 0).all()


def test_a_build_that_cannot_succeed_is_reported_failed(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    cluster.start("datanode")
    cluster.insert(info, np.arange(10))
    cluster.flush(info)
    (item,) = cluster.recovery(info).segments
    cluster.storage.put(item.segment.insert_log, b"not parquet")  # a corrupt segment file
    _create_index(cluster, info, "HNSW", "L2")
    cluster.start("indexnode")
    failed = _wait_state(cluster, info, IndexState.Failed)
    assert failed.fail_reason and failed.indexed_rows == 0
    assert cluster.storage.list("index_files/") == []


def test_indexnode_report_of_a_dropped_index_leaves_no_file(cluster: DataCluster) -> None:
    info = cluster.create_collection(dim=16)
    cluster.start("datanode")
    cluster.insert(info, np.arange(50))
    cluster.flush(info)
    _create_index(cluster, info, "FLAT", "L2")
    task = cluster.call("datacoord", "AcquireIndexTask", datacoord_pb2.AcquireIndexTaskRequest(node_id=1))
    assert task.has_task
    cluster.call("datacoord", "DropIndex", datacoord_pb2.DropIndexRequest(collection_id=info.collection_id,
                                                                          index_name="vec"))
    from nodes.indexnode.core import IndexNode

    report = IndexNode(cluster.ctx).build(task)  # builds and writes the file, then reports it
    assert report.state == IndexState.Finished and cluster.storage.exists(report.index_path)
    cluster.call("datacoord", "ReportIndexTask", report)
    assert not cluster.storage.exists(report.index_path)
