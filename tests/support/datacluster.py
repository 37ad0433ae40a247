"""An in-process data cluster for datacoord/datanode/indexnode tests: MemoryKV, LocalStorage,
a real BrokerServer, and rootcoord/datacoord (plus datanode/indexnode on demand) RoleServers
talking gRPC; helpers publish DML messages and flush through datacoord. ``close()`` fails the
test when the cluster left threads, sockets or child processes behind (``tests/support/leaks.py``)."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from common.config import load_config
from common.kv.memory import MemoryKV
from common.mq.client import BrokerClient
from common.mq.server import BrokerServer
from common.runtime import RoleContext, RoleServer, allocate_node_id
from launcher.peers import GrpcPeers
from common.schema_proto import schema_from_proto
from common.session import Session
from common.storage.local import LocalStorage
from common.types import DataType
from dataplane.fielddata import columns_from_insert, field_data_from_column
from dataplane.insert_msg import encode_insert_columns
from dataplane.ids import ids_to_proto
from dataplane.segment_file import read_segment_file
from proto.internal import datacoord_pb2, dml_pb2, meta_pb2, rootcoord_pb2
from proto.milvus import milvus_pb2, schema_pb2
from tests.support.leaks import Resources, assert_no_leaks

DIM = 8


class DataCluster:
    def __init__(self, tmp_path: Path, **overrides: dict[str, Any]) -> None:
        sections: dict[str, dict[str, Any]] = {
            "common": {"heartbeat_interval_s": 0.05, "data_dir": str(tmp_path)},
            "storage": {"local_dir": str(tmp_path / "storage")},
        }
        for section, values in overrides.items():
            sections.setdefault(section, {}).update(values)
        self.config = load_config(environ={}).with_overrides(sections)
        self._resources_before = Resources.now()
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
        self.ctx = RoleContext(self.config, self.kv, allocate_node_id(self.kv), GrpcPeers(self.kv))

    def start(self, role: str) -> RoleServer:
        from coordinators.datacoord.server import create_server as datacoord
        from coordinators.rootcoord.server import create_server as rootcoord
        from nodes.datanode.server import create_server as datanode
        from nodes.indexnode.server import create_server as indexnode

        factory = {"rootcoord": rootcoord, "datacoord": datacoord, "datanode": datanode, "indexnode": indexnode}[role]
        server = factory(RoleContext(self.config, self.kv, allocate_node_id(self.kv), GrpcPeers(self.kv)))
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
        assert_no_leaks(self._resources_before)

    def alloc_id(self) -> int:
        return self.ctx.rootcoord.alloc_id(rootcoord_pb2.AllocRequest(count=1)).begin

    def alloc_timestamp(self) -> int:
        return self.ctx.rootcoord.alloc_timestamp(rootcoord_pb2.AllocRequest(count=1)).timestamp

    # -- data helpers ------------------------------------------------------------------------
    def create_collection(self, name: str = "c1", shards: int = 1, dim: int = DIM) -> meta_pb2.CollectionInfo:
        schema = schema_pb2.CollectionSchema(name=name, enable_dynamic_field=True)
        schema.fields.add(name="id", data_type=schema_pb2.Int64, is_primary_key=True)
        tag = schema.fields.add(name="tag", data_type=schema_pb2.VarChar)
        tag.type_params.add(key="max_length", value="32")
        vec = schema.fields.add(name="vec", data_type=schema_pb2.FloatVector)
        vec.type_params.add(key="dim", value=str(dim))
        self.ctx.rootcoord.create_collection(milvus_pb2.CreateCollectionRequest(
            collection_name=name, schema=schema.SerializeToString(), shards_num=shards))
        return self.ctx.rootcoord.describe_collection(rootcoord_pb2.DescribeCollectionRequest(
            collection_name=name)).collection

    def insert(self, info: meta_pb2.CollectionInfo, ids: np.ndarray, *, shard: int = 0, partition_id: int = 0,
               segment_id: int = 0, old_format: bool = False) -> int:
        """Publish one InsertMsg as the proxy does (``old_format``: as written before
        ``InsertMsg.columns`` existed, the rows as wire FieldData); returns its offset."""
        schema = schema_from_proto(info.schema)
        ids = np.asarray(ids, dtype=np.int64)
        rng = np.random.default_rng(int(ids[0]) if len(ids) else 0)
        columns = {"id": ids, "tag": np.array([f"t{i}" for i in ids], dtype=object),
                   "vec": rng.random((len(ids), schema.field("vec").dim), dtype=np.float32)}
        msg = dml_pb2.InsertMsg(collection_id=info.collection_id,
                                partition_id=partition_id or info.partitions[0].partition_id,
                                segment_id=segment_id or self.alloc_id(),
                                timestamp=self.alloc_timestamp(), num_rows=len(ids))
        if old_format:
            for name, column in columns.items():
                msg.fields_data.append(field_data_from_column(schema.field(name), column))
        else:
            sent = [field_data_from_column(schema.field(name), column) for name, column in columns.items()]
            msg.columns = encode_insert_columns(schema, columns_from_insert(schema, sent, len(ids), None))
        payload = dml_pb2.DmlMsg(insert=msg).SerializeToString()
        return self.broker.produce(info.channels[shard], [(msg.timestamp, payload)])

    def delete(self, info: meta_pb2.CollectionInfo, ids: np.ndarray, shard: int = 0) -> int:
        msg = dml_pb2.DeleteMsg(collection_id=info.collection_id, primary_keys=ids_to_proto(ids, DataType.INT64),
                                timestamp=self.alloc_timestamp())
        payload = dml_pb2.DmlMsg(delete=msg).SerializeToString()
        return self.broker.produce(info.channels[shard], [(msg.timestamp, payload)])

    def seal(self, info: meta_pb2.CollectionInfo, segment_ids: list[int], shard: int = 0) -> int:
        ts = self.alloc_timestamp()
        msg = dml_pb2.SealMsg(collection_id=info.collection_id, segment_ids=segment_ids, timestamp=ts)
        return self.broker.produce(info.channels[shard], [(ts, dml_pb2.DmlMsg(seal=msg).SerializeToString())])

    def flush(self, info: meta_pb2.CollectionInfo, timeout_s: float = 20.0) -> int:
        """Flush through datacoord and wait for GetFlushState; returns flush_ts."""
        flush_ts = self.ctx.datacoord.flush(datacoord_pb2.FlushRequest(collection=info)).flush_ts
        wait_for(lambda: self.ctx.datacoord.get_flush_state(datacoord_pb2.GetFlushStateRequest(
            collection_id=info.collection_id, flush_ts=flush_ts)).flushed, timeout_s)
        return flush_ts

    def recovery(self, info: meta_pb2.CollectionInfo) -> datacoord_pb2.RecoveryInfo:
        return self.ctx.datacoord.get_recovery_info(datacoord_pb2.CollectionRequest(collection_id=info.collection_id))

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
