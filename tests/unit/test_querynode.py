"""QueryNode with real components in one process: MemoryKV, LocalStorage, a real BrokerServer,
the real QueryCoord and QueryNode gRPC servers, and a tiny fake datacoord serving
GetRecoveryInfo (whatever the test sets)."""
from __future__ import annotations

import json
import threading
import time

import grpc
import numpy as np
import pytest

from common.component import Component
from common.config import load_config
from common.errors import ChannelNotFound, FieldNotFound, ParameterInvalid, PartitionNotLoaded, ServiceInternal
from common.index.faiss_index import build_index
from common.kv.memory import MemoryKV
from common.mq.client import BrokerClient
from common.mq.server import BrokerServer
from common.rpc import make_channel
from common.runtime import RoleContext, RoleServer
from launcher.peers import GrpcPeers
from common.schema_proto import complete_schema, schema_from_proto
from common.session import Session
from common.storage.local import LocalStorage
from common.template_values import template_values_from_proto
from common.types import DataType
from coordinators.querycoord.server import create_server as create_querycoord
from dataplane import reduce as reduce_module
from dataplane.fielddata import field_data_from_column
from dataplane.insert_msg import encode_insert_columns
from dataplane.reduce import merge_query_results, merge_search_results, top_distinct
from dataplane.segment_file import write_delta_file, write_segment_file
from nodes.querynode.server import create_server as create_querynode
from proto.internal import (datacoord_pb2, datacoord_pb2_grpc, dml_pb2, meta_pb2, querynode_pb2,
                            querynode_pb2_grpc)
from proto.milvus import common_pb2, schema_pb2
from tests.support.read_requests import compiled_filter, search_plan

CID = 7
PART = 70
PART2 = 71
DIM = 8
MAX_TS = 2**63 - 1


# ------------------------------------------------------------------------------ fake datacoord
class _FakeDataCoordLogic(Component):
    role = "datacoord"


class FakeDataCoord(datacoord_pb2_grpc.DataCoordServicer):
    """Serves GetRecoveryInfo from ``infos`` (collection id -> RecoveryInfo)."""

    def __init__(self) -> None:
        self.infos: dict[int, datacoord_pb2.RecoveryInfo] = {}
        self.lock = threading.Lock()

    def set(self, collection_id: int, info: datacoord_pb2.RecoveryInfo) -> None:
        with self.lock:
            self.infos[collection_id] = info

    def GetRecoveryInfo(self, request, context):
        with self.lock:
            info = self.infos.get(request.collection_id)
            return datacoord_pb2.RecoveryInfo() if info is None else info


# ------------------------------------------------------------------------------------ cluster
def make_collection(shards: int = 1, pk_type: DataType = DataType.INT64) -> meta_pb2.CollectionInfo:
    pk = schema_pb2.FieldSchema(name="id", data_type=int(pk_type), is_primary_key=True)
    if pk_type == DataType.VARCHAR:
        pk.type_params.add(key="max_length", value="64")
    user = schema_pb2.CollectionSchema(name="c", enable_dynamic_field=True, fields=[
        pk,
        schema_pb2.FieldSchema(name="vec", data_type=int(DataType.FLOAT_VECTOR),
                               type_params=[common_pb2.KeyValuePair(key="dim", value=str(DIM))]),
        schema_pb2.FieldSchema(name="age", data_type=int(DataType.INT64)),
    ])
    info = meta_pb2.CollectionInfo(collection_id=CID, name="c", schema=complete_schema(user, "c"), shards_num=shards,
                                   channels=[f"by-dev-dml-{CID}-{i}" for i in range(shards)])
    info.partitions.add(partition_id=PART, name="_default")
    info.partitions.add(partition_id=PART2, name="p2")
    return info


class Cluster:
    def __init__(self, tmp_path, nodes: int = 1) -> None:
        self.kv = MemoryKV("test")
        self.config = load_config(environ={}).with_overrides({
            "common": {"heartbeat_interval_s": 0.05},
            "storage": {"local_dir": str(tmp_path / "storage")},
        })
        self.broker_server = BrokerServer(tmp_path / "broker")
        endpoint = self.broker_server.start()
        self.broker_session = Session(self.kv, "broker", 1, endpoint)
        self.broker_session.register()
        self.broker = BrokerClient(endpoint)
        self.storage = LocalStorage(str(tmp_path / "storage"))
        self.datacoord = FakeDataCoord()
        self.servers: list[RoleServer] = []
        dc_ctx = RoleContext(self.config, self.kv, 2, GrpcPeers(self.kv))
        self.servers.append(RoleServer(_FakeDataCoordLogic(), self._serve_datacoord, dc_ctx))
        self.querycoord = create_querycoord(RoleContext(self.config, self.kv, 3, GrpcPeers(self.kv)))
        self.servers.append(self.querycoord)
        self.nodes = [create_querynode(RoleContext(self.config, self.kv, 10 + i, GrpcPeers(self.kv)))
                      for i in range(nodes)]
        self.servers.extend(self.nodes)
        for s in self.servers:
            s.start()

    def _serve_datacoord(self, server: grpc.Server) -> None:
        datacoord_pb2_grpc.add_DataCoordServicer_to_server(self.datacoord, server)

    def close(self) -> None:
        for s in reversed(self.servers):
            s.stop()
        self.broker.close()
        self.broker_session.stop()
        self.broker_server.stop()
        self.kv.close()

    # -- helpers ---------------------------------------------------------------------------
    def load(self, info: meta_pb2.CollectionInfo, timeout_s: float = 10.0) -> None:
        self.querycoord.logic.load_collection(datacoord_pb2.CollectionRequest(collection=info))
        request = datacoord_pb2.CollectionRequest(collection_id=info.collection_id)
        wait_until(lambda: self.querycoord.logic.get_load_progress(request).progress == 100, timeout_s)

    def leader(self, channel: str):  # type: ignore[no-untyped-def]
        request = datacoord_pb2.CollectionRequest(collection_id=CID)
        for leader in self.querycoord.logic.get_shard_leaders(request).leaders:
            if leader.channel == channel:
                return next(n for n in self.nodes if n.logic.node_id == leader.node_id)
        raise AssertionError(f"no leader for {channel}")


