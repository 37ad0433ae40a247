"""`milvus-py run standalone` on an external 3-member etcd (``etcd_cluster.endpoints`` is a comma list):
it starts, and inserts and searches through pymilvus go on while one etcd member at a time is
killed and restarted — the leader first, then another. No acknowledged row is lost."""
from __future__ import annotations

import threading
import time

import numpy as np
from pymilvus import MilvusClient

from tests.support.standalone import StandaloneCluster


def test_standalone_on_three_etcd_members_survives_losing_one(tmp_path, s3_env, etcd_cluster) -> None:  # type: ignore[no-untyped-def]
    env = {**s3_env, "MILVUSPY_STORAGE_MINIO_BUCKET": "etcd-cluster", "MILVUSPY_ETCD_ENDPOINTS": etcd_cluster.endpoints}
    server = StandaloneCluster(tmp_path / "cluster", env).start()
    try:
        client = MilvusClient(server.uri)
        client.create_collection("etcdha", dimension=4, consistency_level="Strong")
        acknowledged: list[int] = []
        failures: list[str] = []
        stop = threading.Event()
        rng = np.random.default_rng(3)

        def load() -> None:
            next_id = 0
            for _ in range(2000):  # bounded; stopped long before
                if stop.is_set():
                    return
                ids = list(range(next_id, next_id + 20))
                next_id += 20
                try:
                    client.insert("etcdha", [{"id": i, "vector": rng.random(4).tolist()} for i in ids], timeout=20)
                    acknowledged.extend(ids)
                    client.search("etcdha", [rng.random(4).tolist()], limit=3, timeout=20)
                except Exception as exc:  # noqa: BLE001 - counted, and the test fails on it
                    failures.append(repr(exc)[:200])
                time.sleep(0.05)

        thread = threading.Thread(target=load, daemon=True)
        thread.start()
        time.sleep(2)
        for victim in (etcd_cluster.leader(), (etcd_cluster.leader() + 1) % 3):
            etcd_cluster.kill(victim)
            time.sleep(4)
            etcd_cluster.restart(victim)
            time.sleep(2)
        stop.set()
        thread.join(60)
        assert failures == []
        assert len(acknowledged) > 100
        found = {r["id"] for r in client.query("etcdha", filter="id >= 0", output_fields=["id"], limit=16384)}
        missing = set(acknowledged) - found
        assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:10]}"
        client.close()
    finally:
        server.stop()
