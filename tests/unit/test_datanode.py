"""DataNode: consuming a channel, flushing segments and deletes, checkpoints, restarts, size seals.

Real components in one process: MemoryKV, LocalStorage under tmp_path, a BrokerServer, and
rootcoord, datacoord and datanode RoleServers talking gRPC.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.config import load_config
from common.fielddata import field_data_from_column, ids_to_proto
from common.kv.memory import MemoryKV
from common.mq.client import BrokerClient
from common.mq.server import BrokerServer
from common.runtime import RoleContext, RoleServer, allocate_node_id
from common.schema_proto import schema_from_proto
from common.session import Session
from common.storage.local import LocalStorage
from common.storage.segment_file import read_delta_file, read_segment_file
from common.types import DataType
from proto.internal import datacoord_pb2, dml_pb2, meta_pb2
from proto.milvus import milvus_pb2, schema_pb2

DIM = 8


# ---------------------------------------------------------------------------------------------
# An in-process data cluster (the same helper is in test_datacoord.py and test_indexnode.py).
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


# ---------------------------------------------------------------------------------------------
def test_flush_writes_exactly_the_rows_and_moves_the_checkpoint(cluster: DataCluster) -> None:
    info = cluster.create_collection(shards=2)
    cluster.start("datanode")
    for shard in (0, 1):
        for start in (0, 10, 20):
            cluster.insert(info, np.arange(start, start + 10) + 1000 * shard, shard=shard)
    cluster.flush(info)

    rec = cluster.recovery(info)
    assert len(rec.segments) == 2  # one growing segment per channel, sealed by the flush
    for item in rec.segments:
        seg = item.segment
        assert seg.state == meta_pb2.FLUSHED and seg.num_rows == 30
        assert seg.insert_log == f"insert_log/{info.collection_id}/{seg.partition_id}/{seg.segment_id}/{seg.segment_id}.parquet"
        assert seg.start_offset == 0 and 0 < seg.min_ts < seg.max_ts
    rows = cluster.flushed_rows(info)
    assert sorted(rows["id"].tolist()) == sorted(list(range(30)) + list(range(1000, 1030)))
    assert rows["vec"].shape == (60, DIM) and rows["$ts"].dtype == np.uint64
    assert set(rows["tag"]) == {f"t{i}" for i in rows["id"]}
    assert set(rows["$meta"]) == {b"{}"}
    for cp in rec.checkpoints:  # 3 inserts + the seal: everything below 4 is persisted
        assert cp.offset == 4 == cluster.broker.end_offset(cp.channel) and cp.flush_ts > 0
    stats = cluster.call("datacoord", "GetStatistics", datacoord_pb2.CollectionRequest(collection_id=info.collection_id))
    assert stats.row_count == 60

    # A second flush with no new data: no new segment, flush_ts moves, checkpoint after the seal.
    ts2 = cluster.flush(info)
    rec2 = cluster.recovery(info)
    assert len(rec2.segments) == 2 and all(cp.offset == 5 and cp.flush_ts == ts2 for cp in rec2.checkpoints)


def test_deletes_produce_a_delta_log(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    cluster.start("datanode")
    cluster.insert(info, np.arange(10))
    cluster.delete(info, np.array([3, 4]))
    cluster.delete(info, np.array([7]))
    cluster.flush(info)
    rec = cluster.recovery(info)
    assert len(rec.delta_logs) == 1
    log = rec.delta_logs[0]
    assert log.path == f"delta_log/{info.collection_id}/{info.channels[0]}/3.parquet" and log.num_rows == 3
    pks, ts = read_delta_file(cluster.storage.get(log.path))
    assert pks.tolist() == [3, 4, 7] and ts.dtype == np.uint64 and int(ts.max()) == log.max_ts
    assert rec.checkpoints[0].offset == 4
    # Deletes after the flush wait in memory; they go out with the next flush only.
    cluster.delete(info, np.array([1]))
    cluster.flush(info)
    logs = cluster.recovery(info).delta_logs
    assert [(l.num_rows, l.path.rsplit("/", 1)[1]) for l in logs] == [(3, "3.parquet"), (1, "5.parquet")]


def test_restart_mid_stream_keeps_every_row_exactly_once(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    p1 = info.partitions[0].partition_id
    p2 = cluster.rootcoord.logic.alloc_id()  # a second partition id (the datanode needs no catalog)
    node = cluster.start("datanode")
    cluster.insert(info, np.arange(0, 10))                  # 0: opens A (p1)
    cluster.flush(info)                                      # 1: seals A
    first = cluster.insert(info, np.arange(10, 20))          # 2: opens X (p1)
    cluster.insert(info, np.arange(20, 30), partition_id=p2)  # 3: opens Y (p2)
    cluster.insert(info, np.arange(30, 40))                  # 4: X
    wait_for(lambda: next(iter(node.logic.channels().values())).offset == 5)
    x_id = next(s.segment_id for s in next(iter(node.logic.channels().values())).buffer.growing.values()
                if s.partition_id == p1)
    cluster.seal(info, [x_id])                                # 5: seals X only -> checkpoint = 3 (Y)
    wait_for(lambda: cluster.recovery(info).checkpoints[0].offset == 3)
    assert first == 2
    cluster.delete(info, np.array([0, 25]))                  # 6: a delete, not yet persisted
    cluster.stop(node)

    cluster.insert(info, np.arange(40, 50))                  # 7: opens Z (p1), while no datanode runs
    cluster.insert(info, np.arange(50, 55), partition_id=p2)  # 8: Y
    node2 = cluster.start("datanode")
    wait_for(lambda: node2.logic.channels())
    cluster.flush(info)                                       # replay from 3 skips 4 (X is flushed)
    rows = cluster.flushed_rows(info)
    assert sorted(rows["id"].tolist()) == list(range(55))
    segs = {s.segment.segment_id: s.segment for s in cluster.recovery(info).segments}
    assert len(segs) == 4 and sorted(s.num_rows for s in segs.values()) == [10, 10, 15, 20]
    logs = cluster.recovery(info).delta_logs
    assert sum(l.num_rows for l in logs) == 2

    # A third datanode after everything is flushed replays nothing twice either.
    cluster.stop(node2)
    cluster.insert(info, np.arange(55, 60))
    cluster.start("datanode")
    cluster.flush(info)
    assert sorted(cluster.flushed_rows(info)["id"].tolist()) == list(range(60))
    assert sum(l.num_rows for l in cluster.recovery(info).delta_logs) == 2


def test_full_segments_are_sealed_by_size(tmp_path: Path) -> None:
    c = DataCluster(tmp_path, datacoord={"segment_max_rows": 100})
    try:
        info = c.create_collection()
        c.start("datanode")
        c.insert(info, np.arange(0, 50))
        c.insert(info, np.arange(50, 100))  # 100 rows: the datanode publishes a seal for it
        wait_for(lambda: [s.segment.num_rows for s in c.recovery(info).segments] == [100])
        c.insert(info, np.arange(100, 150))
        c.insert(info, np.arange(150, 200))
        wait_for(lambda: len(c.recovery(info).segments) == 2)
        c.insert(info, np.arange(200, 250))
        c.flush(info)
        rows = c.flushed_rows(info)
        assert sorted(rows["id"].tolist()) == list(range(250))
        assert [s.segment.num_rows for s in c.recovery(info).segments] == [100, 100, 50]
        seals = [r for r in c.broker.fetch(info.channels[0], 0, 100)
                 if dml_pb2.DmlMsg.FromString(r.payload).WhichOneof("body") == "seal"]
        assert len(seals) == 3  # two size seals and the flush
    finally:
        c.close()


def test_flush_of_a_dropped_collection_stops_the_consumer(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    node = cluster.start("datanode")
    cluster.insert(info, np.arange(5))
    cluster.flush(info)
    assert node.logic.channels()
    cluster.call("datacoord", "DropCollection", datacoord_pb2.CollectionRequest(collection_id=info.collection_id))
    wait_for(lambda: not node.logic.channels())
    assert cluster.storage.list(f"insert_log/{info.collection_id}/") == []