def wait_until(cond, timeout_s: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.close()


def rows(pks, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    pks = np.asarray(pks, dtype=np.int64)
    vecs = rng.standard_normal((len(pks), DIM)).astype(np.float32)
    ages = (pks % 100).astype(np.int64)
    metas = np.empty(len(pks), dtype=object)
    metas[:] = [json.dumps({"color": "red" if p % 2 else "blue", "n": int(p)}).encode() for p in pks]
    return {"id": pks, "vec": vecs, "age": ages, "$meta": metas}


def insert(c: Cluster, info, channel: str, data: dict, ts: int, segment_id: int, partition_id: int = PART,  # type: ignore[no-untyped-def]
           old_format: bool = False) -> int:
    """Publish an InsertMsg as the proxy does (``old_format``: as written before
    ``InsertMsg.columns`` existed, the rows as wire FieldData)."""
    schema = schema_from_proto(info.schema)
    msg = dml_pb2.InsertMsg(collection_id=info.collection_id, partition_id=partition_id, segment_id=segment_id,
                            timestamp=ts, num_rows=len(data["id"]))
    if old_format:
        msg.fields_data.extend(field_data_from_column(f, data[f.name]) for f in schema.fields)
    else:
        msg.columns = encode_insert_columns(schema, data)
    return c.broker.produce(channel, [(ts, dml_pb2.DmlMsg(insert=msg).SerializeToString())])


def delete(c: Cluster, info, channel: str, pks, ts: int) -> int:  # type: ignore[no-untyped-def]
    msg = dml_pb2.DeleteMsg(collection_id=info.collection_id, timestamp=ts)
    msg.primary_keys.int_id.data.extend(int(p) for p in pks)
    return c.broker.produce(channel, [(ts, dml_pb2.DmlMsg(delete=msg).SerializeToString())])


def seal(c: Cluster, info, channel: str, ts: int, segment_ids=()) -> int:  # type: ignore[no-untyped-def]
    msg = dml_pb2.SealMsg(collection_id=info.collection_id, segment_ids=list(segment_ids), timestamp=ts)
    return c.broker.produce(channel, [(ts, dml_pb2.DmlMsg(seal=msg).SerializeToString())])


SCHEMA = schema_from_proto(make_collection().schema)  # what the proxy plans searches against


def search_request(channel: str, queries, topk: int, *, read_ts: int = MAX_TS, strong: bool = False, expr: str = "",
                   output_fields=(), metric: str = "L2", partitions=(), index_type: str = "FLAT", params=None,
                   templates=None):  # type: ignore[no-untyped-def]
    """A search as the proxy plans it for ``make_collection()``'s schema."""
    scope = querynode_pb2.ReadScope(collection_id=CID, channel=channel, read_ts=read_ts, wait_for_latest=strong,
                                    filter=compiled_filter(expr, SCHEMA, templates), output_fields=list(output_fields),
                                    partition_ids=list(partitions))
    plan = search_plan(SCHEMA.field("vec"), np.asarray(queries), topk, metric=metric, index_type=index_type,
                       params=params)
    return querynode_pb2.ShardSearchRequest(scope=scope, plan=plan)


def query_request(channel: str, *, expr: str = "", read_ts: int = MAX_TS, strong: bool = False, limit: int = -1,
                  count_only: bool = False, output_fields=(), partitions=(), templates=None):  # type: ignore[no-untyped-def]
    scope = querynode_pb2.ReadScope(collection_id=CID, channel=channel, read_ts=read_ts, wait_for_latest=strong,
                                    filter=compiled_filter(expr, SCHEMA, templates), output_fields=list(output_fields),
                                    partition_ids=list(partitions))
    return querynode_pb2.ShardQueryRequest(scope=scope, limit=limit, count_only=count_only)


def exact_l2(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = ((queries[:, None, :].astype(np.float64) - base[None, :, :]) ** 2).sum(-1)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, axis=1), idx


def result_ids(res: schema_pb2.SearchResultData) -> list[list[int]]:
    ids = list(res.ids.int_id.data) if res.ids.WhichOneof("id_field") == "int_id" else list(res.ids.str_id.data)
    out, start = [], 0
    for n in res.topks:
        out.append(ids[start:start + n])
        start += n
    return out


def search_results(node, request: querynode_pb2.ShardSearchRequest) -> schema_pb2.SearchResultData:  # type: ignore[no-untyped-def]
    """The results of ``node``'s core's Search."""
    return node.logic.search(request).results


def query_rows(node, request: querynode_pb2.ShardQueryRequest) -> tuple[list, int]:  # type: ignore[no-untyped-def]
    """(fields_data, count) of ``node``'s core's Query."""
    result = node.logic.query(request)
    return list(result.fields_data), result.count


def count(node, channel: str, **kw) -> int:  # type: ignore[no-untyped-def]
    return query_rows(node, query_request(channel, count_only=True, **kw))[1]


# ------------------------------------------------------------------------------------- tests
def test_growing_rows_are_searchable_and_queryable(cluster):
    info = make_collection()
    ch = info.channels[0]
    cluster.load(info)
    data = rows(range(300), seed=1)
    for start in range(0, 300, 100):  # three messages, one growing segment
        insert(cluster, info, ch, {k: v[start:start + 100] for k, v in data.items()}, ts=100 + start, segment_id=500)
    node = cluster.leader(ch)
    queries = np.random.default_rng(9).standard_normal((4, DIM)).astype(np.float32)
    res = search_results(node, search_request(ch, queries, 10, strong=True, output_fields=["age", "$meta"]))
    want_d, want_i = exact_l2(data["vec"], queries, 10)
    assert list(res.topks) == [10] * 4
    assert result_ids(res) == [list(data["id"][row]) for row in want_i]
    np.testing.assert_allclose(np.asarray(res.scores).reshape(4, 10), want_d, rtol=1e-4, atol=1e-4)
    ages = {fd.field_name: fd for fd in res.fields_data}["age"].scalars.long_data.data
    assert list(ages) == [int(p) % 100 for p in np.concatenate(result_ids(res))]
    meta = next(fd for fd in res.fields_data if fd.is_dynamic)
    assert meta.type == DataType.JSON and json.loads(meta.scalars.json_data.data[0])["n"] == result_ids(res)[0][0]

    # Filtered search: only rows with age < 10 and the dynamic key.
    res = search_results(node, search_request(ch, queries, 5, expr='age < 10 and color == "red"'))
    for hits in result_ids(res):
        assert hits and all(p % 100 < 10 and p % 2 == 1 for p in hits)

    fields, n = query_rows(node, query_request(ch, expr="age >= 95", output_fields=["age", "vec"], limit=-1))
    by_name = {fd.field_name: fd for fd in fields}
    pks = list(by_name["id"].scalars.long_data.data)
    assert pks == sorted(p for p in range(300) if p % 100 >= 95) and n == len(pks)
    vecs = np.asarray(by_name["vec"].vectors.float_vector.data, dtype=np.float32).reshape(-1, DIM)
    np.testing.assert_array_equal(vecs, data["vec"][pks])
    fields, n = query_rows(node, query_request(ch, expr="id in [5, 3, 299, 1000]", limit=2))
    assert list(fields[0].scalars.long_data.data) == [3, 5]
    assert count(node, ch) == 300
    assert count(node, ch, read_ts=150) == 100  # MVCC: only the first message is visible at ts 150


def test_deletes_hide_rows_by_read_ts(cluster):
    info = make_collection()
    ch = info.channels[0]
    cluster.load(info)
    insert(cluster, info, ch, rows(range(50)), ts=100, segment_id=500)
    delete(cluster, info, ch, [1, 2, 3], ts=200)
    node = cluster.leader(ch)
    assert count(node, ch, strong=True) == 47
    assert count(node, ch, read_ts=150) == 50
    assert count(node, ch, read_ts=200) == 47
    fields, _ = query_rows(node, query_request(ch, expr="id < 6", read_ts=250))
    assert list(fields[0].scalars.long_data.data) == [0, 4, 5]
    res = search_results(node, search_request(ch, rows([1])["vec"], 50))
    assert 1 not in result_ids(res)[0] and len(result_ids(res)[0]) == 47
    # Upsert: delete + insert of pk 1 at the same ts keeps the new row only.
    delete(cluster, info, ch, [1], ts=300)
    insert(cluster, info, ch, rows([1], seed=5), ts=300, segment_id=500)
    fields, _ = query_rows(node, query_request(ch, expr="id == 1", strong=True, output_fields=["vec"]))
    vec = np.asarray(fields[1].vectors.float_vector.data, dtype=np.float32)
    np.testing.assert_array_equal(vec, rows([1], seed=5)["vec"][0])


def test_strong_read_waits_for_latest_offset(cluster):
    info = make_collection()
    ch = info.channels[0]
    cluster.load(info)
    node = cluster.leader(ch)
    for i in range(20):
        insert(cluster, info, ch, rows([i], seed=i), ts=100 + i, segment_id=500)
        assert count(node, ch, strong=True) == i + 1  # every acknowledged write is visible at once


def test_sealed_segments_indexes_and_partitions(cluster):
    info = make_collection()
    ch = info.channels[0]
    schema = schema_from_proto(info.schema)
    # "Datanode": segment 900 (partition PART) flushed with an index, 950 growing in PART2.
    sealed = rows(range(0, 200), seed=3)
    sealed["$ts"] = np.full(200, 50, dtype=np.uint64)
    cluster.storage.put("insert_log/7/70/900/1.parquet", write_segment_file(sealed, schema))
    cluster.storage.put("index_files/31/index", build_index(sealed["vec"], "HNSW", "L2").serialize())
    cluster.storage.put("delta_log/7/ch/1.parquet", write_delta_file(np.array([0, 1], np.int64),
                                                                     np.array([60, 60], np.uint64)))
    recovery = datacoord_pb2.RecoveryInfo()
    seg = recovery.segments.add()
    seg.segment.CopyFrom(meta_pb2.SegmentInfo(segment_id=900, collection_id=CID, partition_id=PART, channel=ch,
                                              num_rows=200, state=meta_pb2.FLUSHED,
                                              insert_log="insert_log/7/70/900/1.parquet"))
    seg.indexes.add(segment_id=900, index_id=3, build_id=31, state=common_pb2.Finished,
                    index_path="index_files/31/index", num_rows=200)
    recovery.indexes.add(collection_id=CID, index_id=3, index_name="idx", field_id=101, field_name="vec",
                         index_type="HNSW", metric_type="L2", params_json='{"index_type": "HNSW", "M": 16}')
    recovery.delta_logs.add(collection_id=CID, channel=ch, path="delta_log/7/ch/1.parquet", num_rows=2, max_ts=60)
    recovery.checkpoints.add(channel=ch, offset=0)
    cluster.datacoord.set(CID, recovery)
    cluster.load(info)
    node = cluster.leader(ch)
    shard = node.logic.shard(ch)
    wait_until(lambda: shard.indexed_build_ids() == [31], what="index loaded")
    growing = rows(range(1000, 1100), seed=4)
    insert(cluster, info, ch, growing, ts=100, segment_id=950, partition_id=PART2)
    queries = np.random.default_rng(2).standard_normal((3, DIM)).astype(np.float32)
    res = search_results(node, search_request(ch, queries, 8, strong=True, index_type="HNSW"))
    base = np.concatenate([sealed["vec"][2:], growing["vec"]])
    all_pks = np.concatenate([sealed["id"][2:], growing["id"]])
    want_d, want_i = exact_l2(base, queries, 8)
    assert result_ids(res) == [list(all_pks[r]) for r in want_i]
    np.testing.assert_allclose(np.asarray(res.scores).reshape(3, 8), want_d, rtol=1e-4, atol=1e-4)
    res = search_results(node, search_request(ch, queries, 8, partitions=[PART2], index_type="HNSW",
                                              params={"ef": 32}))
    assert all(p >= 1000 for hits in result_ids(res) for p in hits)
    assert count(node, ch) == 298
    # plans made for another index than the shard's (the proxy checks against its own view of it)
    with pytest.raises(ParameterInvalid, match=r"metric type not match: invalid parameter\[expected=L2\]\[actual=IP\]"):
        search_results(node, search_request(ch, queries, 8, metric="IP", index_type="HNSW"))
    with pytest.raises(ParameterInvalid, match=r"index type not match: invalid parameter\[expected=HNSW\]"):
        search_results(node, search_request(ch, queries, 8))


def test_handoff_growing_to_sealed_without_duplicates_or_misses(cluster):
    info = make_collection()
    ch = info.channels[0]
    schema = schema_from_proto(info.schema)
    cluster.load(info)
    node = cluster.leader(ch)
    first = rows(range(300), seed=1)
    for start in range(0, 300, 100):
        insert(cluster, info, ch, {k: v[start:start + 100] for k, v in first.items()}, ts=100, segment_id=900)
    seal(cluster, info, ch, ts=150)
    checkpoint = insert(cluster, info, ch, rows(range(300, 350), seed=2), ts=200, segment_id=901)
    delete(cluster, info, ch, [5], ts=210)
    assert count(node, ch, strong=True) == 349
    shard = node.logic.shard(ch)
    assert shard.segment_ids() == ([], [900, 901])

    failures: list[str] = []
    stop = threading.Event()
    rounds = [0]
    expected = sorted(set(range(350)) - {5})
    queries = np.random.default_rng(3).standard_normal((1, DIM)).astype(np.float32)

    def reader() -> None:
        while not stop.is_set():
            n = count(node, ch)
            fields, _ = query_rows(node, query_request(ch))
            pks = list(fields[0].scalars.long_data.data)
            hits = result_ids(search_results(node, search_request(ch, queries, 400)))[0]
            if n != 349 or pks != expected or sorted(hits) != expected:
                failures.append(f"count={n} rows={len(pks)} hits={len(hits)}")
            rounds[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.1)
    # The "datanode" flushes segment 900; datacoord's target now holds it.
    sealed = dict(first)
    sealed["$ts"] = np.full(300, 100, dtype=np.uint64)
    cluster.storage.put("insert_log/7/70/900/1.parquet", write_segment_file(sealed, schema))
    recovery = datacoord_pb2.RecoveryInfo()
    recovery.segments.add().segment.CopyFrom(meta_pb2.SegmentInfo(
        segment_id=900, collection_id=CID, partition_id=PART, channel=ch, num_rows=300, state=meta_pb2.FLUSHED,
        insert_log="insert_log/7/70/900/1.parquet"))
    recovery.checkpoints.add(channel=ch, offset=checkpoint)
    cluster.datacoord.set(CID, recovery)
    wait_until(lambda: shard.segment_ids() == ([900], [901]), what="handoff")
    time.sleep(0.2)
    stop.set()
    thread.join()
    assert not failures, failures[:5]
    assert rounds[0] > 3

    # Recovery: release and load again: segment 900 from storage, 901 and the delete replayed.
    cluster.querycoord.logic.release_collection(datacoord_pb2.CollectionRequest(collection_id=CID))
    wait_until(lambda: not node.logic.shards(), what="release")
    cluster.load(info)
    node = cluster.leader(ch)
    assert count(node, ch, strong=True) == 349
    assert node.logic.shard(ch).segment_ids() == ([900], [901])


def test_replay_from_zero_skips_rows_of_held_sealed_segments(cluster):
    info = make_collection()
    ch = info.channels[0]
    schema = schema_from_proto(info.schema)
    data = rows(range(100))
    insert(cluster, info, ch, data, ts=100, segment_id=900)
    seal(cluster, info, ch, ts=110)
    insert(cluster, info, ch, rows(range(100, 120)), ts=120, segment_id=901)
    sealed = dict(data)
    sealed["$ts"] = np.full(100, 100, dtype=np.uint64)
    cluster.storage.put("insert_log/7/70/900/1.parquet", write_segment_file(sealed, schema))
    recovery = datacoord_pb2.RecoveryInfo()
    recovery.segments.add().segment.CopyFrom(meta_pb2.SegmentInfo(
        segment_id=900, collection_id=CID, partition_id=PART, channel=ch, num_rows=100, state=meta_pb2.FLUSHED,
        insert_log="insert_log/7/70/900/1.parquet"))
    recovery.checkpoints.add(channel=ch, offset=0)
    cluster.datacoord.set(CID, recovery)
    cluster.load(info)
    node = cluster.leader(ch)
    assert count(node, ch, strong=True) == 120
    assert node.logic.shard(ch).segment_ids() == ([900], [901])


def test_errors_become_clear_statuses(cluster):
    info = make_collection()
    ch = info.channels[0]
    cluster.load(info)
    insert(cluster, info, ch, rows(range(10)), ts=100, segment_id=500)
    node = cluster.leader(ch)
    stub = querynode_pb2_grpc.QueryNodeStub(make_channel(node.address))
    malformed = search_request(ch, rows([0])["vec"], 3)
    malformed.scope.filter = '{"v":1,"nodes":[["cmp","<",5,0]]}'
    res = stub.Search(malformed)
    assert res.status.code == ServiceInternal.code and "malformed compiled filter" in res.status.reason
    newer = make_collection()  # the proxy's schema has a field this node's lacks
    newer.schema.fields.add(name="height", data_type=int(DataType.INT64))
    unknown = query_request(ch)
    unknown.scope.filter = compiled_filter("height > 1", schema_from_proto(newer.schema))
    res = stub.Query(unknown)
    assert res.status.code == FieldNotFound.code and "height" in res.status.reason
    res = stub.Search(search_request(ch, np.zeros((1, DIM + 1), np.float32), 3))
    assert res.status.code == 1100 and "dimension" in res.status.reason
    res = stub.Query(query_request("by-dev-dml-7-9"))
    assert res.status.code == ChannelNotFound.code and "not served" in res.status.reason
    templated = stub.Query(query_request(ch, expr="age in {ages}", count_only=True, strong=True,
                                         templates={"ages": [1, 2, 3]}))
    assert templated.status.code == 0 and templated.count == 3


def test_template_values_from_proto():
    values = {
        "a": schema_pb2.TemplateValue(int64_val=3), "b": schema_pb2.TemplateValue(string_val="x"),
        "c": schema_pb2.TemplateValue(float_val=1.5), "d": schema_pb2.TemplateValue(bool_val=True),
    }
    e = schema_pb2.TemplateValue()
    e.array_val.array_data.data.add().long_data.data.extend([1, 2])
    e.array_val.array_data.data.add().string_data.data.extend(["q"])
    values["e"] = e
    j = schema_pb2.TemplateValue()
    j.array_val.json_data.data.extend([b'{"k": 1}', b"2"])
    values["j"] = j
    assert template_values_from_proto(values) == {"a": 3, "b": "x", "c": 1.5, "d": True, "e": [[1, 2], ["q"]],
                                                  "j": [{"k": 1}, 2]}


def _result(pks, scores, ages) -> schema_pb2.SearchResultData:  # type: ignore[no-untyped-def]
    res = schema_pb2.SearchResultData(num_queries=len(pks), top_k=3, topks=[len(p) for p in pks])
    res.ids.int_id.data.extend(p for q in pks for p in q)
    res.scores.extend(s for q in scores for s in q)
    fd = res.fields_data.add(type=int(DataType.INT64), field_name="age", field_id=102)
    fd.scalars.long_data.data.extend(a for q in ages for a in q)
    return res


def test_merge_search_results_topk_dedup_and_fields():
    a = _result([[1, 2, 3], [4]], [[0.1, 0.5, 0.9], [0.2]], [[11, 12, 13], [14]])
    b = _result([[5, 2], [6, 7]], [[0.3, 0.4], [0.1, 0.3]], [[15, 12], [16, 17]])
    out = merge_search_results([a, b], nq=2, topk=3, ascending=True)
    assert list(out.topks) == [3, 3]
    assert list(out.ids.int_id.data) == [1, 5, 2, 6, 4, 7]
    np.testing.assert_allclose(out.scores, [0.1, 0.3, 0.4, 0.1, 0.2, 0.3])
    assert list(out.fields_data[0].scalars.long_data.data) == [11, 15, 12, 16, 14, 17]
    desc = merge_search_results([a, b], nq=2, topk=2, ascending=False, offset=1)
    assert list(desc.topks) == [1, 1] and list(desc.ids.int_id.data) == [2, 4]


@pytest.mark.parametrize("str_pks", [False, True])
@pytest.mark.parametrize("small_selection", [0, 10_000])  # the vectorised path, the loop
def test_top_distinct_matches_a_per_query_loop(str_pks: bool, small_selection: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Random rows with repeated keys, ties and empty slots: both paths of the selection equal
    the obvious loop (rank by key, stable; skip invalid and already-seen keys; offset:topk)."""
    monkeypatch.setattr(reduce_module, "SMALL_SELECTION", small_selection)
    rng = np.random.default_rng(7)
    for _ in range(30):
        nq, width, topk = int(rng.integers(1, 5)), int(rng.integers(0, 12)), int(rng.integers(1, 6))
        offset = int(rng.integers(0, 3))
        key = rng.integers(0, 4, (nq, width)).astype(np.float32)  # few values: many ties
        raw = rng.integers(0, 6, (nq, width))  # few keys: many repeats
        pks = raw.astype(str).astype(object) if str_pks else raw
        valid = rng.random((nq, width)) < 0.8
        rows, cols, topks = top_distinct(key, pks, valid, topk, offset)
        expected_rows, expected_cols, expected_topks = [], [], []
        for q in range(nq):
            seen, ranked = set(), []
            for j in sorted(range(width), key=lambda j: (key[q, j], j)):
                if valid[q, j] and pks[q, j] not in seen:
                    seen.add(pks[q, j])
                    ranked.append(j)
            kept = ranked[offset:topk]
            expected_rows += [q] * len(kept)
            expected_cols += kept
            expected_topks.append(len(kept))
        assert rows.tolist() == expected_rows and cols.tolist() == expected_cols
        assert topks.tolist() == expected_topks


def test_merge_query_results_sorted_limited():
    def part(pks, ages):  # type: ignore[no-untyped-def]
        pk = schema_pb2.FieldData(type=int(DataType.INT64), field_name="id")
        pk.scalars.long_data.data.extend(pks)
        age = schema_pb2.FieldData(type=int(DataType.INT64), field_name="age")
        age.scalars.long_data.data.extend(ages)
        return [pk, age]

    out = merge_query_results([part([5, 1, 9], [50, 10, 90]), part([3, 7], [30, 70]), []], "id", limit=3, offset=1)
    assert list(out[0].scalars.long_data.data) == [3, 5, 7]
    assert list(out[1].scalars.long_data.data) == [30, 50, 70]


def test_replay_skips_inserts_within_flushed_segment_spans(cluster):
    """Segment 800 (partition p2) opened before the checkpoint and was sealed after it: a replay
    from the checkpoint must not reopen its later rows as a new segment."""
    info = make_collection()
    ch = info.channels[0]
    schema = schema_from_proto(info.schema)
    f1, g, f2, late = rows(range(0, 10)), rows(range(10, 20)), rows(range(20, 30)), rows(range(30, 40))
    insert(cluster, info, ch, f1, ts=100, segment_id=800, partition_id=PART2)
    checkpoint = insert(cluster, info, ch, g, ts=110, segment_id=900)
    insert(cluster, info, ch, f2, ts=120, segment_id=801, partition_id=PART2)  # still segment 800
    seal_at = seal(cluster, info, ch, ts=130, segment_ids=[800])
    insert(cluster, info, ch, late, ts=140, segment_id=802, partition_id=PART2)
    sealed = {k: np.concatenate([f1[k], f2[k]]) for k in f1}
    sealed["$ts"] = np.repeat(np.array([100, 120], dtype=np.uint64), 10)
    cluster.storage.put("insert_log/7/71/800/1.parquet", write_segment_file(sealed, schema))
    recovery = datacoord_pb2.RecoveryInfo()
    recovery.segments.add().segment.CopyFrom(meta_pb2.SegmentInfo(
        segment_id=800, collection_id=CID, partition_id=PART2, channel=ch, num_rows=20, state=meta_pb2.FLUSHED,
        insert_log="insert_log/7/71/800/1.parquet", start_offset=0))
    recovery.segment_ranges.add(segment_id=800, partition_id=PART2, start_offset=0, seal_offset=seal_at)
    recovery.checkpoints.add(channel=ch, offset=checkpoint)
    cluster.datacoord.set(CID, recovery)
    cluster.load(info)
    node = cluster.leader(ch)
    assert count(node, ch, strong=True) == 40
    assert node.logic.shard(ch).segment_ids() == ([800], [802, 900])
    fields, _ = query_rows(node, query_request(ch, expr="id >= 0"))
    assert list(fields[0].scalars.long_data.data) == list(range(40))


def test_handoff_with_real_datacoord_datanode_and_indexnode(tmp_path):
    """The whole path in one process: proxy insert -> growing on the querynode; Flush -> datanode
    persists -> datacoord target -> sealed copy replaces the growing one; indexnode builds the
    index -> the querynode loads it. A reader on the querynode never sees a row twice or misses one."""
    from proto.milvus import milvus_pb2
    from tests.support.minicluster import MiniCluster

    mini = MiniCluster(tmp_path).start()
    try:
        stub = mini.milvus()
        schema = schema_pb2.CollectionSchema(name="h")
        schema.fields.add(name="id", data_type=schema_pb2.Int64, is_primary_key=True)
        vec = schema.fields.add(name="v", data_type=schema_pb2.FloatVector)
        vec.type_params.add(key="dim", value=str(DIM))
        assert stub.CreateCollection(milvus_pb2.CreateCollectionRequest(
            collection_name="h", schema=schema.SerializeToString())).code == 0
        assert stub.CreateIndex(milvus_pb2.CreateIndexRequest(collection_name="h", field_name="v", extra_params=[
            common_pb2.KeyValuePair(key="index_type", value="FLAT"),
            common_pb2.KeyValuePair(key="metric_type", value="L2")])).code == 0
        assert stub.LoadCollection(milvus_pb2.LoadCollectionRequest(collection_name="h")).code == 0
        wait_until(lambda: stub.GetLoadingProgress(
            milvus_pb2.GetLoadingProgressRequest(collection_name="h")).progress >= 100)
        vectors = np.random.default_rng(0).random((300, DIM), dtype=np.float32)
        request = milvus_pb2.InsertRequest(collection_name="h", num_rows=300)
        request.fields_data.add(type=schema_pb2.Int64, field_name="id").scalars.long_data.data.extend(range(300))
        fd = request.fields_data.add(type=schema_pb2.FloatVector, field_name="v")
        fd.vectors.dim = DIM
        fd.vectors.float_vector.data.extend(vectors.ravel().tolist())
        assert stub.Insert(request).status.code == 0

        node = next(s for s in mini.servers if s.role == "querynode")
        (channel, shard), = node.logic.shards().items()
        cid = shard.collection_id
        scope = dict(collection_id=cid, channel=channel, read_ts=MAX_TS)
        counter = querynode_pb2.ShardQueryRequest(scope=querynode_pb2.ReadScope(wait_for_latest=True, **scope),
                                                  count_only=True)
        assert query_rows(node, counter)[1] == 300
        assert shard.segment_ids()[0] == []
        failures: list[str] = []
        stop = threading.Event()

        def reader() -> None:
            req = querynode_pb2.ShardSearchRequest(scope=querynode_pb2.ReadScope(**scope), plan=search_plan(
                shard.schema.field("v"), vectors[:1], 400, metric="L2"))
            while not stop.is_set():
                n = query_rows(node, querynode_pb2.ShardQueryRequest(
                    scope=querynode_pb2.ReadScope(**scope), count_only=True))[1]
                hits = result_ids(search_results(node, req))[0]
                if n != 300 or sorted(hits) != list(range(300)):
                    failures.append(f"count={n} hits={len(hits)}")

        thread = threading.Thread(target=reader)
        thread.start()
        flush = stub.Flush(milvus_pb2.FlushRequest(collection_names=["h"]))
        assert flush.status.code == 0
        wait_until(lambda: shard.segment_ids()[0] and not shard.segment_ids()[1], 20, "handoff")
        wait_until(lambda: len(shard.indexed_build_ids()) == len(shard.segment_ids()[0]), 20, "index loaded")
        time.sleep(0.2)
        stop.set()
        thread.join()
        assert not failures, failures[:5]
        res = search_results(node, querynode_pb2.ShardSearchRequest(
            scope=querynode_pb2.ReadScope(**scope), plan=search_plan(shard.schema.field("v"), vectors[:2], 5,
                                                                     metric="L2")))
        want = np.argsort(((vectors[None, :2] - vectors[:, None]) ** 2).sum(-1).T, axis=1, kind="stable")[:, :5]
        assert result_ids(res) == want.tolist()
    finally:
        mini.stop()


def test_executor_binary_vectors_and_varchar_primary_keys():
    """Search/query straight on segments: VarChar keys, a binary vector field (HAMMING)."""
    from dataplane.delete_record import DeleteRecord
    from nodes.querynode.executor import query, search
    from nodes.querynode.segments import new_growing, snapshot
    from nodes.querynode.shard import ReadView

    user = schema_pb2.CollectionSchema(name="b", fields=[
        schema_pb2.FieldSchema(name="pk", data_type=int(DataType.VARCHAR), is_primary_key=True,
                               type_params=[common_pb2.KeyValuePair(key="max_length", value="16")]),
        schema_pb2.FieldSchema(name="bits", data_type=int(DataType.BINARY_VECTOR),
                               type_params=[common_pb2.KeyValuePair(key="dim", value="16")]),
    ])
    schema = schema_from_proto(complete_schema(user, "b"))
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 256, size=(40, 2), dtype=np.uint8)
    pks = np.empty(40, dtype=object)
    pks[:] = [f"k{i:02d}" for i in range(40)]
    segs = [new_growing(1, CID, PART, "ch", schema), new_growing(2, CID, PART, "ch", schema)]
    for seg, part in zip(segs, (slice(0, 25), slice(25, 40))):
        seg.append({"pk": pks[part], "bits": codes[part], "$ts": np.full(len(pks[part]), 10, np.uint64)})
    deletes = DeleteRecord()
    deletes.add(np.array(["k03"], dtype=object), 20)
    view = ReadView(segments=[snapshot(s) for s in segs], deletes=deletes)

    request = querynode_pb2.ShardSearchRequest(
        scope=querynode_pb2.ReadScope(read_ts=MAX_TS, filter=compiled_filter('pk != "k05"', schema),
                                      output_fields=["bits"]),
        plan=search_plan(schema.field("bits"), codes[[3, 30]], 6, index_type="BIN_FLAT"))
    res = search(view, schema, request, [])
    hamming = np.unpackbits(codes[[3, 30]][:, None, :] ^ codes[None, :, :], axis=2).sum(2)
    hamming[:, [3, 5]] = 99  # deleted / filtered out
    got = result_ids(res)
    for q in range(2):
        assert len(got[q]) == 6 and "k03" not in got[q] and "k05" not in got[q]
        assert sorted(hamming[q][[int(p[1:]) for p in got[q]]]) == sorted(np.sort(hamming[q])[:6])
    scores = np.asarray(res.scores).reshape(2, 6).tolist()
    assert scores == [sorted(r) for r in scores]
    assert res.fields_data[0].vectors.binary_vector[:2] == codes[int(got[0][0][1:])].tobytes()

    fields, n = query(view, schema, querynode_pb2.ShardQueryRequest(
        scope=querynode_pb2.ReadScope(read_ts=MAX_TS, filter=compiled_filter('pk in ["k30", "k03", "k01", "zz"]',
                                                                             schema)), limit=-1))
    assert list(fields[0].scalars.string_data.data) == ["k01", "k30"] and n == 2
    with pytest.raises(ParameterInvalid, match="dimension mismatch"):  # float vectors for a binary field
        plan = search_plan(schema.field("bits"), codes[[3]], 3)
        plan.vectors = b"\0" * 64
        search(view, schema, querynode_pb2.ShardSearchRequest(scope=querynode_pb2.ReadScope(read_ts=MAX_TS),
                                                              plan=plan), [])


def test_partition_loads_scope_reads_deletes_and_dropped_partitions(cluster):
    info = make_collection()
    ch = info.channels[0]
    cluster.datacoord.set(CID, datacoord_pb2.RecoveryInfo(checkpoints=[meta_pb2.ChannelCheckpoint(channel=ch)]))
    qc = cluster.querycoord.logic
    qc.load_partitions(datacoord_pb2.CollectionRequest(collection=info, partition_ids=[PART]))
    collection = datacoord_pb2.CollectionRequest(collection_id=CID)
    wait_until(lambda: qc.get_load_progress(collection).progress == 100, what="partition loaded")
    node = cluster.leader(ch)
    insert(cluster, info, ch, rows(range(0, 10)), ts=10, segment_id=960, partition_id=PART)
    insert(cluster, info, ch, rows(range(5, 25)), ts=11, segment_id=961, partition_id=PART2)  # pks 5..9 in both
    assert count(node, ch, strong=True) == 10  # loaded partitions only
    with pytest.raises(PartitionNotLoaded):
        query_rows(node, query_request(ch, strong=True, count_only=True, partitions=[PART2]))

    qc.load_partitions(datacoord_pb2.CollectionRequest(collection=info, partition_ids=[PART2]))
    wait_until(lambda: qc.get_load_progress(collection).progress == 100, what="second partition loaded")
    assert count(node, ch, strong=True) == 30
    assert count(node, ch, strong=True, partitions=[PART2]) == 20
    # a delete scoped to PART2 leaves the same pks of PART alone
    msg = dml_pb2.DeleteMsg(collection_id=CID, partition_id=PART2, timestamp=20)
    msg.primary_keys.int_id.data.extend([5, 6])
    cluster.broker.produce(ch, [(20, dml_pb2.DmlMsg(delete=msg).SerializeToString())])
    assert count(node, ch, strong=True, partitions=[PART]) == 10
    assert count(node, ch, strong=True, partitions=[PART2]) == 18

    # released: reads of PART2 fail at once; dropped: its growing rows are gone
    qc.release_partitions(datacoord_pb2.CollectionRequest(collection=info, partition_ids=[PART2]))
    wait_until(lambda: node.logic.shard(ch).status().partition_ids == [PART], what="release applied")
    with pytest.raises(PartitionNotLoaded):
        query_rows(node, query_request(ch, count_only=True, partitions=[PART2]))
    drop = dml_pb2.DropPartitionMsg(collection_id=CID, partition_id=PART2, timestamp=30)
    cluster.broker.produce(ch, [(30, dml_pb2.DmlMsg(drop_partition=drop).SerializeToString())])
    assert count(node, ch, strong=True) == 10
    wait_until(lambda: node.logic.shard(ch).segment_ids() == ([], [960]), what="growing rows of PART2 dropped")


def test_inserts_written_in_the_old_format_replay(cluster):
    """A broker log written before ``InsertMsg.columns`` existed (rows as wire FieldData) still
    loads: a shard consuming it serves the same rows as from the new format."""
    info = make_collection()
    ch = info.channels[0]
    old, new = rows(range(0, 50), seed=3), rows(range(50, 100), seed=4)
    insert(cluster, info, ch, old, ts=100, segment_id=700, old_format=True)
    insert(cluster, info, ch, new, ts=101, segment_id=700)
    cluster.load(info)
    node = cluster.leader(ch)
    fields, n = query_rows(node, query_request(ch, expr="id >= 0", output_fields=["age", "vec", "$meta"], limit=-1))
    by_name = {fd.field_name: fd for fd in fields}
    assert n == 100 and list(by_name["id"].scalars.long_data.data) == list(range(100))
    assert list(by_name["age"].scalars.long_data.data) == [p % 100 for p in range(100)]
    vecs = np.asarray(by_name["vec"].vectors.float_vector.data, dtype=np.float32).reshape(-1, DIM)
    np.testing.assert_array_equal(vecs, np.concatenate([old["vec"], new["vec"]]))
    meta = next(fd for fd in fields if fd.is_dynamic)
    assert [json.loads(m)["n"] for m in meta.scalars.json_data.data] == list(range(100))
