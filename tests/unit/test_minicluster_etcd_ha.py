"""A whole cluster (MiniCluster, roles over gRPC) on a real 3-member etcd, with inserts and
searches running while one etcd member is killed and brought back — first the leader, then the
(follower) member the roles' client is using. Operations continue (each retried a bounded number of
times), and every acknowledged row is there exactly once at the end."""
from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import numpy as np

from common.kv.etcd import EtcdKV
from proto.milvus import common_pb2, milvus_pb2, schema_pb2
from tests.support.etcd_cluster import EtcdCluster
from tests.support.mini_requests import DIM, create_collection, ok, wait_until
from tests.support.minicluster import MiniCluster

BATCH = 20
ATTEMPTS = 5  # per operation: an operation that fails this many times fails the test


class Load(threading.Thread):
    """Inserts batches of fresh ids and searches, until stopped (at most ``max_rounds``)."""

    def __init__(self, stub, name: str, max_rounds: int = 2000) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.stub = stub
        self.name_ = name
        self.max_rounds = max_rounds
        self.acked: set[int] = set()
        self.unsure: set[int] = set()  # inserts that answered an error: may or may not be there
        self.errors: list[str] = []
        self.gave_up: list[str] = []
        self.longest_s = 0.0
        self.halt = threading.Event()
        self.rng = np.random.default_rng(1)

    def _retry(self, what: str, method, request) -> bool:  # type: ignore[no-untyped-def]
        start = time.monotonic()
        for _ in range(ATTEMPTS):
            status = method(request).status
            if status.code == 0:
                self.longest_s = max(self.longest_s, time.monotonic() - start)
                return True
            self.errors.append(f"{what}: {status.code} {status.reason}")
            time.sleep(0.5)
        self.gave_up.append(what)
        return False

    def run(self) -> None:
        for round_ in range(self.max_rounds):
            if self.halt.is_set():
                return
            ids = np.arange(round_ * BATCH, (round_ + 1) * BATCH, dtype=np.int64)
            request = milvus_pb2.InsertRequest(collection_name=self.name_, num_rows=BATCH)
            request.fields_data.add(type=schema_pb2.Int64, field_name="id").scalars.long_data.data.extend(ids.tolist())
            request.fields_data.add(type=schema_pb2.Double, field_name="score").scalars.double_data.data.extend(
                (ids * 0.5).tolist())
            vec = request.fields_data.add(type=schema_pb2.FloatVector, field_name="v")
            vec.vectors.dim = DIM
            vec.vectors.float_vector.data.extend(self.rng.random(BATCH * DIM).tolist())
            if self._retry("insert", self.stub.Insert, request):
                self.acked.update(ids.tolist())
            else:
                self.unsure.update(ids.tolist())
            group = common_pb2.PlaceholderGroup()
            group.placeholders.add(tag="$0", type=common_pb2.FloatVector,
                                   values=[struct.pack(f"{DIM}f", *self.rng.random(DIM))])
            search = milvus_pb2.SearchRequest(
                collection_name=self.name_, placeholder_group=group.SerializeToString(), nq=1,
                search_params=[common_pb2.KeyValuePair(key="topk", value="5"),
                               common_pb2.KeyValuePair(key="params", value="{}")])
            self._retry("search", self.stub.Search, search)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=120)

    def wait_for_more(self, rows: int) -> None:
        """Wait until ``rows`` more rows have been acknowledged."""
        target = len(self.acked) + rows
        wait_until(lambda: len(self.acked) >= target, timeout_s=30)


def _all_ids(stub, name: str) -> list[int]:  # type: ignore[no-untyped-def]
    result = stub.Query(milvus_pb2.QueryRequest(collection_name=name, expr="id >= 0", output_fields=["id"],
                                                consistency_level=common_pb2.Strong))
    ok(result.status)
    return list(result.fields_data[0].scalars.long_data.data)


def test_cluster_survives_losing_an_etcd_member(tmp_path: Path, etcd_cluster: EtcdCluster) -> None:
    etcd = etcd_cluster
    kv = EtcdKV(etcd.endpoints, "by-dev")
    mini = MiniCluster(tmp_path / "data", kv=kv, etcd={"session_ttl_s": 5}).start()
    try:
        stub = mini.milvus()
        create_collection(stub, "ha")
        load = Load(stub, "ha")
        load.start()
        wait_until(lambda: len(load.acked) >= 5 * BATCH)
        for victim in ("leader", "in-use"):
            leader = etcd.leader()
            while etcd.index_of(kv.endpoint_in_use) == leader:  # the roles use a follower
                kv._pool.failed(kv._pool.current())
            target = leader if victim == "leader" else etcd.index_of(kv.endpoint_in_use)
            etcd.kill(target)
            load.wait_for_more(5 * BATCH)
            time.sleep(6)  # longer than a session lives without keepalives
            etcd.restart(target)
            load.wait_for_more(3 * BATCH)
        load.stop()
        assert load.gave_up == [], load.errors
        flush = stub.Flush(milvus_pb2.FlushRequest(collection_names=["ha"]))
        ok(flush.status)
        wait_until(lambda: stub.GetFlushState(milvus_pb2.GetFlushStateRequest(
            collection_name="ha", flush_ts=flush.coll_flush_ts["ha"])).flushed, timeout_s=60)
        found = _all_ids(stub, "ha")
        assert len(found) == len(set(found)), "rows duplicated"
        assert load.acked <= set(found), f"acknowledged rows lost: {sorted(load.acked - set(found))[:10]}"
        assert set(found) <= load.acked | load.unsure
        sessions = {key for key, _ in kv.get_prefix("session/")}
        assert len(sessions) == len(mini.servers), sessions  # no role lost its session
        print(f"\n{len(load.acked)} rows acknowledged and found; longest insert/search with retries "
              f"{load.longest_s:.2f} s; {len(load.errors)} failed attempts: {load.errors[:3]}")
    finally:
        mini.stop(keep_children=[m.pid for m in etcd.members if m.pid])
