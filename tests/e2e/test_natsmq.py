"""The pymilvus flow on a standalone cluster whose log is NATS JetStream (``mq.type: natsmq``):
with an embedded nats-server child instead of the broker role, across a full restart and a
kill -9 of the datanode and the querynode; and on an external 3-server JetStream cluster (R3)
that loses a server under inserts."""
from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import psutil
import pytest
from pymilvus import MilvusClient

from launcher.embedded_nats import nats_cluster as make_nats_cluster  # no server code: a child process
from tests.support.standalone import StandaloneCluster


@pytest.fixture()
def nats_cluster(tmp_path, s3_env: dict[str, str]) -> Iterator[StandaloneCluster]:  # type: ignore[no-untyped-def]
    env = {**s3_env, "MILVUSPY_STORAGE_MINIO_BUCKET": "natsmq-e2e", "MILVUSPY_MQ_TYPE": "natsmq"}
    server = StandaloneCluster(tmp_path / "cluster", env).start()
    yield server
    server.stop()


def _count(client: MilvusClient, name: str) -> int:
    return client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]


def _nats_servers(cluster: StandaloneCluster) -> list[psutil.Process]:
    assert cluster.process is not None
    return [p for p in psutil.Process(cluster.process.pid).children(recursive=True) if p.name() == "nats-server"]


def test_pymilvus_flow_on_natsmq_survives_restart_and_kills(nats_cluster: StandaloneCluster) -> None:
    servers = _nats_servers(nats_cluster)
    assert len(servers) == 1 and nats_cluster.role_processes("broker") == []
    client = MilvusClient(nats_cluster.uri)
    client.create_collection("nq", dimension=8, consistency_level="Strong")
    rng = np.random.default_rng(7)
    vectors = rng.random((600, 8)).astype(np.float32)
    client.insert("nq", [{"id": i, "vector": vectors[i].tolist(), "k": i} for i in range(400)])
    client.flush("nq")
    client.insert("nq", [{"id": i, "vector": vectors[i].tolist(), "k": i} for i in range(400, 600)])
    client.upsert("nq", [{"id": 7, "vector": vectors[7].tolist(), "k": -7}])
    client.delete("nq", ids=[0, 1, 500])
    assert _count(client, "nq") == 597
    hits = client.search("nq", [vectors[450].tolist()], limit=3, output_fields=["k"])[0]
    assert hits[0]["id"] == 450 and hits[0]["entity"]["k"] == 450
    assert client.get("nq", ids=[7])[0]["k"] == -7
    client.close()

    nats_cluster.stop()
    assert not servers[0].is_running()   # the embedded nats-server stopped with the cluster
    nats_cluster.start()

    client = MilvusClient(nats_cluster.uri)
    client.load_collection("nq")
    assert _count(client, "nq") == 597
    assert client.get("nq", ids=[0, 1, 500]) == [] and client.get("nq", ids=[7])[0]["k"] == -7
    for role in ("datanode", "querynode"):   # both resume from their positions in the streams
        assert nats_cluster.kill_role(role) == 1
    client.insert("nq", [{"id": 1000, "vector": vectors[3].tolist(), "k": 1000}], timeout=60)
    assert _count(client, "nq") == 598
    assert client.query("nq", filter="id == 1000", output_fields=["k"])[0]["k"] == 1000
    client.close()


def test_r3_cluster_losing_a_server_loses_no_acknowledged_row(tmp_path, s3_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    nodes = make_nats_cluster(tmp_path / "nats")
    for n in nodes:
        n.start()
    env = {**s3_env, "MILVUSPY_STORAGE_MINIO_BUCKET": "natsmq-r3", "MILVUSPY_MQ_TYPE": "natsmq",
           "MILVUSPY_MQ_NATSMQ_SERVERS": ",".join(n.endpoint for n in nodes), "MILVUSPY_MQ_NATSMQ_REPLICAS": "3"}
    cluster = StandaloneCluster(tmp_path / "cluster", env)
    try:
        cluster.start()
        assert _nats_servers(cluster) == []   # the configured servers, no embedded one
        client = MilvusClient(cluster.uri)
        client.create_collection("r3", dimension=4, consistency_level="Strong")
        rng = np.random.default_rng(3)
        acknowledged: list[int] = []
        failed_for_s = 0.0
        for batch in range(30):
            if batch == 10:
                nodes[0].kill()
            ids = list(range(batch * 20, batch * 20 + 20))
            t0 = time.monotonic()
            try:
                client.insert("r3", [{"id": i, "vector": rng.random(4).tolist()} for i in ids], timeout=30)
                acknowledged += ids
            except Exception:  # noqa: BLE001 - a failed insert is not acknowledged
                failed_for_s += time.monotonic() - t0
        assert len(acknowledged) >= 26 * 20 and failed_for_s < 10
        deadline = time.monotonic() + 30
        while True:   # Strong reads wait for the querynode to catch up with the stream
            try:
                rows = client.query("r3", filter="id >= 0", output_fields=["id"], limit=16384)
                break
            except Exception:  # noqa: BLE001 - the read path may still be failing over
                assert time.monotonic() < deadline
                time.sleep(0.5)
        got = sorted(r["id"] for r in rows)
        assert set(acknowledged) <= set(got) and len(got) == len(set(got))
        client.close()
    finally:
        cluster.stop()
        for n in nodes:
            n.stop()
