"""Query replicas through pymilvus on a standalone cluster with two querynodes: a load with
replica_number=2 puts one replica on each node (describe_replica and the ORM's get_replicas
say so); searches run in a loop while one querynode process is killed with kill -9 (or hung
with SIGSTOP), and no read fails or waits for longer than 5 s; every answer equals the one
before the failure (NumPy exact search). The node comes back (the supervisor restarts a killed
one; a stopped one gets SIGCONT) and both replicas serve again."""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, MilvusClient, connections

from tests.support.standalone import StandaloneCluster

DIM = 8
ROWS = 1200
K = 5
MAX_OUTAGE_S = 5.0
AFTER_KILL_S = 12.0


@pytest.fixture()
def two_querynodes(tmp_path, s3_env) -> Iterator[StandaloneCluster]:  # type: ignore[no-untyped-def]
    server = StandaloneCluster(tmp_path / "cluster", {**s3_env, "MILVUSPY_STORAGE_MINIO_BUCKET": "replicas"},
                               querynodes=2).start()
    connections.connect("default", uri=server.uri)
    yield server
    connections.disconnect("default")
    server.stop()


def _wait(predicate, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _serving(client: MilvusClient, name: str, replicas: int) -> bool:
    found = client.describe_replica(name)
    return len(found) == replicas and all(s.shard_leader for r in found for s in r.shards)


@pytest.mark.parametrize("failure", [signal.SIGKILL, signal.SIGSTOP], ids=["kill", "hang"])
def test_replicas_serve_reads_through_a_querynode_failure(two_querynodes: StandaloneCluster,
                                                          failure: signal.Signals) -> None:
    assert len(two_querynodes.role_processes("querynode")) == 2
    schema = CollectionSchema([FieldSchema("pk", DataType.INT64, is_primary=True),
                               FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM)])
    collection = Collection("replicated", schema, consistency_level="Strong", shards_num=2)
    vectors = np.random.default_rng(17).random((ROWS, DIM), dtype=np.float32)
    half = ROWS // 2
    collection.insert([list(range(half)), vectors[:half]])
    collection.flush()  # half sealed, half growing: both kinds are served by each replica
    collection.insert([list(range(half, ROWS)), vectors[half:]])
    collection.create_index("v", {"index_type": "FLAT", "metric_type": "L2"})
    collection.load(replica_number=2)

    client = MilvusClient(two_querynodes.uri)
    try:
        _wait(lambda: _serving(client, "replicated", 2))
        replicas = client.describe_replica("replicated")
        nodes = [set(r.group_nodes) for r in replicas]
        assert len(nodes[0]) == 1 and len(nodes[1]) == 1 and not nodes[0] & nodes[1]
        for replica, own in zip(replicas, nodes):
            assert len(replica.shards) == 2 and all(s.shard_leader in own for s in replica.shards)
        groups = collection.get_replicas().groups
        assert sorted(g.id for g in groups) == sorted(r.id for r in replicas)

        queries = vectors[np.random.default_rng(3).integers(ROWS, size=20)]
        exact = [np.argsort(((vectors - q) ** 2).sum(1), kind="stable")[:K].tolist() for q in queries]

        def search(i: int) -> list[int]:
            return [h.id for h in collection.search([queries[i].tolist()], "v", {"metric_type": "L2"}, limit=K)[0]]

        assert [search(i) for i in range(len(queries))] == exact  # before the kill
        assert collection.query("", output_fields=["count(*)"])[0]["count(*)"] == ROWS

        log: list[tuple[float, float, bool]] = []  # (start, end, answered correctly)
        errors: list[str] = []
        stop = threading.Event()

        def search_loop() -> None:
            i = 0
            while not stop.is_set():
                start = time.monotonic()
                try:
                    good = search(i % len(queries)) == exact[i % len(queries)]
                    if not good:
                        errors.append(f"query {i % len(queries)}: wrong answer")
                except Exception as exc:  # noqa: BLE001 - recorded, asserted below
                    good = False
                    errors.append(f"{type(exc).__name__}: {exc}")
                log.append((start, time.monotonic(), good))
                i += 1

        thread = threading.Thread(target=search_loop, daemon=True)
        thread.start()
        victim = two_querynodes.role_processes("querynode")[0]
        try:
            time.sleep(1.0)
            killed_at = time.monotonic()
            victim.send_signal(failure)  # kill -9, or a hang, of one querynode process
            time.sleep(AFTER_KILL_S)
        finally:
            stop.set()
            thread.join(timeout=60)
            if failure == signal.SIGSTOP:
                victim.send_signal(signal.SIGCONT)
        after = [entry for entry in log if entry[1] >= killed_at]
        assert len(after) > 10, f"only {len(after)} searches after the kill"
        # The longest time without a correct answer: between two answered searches, or a search
        # that started before the kill and answered late.
        answered = [killed_at] + [end for _, end, good in after if good]
        outage = max(b - a for a, b in zip(answered, answered[1:]))
        assert outage <= MAX_OUTAGE_S, f"no correct answer for {outage:.2f} s; errors: {errors[:5]}"
        assert not errors, errors[:5]
        print(f"searches after the kill: {len(after)}, longest wait for an answer {outage * 1000:.0f} ms")

        # The node is back (restarted by the supervisor, or continued); both replicas serve
        # again, answers unchanged.
        _wait(lambda: _serving(client, "replicated", 2), timeout_s=90)
        nodes = [set(r.group_nodes) for r in client.describe_replica("replicated")]
        assert not nodes[0] & nodes[1]
        assert [search(i) for i in range(len(queries))] == exact
        assert collection.query("", output_fields=["count(*)"])[0]["count(*)"] == ROWS
    finally:
        client.close()
