"""LoadBalance through pymilvus on a standalone cluster with two querynodes: sealed segments
move to the other node and back while a loop of searches checks every answer against NumPy."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, MilvusException, connections, utility

from tests.support.standalone import StandaloneCluster

DIM = 8
BATCH = 500
BATCHES = 3
K = 5


@pytest.fixture()
def two_querynodes(tmp_path, s3_env) -> Iterator[StandaloneCluster]:  # type: ignore[no-untyped-def]
    server = StandaloneCluster(tmp_path / "cluster", {**s3_env, "MILVUSPY_STORAGE_MINIO_BUCKET": "balance"},
                               querynodes=2).start()
    connections.connect("default", uri=server.uri)
    yield server
    connections.disconnect("default")
    server.stop()


def _placement(name: str) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for info in utility.get_query_segment_info(name):
        out.setdefault(info.segmentID, set()).update(info.nodeIds or [info.nodeID])
    return out


def _wait(predicate, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_load_balance_moves_segments_without_changing_answers(two_querynodes: StandaloneCluster) -> None:
    assert len(two_querynodes.role_processes("querynode")) == 2
    schema = CollectionSchema([FieldSchema("pk", DataType.INT64, is_primary=True),
                               FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM)])
    collection = Collection("balanced", schema, consistency_level="Strong")
    rng = np.random.default_rng(11)
    vectors = rng.random((BATCH * BATCHES, DIM), dtype=np.float32)
    for b in range(BATCHES):
        rows = np.arange(b * BATCH, (b + 1) * BATCH)
        collection.insert([rows.tolist(), vectors[rows]])
        collection.flush()
    collection.create_index("v", {"index_type": "FLAT", "metric_type": "L2"})
    utility.wait_for_index_building_complete("balanced")
    collection.load()
    _wait(lambda: len(_placement("balanced")) == BATCHES)
    placement = _placement("balanced")
    (leader,) = set.union(*placement.values())
    segments = sorted(placement)

    errors: list[str] = []
    rounds = [0]
    stop = threading.Event()

    def search_loop() -> None:
        loop_rng = np.random.default_rng(5)
        while not stop.is_set():
            q = vectors[loop_rng.integers(len(vectors))]
            exact = np.argsort(((vectors - q) ** 2).sum(1), kind="stable")[:K].tolist()
            try:
                got = [h.id for h in collection.search([q.tolist()], "v", {"metric_type": "L2"}, limit=K)[0]]
            except MilvusException as exc:
                errors.append(str(exc))
                continue
            if got != exact:
                errors.append(f"{got} != {exact}")
            rounds[0] += 1

    other_node = 0
    thread = threading.Thread(target=search_loop, daemon=True)
    thread.start()
    try:
        _wait(lambda: rounds[0] >= 5)
        utility.load_balance("balanced", leader, [], segments[:2])  # querycoord picks the other node
        moved = _placement("balanced")
        assert moved[segments[2]] == {leader}
        (other_node,) = moved[segments[0]] | moved[segments[1]]
        assert other_node != leader
        mark = rounds[0]
        _wait(lambda: rounds[0] >= mark + 10)
        utility.load_balance("balanced", other_node, [leader], [])
        _wait(lambda: _placement("balanced") == {s: {leader} for s in segments})
        mark = rounds[0]
        _wait(lambda: rounds[0] >= mark + 10)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert errors == []

    with pytest.raises(MilvusException) as unknown_node:
        utility.load_balance("balanced", 987654, [], [])
    assert unknown_node.value.code == 901
    with pytest.raises(MilvusException) as not_held:
        utility.load_balance("balanced", other_node, [leader], [segments[0]])
    assert not_held.value.code == 600
    assert _placement("balanced") == {s: {leader} for s in segments}
    collection.drop()
