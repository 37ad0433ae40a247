"""The pymilvus flow on a standalone cluster whose log is NATS JetStream (``mq.type: natsmq``,
an embedded nats-server child instead of the broker role), across a full restart and a kill -9
of the datanode and the querynode."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import psutil
import pytest
from pymilvus import MilvusClient

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
