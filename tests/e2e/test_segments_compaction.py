"""Flush segment ids, GetPersistentSegmentInfo, GetQuerySegmentInfo and manual compaction on a
real multi-process cluster with two query nodes, through pymilvus (MilvusClient, ORM and, for
the Flush response that pymilvus does not return, its raw gRPC stub).

The compaction test runs searches and ``count(*)`` queries in a loop while two shards (one per
query node) compact five small segments each, purging deleted rows; every answer is checked
against NumPy exact search over the live rows: no row is ever missing, duplicated or deleted."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import grpc
import numpy as np
import pytest
from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, MilvusClient, connections, utility
from pymilvus.client.types import State
from pymilvus.exceptions import MilvusException
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc

from tests.support.standalone import StandaloneCluster

DIM = 8
NLIST = 8
BATCHES = 5
BATCH_ROWS = 200
INDEX = {"index_type": "IVF_FLAT", "metric_type": "L2", "params": {"nlist": NLIST}}
SEARCH = {"metric_type": "L2", "params": {"nprobe": NLIST}}  # every list probed: exact


@pytest.fixture(scope="module")
def cluster2(tmp_path_factory: pytest.TempPathFactory, s3_env: dict[str, str]) -> Iterator[StandaloneCluster]:
    """A cluster of this module's own with two query nodes."""
    env = {**s3_env, "MILVUSPY_STORAGE_MINIO_BUCKET": "segments-compaction"}
    server = StandaloneCluster(tmp_path_factory.mktemp("cluster2"), env, querynodes=2).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(cluster2: StandaloneCluster) -> Iterator[MilvusClient]:
    c = MilvusClient(cluster2.uri)
    yield c
    c.close()


@pytest.fixture(scope="module")
def stub(cluster2: StandaloneCluster) -> Iterator[milvus_pb2_grpc.MilvusServiceStub]:
    channel = grpc.insecure_channel(f"127.0.0.1:{cluster2.port}")
    yield milvus_pb2_grpc.MilvusServiceStub(channel)
    channel.close()


@pytest.fixture()
def orm(cluster2: StandaloneCluster) -> Iterator[None]:
    connections.connect("default", uri=cluster2.uri)
    yield
    connections.disconnect("default")


