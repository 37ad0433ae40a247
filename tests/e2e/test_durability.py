"""Nothing acknowledged is lost: across a full restart, and when a role is killed with -9."""
from __future__ import annotations

import threading
import time

import numpy as np
from pymilvus import MilvusClient


def _count(client: MilvusClient, name: str) -> int:
    return client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]


def test_full_restart_keeps_collections_indexes_and_rows(own_cluster) -> None:  # type: ignore[no-untyped-def]
    client = MilvusClient(own_cluster.uri)
    client.create_collection("durable", dimension=4, consistency_level="Strong")
    rng = np.random.default_rng(1)
    client.insert("durable", [{"id": i, "vector": rng.random(4).tolist(), "k": i} for i in range(300)])
    client.flush("durable")
    client.insert("durable", [{"id": i, "vector": rng.random(4).tolist(), "k": i} for i in range(300, 500)])
    client.delete("durable", ids=[0, 1, 400])
    client.close()

    own_cluster.stop()
    own_cluster.start()

    client = MilvusClient(own_cluster.uri)
    assert "durable" in client.list_collections()
    assert client.list_indexes("durable") == ["vector"]
    client.load_collection("durable")
    assert _count(client, "durable") == 497
    assert client.get("durable", ids=[0, 1, 400]) == []
    assert client.get("durable", ids=[450])[0]["k"] == 450
    client.close()


def test_kill_9_during_inserts_loses_no_acknowledged_row(own_cluster) -> None:  # type: ignore[no-untyped-def]
    client = MilvusClient(own_cluster.uri)
    client.create_collection("killed", dimension=4, consistency_level="Strong")
    acknowledged: list[int] = []
    stop = threading.Event()
    rng = np.random.default_rng(2)

    def writer() -> None:
        next_id = 0
        while not stop.is_set():
            ids = list(range(next_id, next_id + 50))
            try:
                client.insert("killed", [{"id": i, "vector": rng.random(4).tolist()} for i in ids], timeout=20)
                acknowledged.extend(ids)
            except Exception:  # noqa: BLE001 - a failed insert is not acknowledged
                pass
            next_id += 50
            time.sleep(0.05)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    for role in ("datanode", "querynode", "broker"):
        time.sleep(1.5)
        assert own_cluster.kill_role(role) >= 1
        if role == "datanode":
            client.flush("killed")
    time.sleep(1.5)
    stop.set()
    thread.join(30)
    assert acknowledged

    own_cluster.stop()
    own_cluster.start()
    client = MilvusClient(own_cluster.uri)
    client.load_collection("killed")
    found = {r["id"] for r in client.query("killed", filter="id >= 0", output_fields=["id"], limit=16384)}
    missing = set(acknowledged) - found
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:10]}"
    client.close()


def test_kill_9_of_the_supervisor_leaves_no_process_and_restarts(own_cluster) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL of `milvus-py run standalone` (an OOM kill, a container runtime): its children
    (roles, embedded etcd) end with it, and the same data dir starts again with every
    acknowledged row."""
    import psutil

    client = MilvusClient(own_cluster.uri)
    client.create_collection("orphans", dimension=4, consistency_level="Strong")
    rng = np.random.default_rng(3)
    client.insert("orphans", [{"id": i, "vector": rng.random(4).tolist()} for i in range(120)])
    client.close()
    assert own_cluster.process is not None
    children = psutil.Process(own_cluster.process.pid).children(recursive=True)
    assert any("etcd" in " ".join(c.cmdline()) for c in children) and len(children) >= 8
    own_cluster.process.kill()
    own_cluster.process.wait()
    gone, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, [" ".join(p.cmdline()) for p in alive]

    own_cluster.start()
    client = MilvusClient(own_cluster.uri)
    client.load_collection("orphans")
    assert _count(client, "orphans") == 120
    client.close()
