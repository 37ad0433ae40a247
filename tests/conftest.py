"""Session-wide servers, started lazily: only tests that request them pay for them."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The project is not installed into the venv; make `common` and `tests.support` importable
# however pytest is launched (`.venv/bin/pytest` puts only tests/ on sys.path).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from launcher.embedded_etcd import EmbeddedEtcd  # noqa: E402
from tests.support.etcd_cluster import EtcdCluster  # noqa: E402
from tests.support.seaweed import SeaweedS3  # noqa: E402


@dataclass(frozen=True)
class S3Server:
    """Where the session's S3 server listens and how to log in."""

    endpoint: str
    access_key: str
    secret_key: str


@pytest.fixture(scope="session")
def etcd_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:port`` of an etcd shared by the session; give each test its own root path."""
    with EmbeddedEtcd(tmp_path_factory.mktemp("etcd"), unsafe_no_fsync=True) as etcd:
        yield etcd.endpoint


@pytest.fixture
def etcd_cluster(tmp_path: Path) -> Iterator[EtcdCluster]:
    """A 3-member etcd cluster of the test's own (fault tests kill, pause and restart members)."""
    with EtcdCluster(tmp_path / "etcd-cluster") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server shared by the session; give each test its own bucket or root."""
    with SeaweedS3(tmp_path_factory.mktemp("seaweed")) as server:
        yield S3Server(server.endpoint, server.access_key, server.secret_key)
