"""End-to-end fixtures: a real multi-process standalone cluster (embedded real etcd, ZeroMQ
broker, every role its own process) storing segments in a real S3 server (SeaweedFS)."""
from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from pymilvus import connections
from pymilvus.grpc_gen import milvus_pb2_grpc

from tests.support.standalone import StandaloneCluster


@pytest.fixture(scope="session")
def s3_env(s3_server) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "MILVUSPY_STORAGE_TYPE": "minio",
        "MILVUSPY_STORAGE_MINIO_ENDPOINT": s3_server.endpoint,
        "MILVUSPY_STORAGE_MINIO_ACCESS_KEY": s3_server.access_key,
        "MILVUSPY_STORAGE_MINIO_SECRET_KEY": s3_server.secret_key,
    }


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, s3_env: dict[str, str]) -> Iterator[StandaloneCluster]:
    """One cluster shared by the tests that do not restart or kill it."""
    env = {**s3_env, "MILVUSPY_STORAGE_MINIO_BUCKET": "shared"}
    server = StandaloneCluster(tmp_path_factory.mktemp("cluster"), env).start()
    yield server
    server.stop()


@pytest.fixture()
def own_cluster(tmp_path, s3_env: dict[str, str], request) -> Iterator[StandaloneCluster]:  # type: ignore[no-untyped-def]
    """A cluster of the test's own (for restart and kill tests), in its own bucket."""
    bucket = ("t" + request.node.name.replace("_", "-").lower()[:40]).rstrip("-")  # S3: no trailing "-"
    server = StandaloneCluster(tmp_path / "cluster", {**s3_env, "MILVUSPY_STORAGE_MINIO_BUCKET": bucket}).start()
    yield server
    server.stop()


@pytest.fixture()
def orm(cluster: StandaloneCluster) -> Iterator[None]:
    """The ORM's default connection to the shared cluster."""
    connections.connect("default", uri=cluster.uri)
    yield
    connections.disconnect("default")


@pytest.fixture(scope="session")
def raw(cluster: StandaloneCluster) -> Iterator[milvus_pb2_grpc.MilvusServiceStub]:
    """pymilvus's generated MilvusService stub on the shared cluster, for the RPCs and fields
    pymilvus's API does not expose."""
    channel = grpc.insecure_channel(f"127.0.0.1:{cluster.port}")
    yield milvus_pb2_grpc.MilvusServiceStub(channel)
    channel.close()