def wait_for(predicate: Callable[[], object], timeout_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _collection(name: str) -> Collection:
    """A Strong 2-shard collection (id, vec) with an IVF_FLAT index, not loaded."""
    if utility.has_collection(name):
        utility.drop_collection(name)
    schema = CollectionSchema([FieldSchema("id", DataType.INT64, is_primary=True),
                               FieldSchema("vec", DataType.FLOAT_VECTOR, dim=DIM)])
    collection = Collection(name, schema, consistency_level="Strong", shards_num=2)
    collection.create_index("vec", INDEX, index_name="vec_idx")
    return collection


def _flush(stub: milvus_pb2_grpc.MilvusServiceStub, name: str) -> milvus_pb2.FlushResponse:
    """Flush over raw gRPC (pymilvus drops the response), then wait as pymilvus does."""
    response = stub.Flush(milvus_pb2.FlushRequest(collection_names=[name]))
    assert response.status.code == 0, response.status.reason
    wait_for(lambda: stub.GetFlushState(milvus_pb2.GetFlushStateRequest(
        collection_name=name, flush_ts=response.coll_flush_ts[name])).flushed, what="flush")
    return response


# ---------------------------------------------------------------------------------------------
def test_flush_ids_persistent_and_query_segment_info(orm, client: MilvusClient, stub) -> None:  # type: ignore[no-untyped-def]
    name = "segment_info"
    collection = _collection(name)
    rng = np.random.default_rng(1)
    sealed: list[int] = []
    for batch in range(2):
        ids = list(range(batch * 300, batch * 300 + 300))
        collection.insert([ids, rng.random((300, DIM), dtype=np.float32)])
        response = _flush(stub, name)
        assert list(response.flush_coll_segIDs[name].data) == sealed  # flushed before this one
        new = list(response.coll_segIDs[name].data)
        assert len(new) == 2 and not set(new) & set(sealed)  # one growing segment per shard
        sealed += new

    persistent = client.list_persistent_segments(name)
    assert sorted(s.segment_id for s in persistent) == sorted(sealed)
    assert sum(s.num_rows for s in persistent) == 600 and all(0 < s.num_rows < 300 for s in persistent)
    infos = stub.GetPersistentSegmentInfo(milvus_pb2.GetPersistentSegmentInfoRequest(collectionName=name)).infos
    assert {i.segmentID for i in infos} == set(sealed)
    assert all(i.state == common_pb2.SegmentState.Flushed and i.collectionID == collection.describe()["collection_id"]
               for i in infos)

    utility.wait_for_index_building_complete(name)
    collection.load()
    wait_for(lambda: sorted(i.segmentID for i in utility.get_query_segment_info(name)) == sorted(sealed),
             what="segments loaded")
    wait_for(lambda: all(i.index_name == "vec_idx" for i in utility.get_query_segment_info(name)),
             what="indexes loaded")
    loaded = client.list_loaded_segments(name)
    rows = {s.segment_id: s.num_rows for s in persistent}
    nodes = set()
    for seg in loaded:
        assert seg.num_rows == rows[seg.segment_id] and seg.index_name == "vec_idx" and seg.index_id > 0
        assert len(seg.node_ids) == 1 and seg.state == common_pb2.SegmentState.Sealed
        assert seg.mem_size >= seg.num_rows * DIM * 4  # at least the vectors
        nodes.update(seg.node_ids)
    assert len(nodes) == 2  # each query node leads one shard and holds its segments

    for call in (lambda: client.list_persistent_segments("no_such"), lambda: client.list_loaded_segments("no_such"),
                 lambda: client.compact("no_such")):
        with pytest.raises(MilvusException) as err:
            call()
        assert err.value.code == 100
    collection.release()
    with pytest.raises(MilvusException) as err:
        utility.get_query_segment_info(name)
    assert err.value.code == 101  # not loaded
    assert sorted(s.segment_id for s in client.list_persistent_segments(name)) == sorted(sealed)
    collection.drop()


# ---------------------------------------------------------------------------------------------
class Reader(threading.Thread):
    """Searches and counts in a loop; every answer is compared with NumPy exact search over the
    live rows (``live`` may change between phases: set it only while no read runs)."""

    def __init__(self, uri: str, name: str, vectors: np.ndarray, live: np.ndarray) -> None:
        super().__init__(daemon=True)
        self.client = MilvusClient(uri)
        self.name, self.vectors, self.live = name, vectors, live
        self.stop_event = threading.Event()
        self.errors: list[str] = []
        self.reads = 0
        self.rng = np.random.default_rng(5)

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                self.check_once()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.client.close()

    def check_once(self) -> None:
        queries = self.vectors[self.rng.integers(0, len(self.vectors), 3)]
        results = self.client.search(self.name, queries.tolist(), limit=10, search_params=SEARCH)
        base = self.vectors[self.live]
        for q, hits in enumerate(results):
            ids = [h["id"] for h in hits]
            got = np.array([h["distance"] for h in hits])
            exact = np.sort(((base - queries[q]) ** 2).sum(1))[:10]
            truth = ((self.vectors[ids] - queries[q]) ** 2).sum(1)
            if len(set(ids)) != len(ids) or not set(ids) <= set(self.live.tolist()):
                self.errors.append(f"duplicate or deleted rows in {ids}")
            elif not (np.allclose(got, truth, rtol=1e-4, atol=1e-5) and np.allclose(got, exact, rtol=1e-4, atol=1e-5)):
                self.errors.append(f"search {ids}: {got.tolist()} != exact {exact.tolist()}")
        count = self.client.query(self.name, output_fields=["count(*)"])[0]["count(*)"]
        if count != len(self.live):
            self.errors.append(f"count(*) {count} != {len(self.live)}")
        self.reads += 1

    def stop(self) -> None:
        self.stop_event.set()
        self.join(60)


def test_compaction_merges_and_purges_while_searches_stay_exact(orm, client: MilvusClient, cluster2) -> None:  # type: ignore[no-untyped-def]
    name = "compaction"
    collection = _collection(name)
    rng = np.random.default_rng(2)
    total = BATCHES * BATCH_ROWS
    vectors = rng.random((total, DIM), dtype=np.float32)
    for batch in range(BATCHES):
        ids = np.arange(batch * BATCH_ROWS, (batch + 1) * BATCH_ROWS)
        collection.insert([ids.tolist(), vectors[ids]])
        collection.flush()
    utility.wait_for_index_building_complete(name)
    collection.load()
    sources = {s.segment_id: s.num_rows for s in client.list_persistent_segments(name)}
    assert len(sources) == 2 * BATCHES and sum(sources.values()) == total
    deleted = np.concatenate([np.arange(0, 40), np.arange(500, 530), np.arange(990, 1000)])
    collection.delete(f"id in {deleted.tolist()}")
    collection.flush()  # the deletes reach the delta logs that compaction applies
    live = np.setdiff1d(np.arange(total), deleted)
    wait_for(lambda: len(utility.get_query_segment_info(name)) == 2 * BATCHES, what="sources loaded")

    reader = Reader(cluster2.uri, name, vectors, live)
    reader.start()
    try:
        wait_for(lambda: reader.reads >= 3 or reader.errors, what="reads before compaction")
        collection.compact()  # the ORM keeps the id for the calls below
        assert collection.compaction_id > 0
        collection.wait_for_compaction_completed(timeout=120)
        state = collection.get_compaction_state()
        assert state.state == State.Completed and state.completed == 2 and state.in_executing == 0
        plans = collection.get_compaction_plans()
        assert plans.state == State.Completed and len(plans.plans) == 2  # one per shard
        assert sorted(s for p in plans.plans for s in p.sources) == sorted(sources)
        targets = {p.target: p.sources for p in plans.plans}
        assert not set(targets) & set(sources)

        persistent = {s.segment_id: s.num_rows for s in client.list_persistent_segments(name)}
        assert set(persistent) == set(targets)
        assert sum(persistent.values()) == len(live)  # the deleted rows are gone from the new segments
        for target, merged in targets.items():
            assert len(merged) == BATCHES and persistent[target] <= sum(sources[s] for s in merged)
        wait_for(lambda: {i.segmentID for i in utility.get_query_segment_info(name)} == set(targets),
                 what="query nodes switched to the targets")
        assert all(i.index_name == "vec_idx" for i in utility.get_query_segment_info(name))
        start = reader.reads
        wait_for(lambda: reader.reads >= start + 3 or reader.errors, what="reads after compaction")
    finally:
        reader.stop()
    assert not reader.errors, reader.errors[:5]
    assert reader.reads >= 6
    assert collection.num_entities == len(live)

    # Nothing left to merge: Milvus answers -1, which reads as Completed.
    again = client.compact(name)
    assert again == -1 and client.get_compaction_state(again) == "Completed"
    collection.drop()
