"""Two proxies and two instances of each coordinator (``milvus-py run standalone --coordinators 2
--proxies 2``): the proxies see each other's DDL and DML at once, and kill -9 of the active
instance of each coordinator in turn, under inserts, loses nothing: operations resume once the
standby took over."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyetcd
import pytest
from pymilvus import MilvusClient

from common.net import free_port
from tests.support.standalone import StandaloneCluster

DIM = 4


@pytest.fixture()
def ha_cluster(tmp_path: Path, etcd_endpoint: str) -> Iterator[tuple[StandaloneCluster, Any, str]]:
    root = f"ha-{uuid.uuid4().hex[:8]}"
    cluster = StandaloneCluster(tmp_path / "cluster", {"MILVUSPY_ETCD_ENDPOINTS": etcd_endpoint,
                                                       "MILVUSPY_ETCD_ROOT_PATH": root},
                                extra_args=("--coordinators", "2", "--proxies", "2"))
    while not _port_free(cluster.port + 1):  # the second proxy serves on PORT + 1
        cluster.port = free_port()
    host, port = etcd_endpoint.rsplit(":", 1)
    etcd = pyetcd.client(host=host, port=int(port))
    cluster.start()
    try:
        yield cluster, etcd, root
    finally:
        cluster.stop()
        etcd.close()


def _port_free(port: int) -> bool:
    return all(c.laddr.port != port for c in psutil.net_connections(kind="tcp"))


def _active_pid(etcd: Any, root: str, role: str) -> int | None:
    value, _ = etcd.get(f"{root}/coordinator/active/{role}")
    return None if value is None else int(json.loads(value)["pid"])


def _eventually(action: Callable[[], Any], timeout_s: float = 45.0) -> Any:
    """``action()``'s result once it stops failing (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return action()
        except Exception:  # noqa: BLE001 - still failing over
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def _wait_until(predicate: Callable[[], bool], timeout_s: float = 45.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def _rows(ids: list[int], rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"id": i, "vector": rng.random(DIM).tolist()} for i in ids]


def _kill_active(cluster: StandaloneCluster, etcd: Any, root: str, role: str, first: MilvusClient,
                 second: MilvusClient, acknowledged: list[int]) -> None:
    """kill -9 the active instance of ``role``; wait until the standby took over and DDL,
    search and inserts work again through both proxies."""
    old = _active_pid(etcd, root, role)
    assert old is not None and len(cluster.role_processes(role)) == 2
    psutil.Process(old).kill()
    killed_at = time.monotonic()
    _wait_until(lambda: _active_pid(etcd, root, role) not in (None, old))
    _eventually(lambda: first.create_collection(f"after_{role}", dimension=DIM))
    assert _eventually(lambda: second.has_collection(f"after_{role}"))
    _eventually(lambda: first.search("ha", data=[[0.5] * DIM], limit=3))
    print(f"{role}: DDL and search back {time.monotonic() - killed_at:.1f} s after kill -9")
    start = len(acknowledged)
    _wait_until(lambda: len(acknowledged) > start)  # inserts resume


def test_two_proxies_and_coordinator_failover(ha_cluster: tuple[StandaloneCluster, Any, str]) -> None:
    cluster, etcd, root = ha_cluster
    first = MilvusClient(cluster.uri)
    # the cluster is ready once the first proxy serves; the second may still be starting
    second = _eventually(lambda: MilvusClient(f"http://127.0.0.1:{cluster.port + 1}", timeout=3))
    rng = np.random.default_rng(7)

    # item 5: create through one proxy, insert through the other, search through the first
    first.create_collection("shared", dimension=DIM, consistency_level="Strong")
    assert second.has_collection("shared")
    second.insert("shared", _rows(list(range(100)), rng))
    hits = first.search("shared", data=[rng.random(DIM).tolist()], limit=5, consistency_level="Strong")
    assert len(hits[0]) == 5
    assert first.query("shared", filter="", output_fields=["count(*)"])[0]["count(*)"] == 100
    second.drop_collection("shared")
    assert not first.has_collection("shared")

    # item 4: kill -9 the active instance of each coordinator in turn, under inserts
    first.create_collection("ha", dimension=DIM, consistency_level="Strong")
    acknowledged: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        next_id = 0
        writer_rng = np.random.default_rng(3)
        while not stop.is_set():
            ids = list(range(next_id, next_id + 20))
            next_id += 20
            try:
                second.insert("ha", _rows(ids, writer_rng), timeout=20)
                acknowledged.extend(ids)
            except Exception:  # noqa: BLE001 - not acknowledged
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        for role in ("rootcoord", "datacoord", "querycoord"):
            _kill_active(cluster, etcd, root, role, first, second, acknowledged)
    finally:
        stop.set()
        thread.join(30)
    assert acknowledged

    _eventually(lambda: first.flush("ha"))
    found = first.query("ha", filter="id >= 0", output_fields=["id"], limit=16384, consistency_level="Strong")
    ids = [r["id"] for r in found]
    assert len(ids) == len(set(ids)), "duplicated rows"
    missing = set(acknowledged) - set(ids)
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:10]}"
    assert set(first.list_collections()) >= {"ha", "after_rootcoord", "after_datacoord", "after_querycoord"}
    first.close()
    second.close()
