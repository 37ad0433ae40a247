"""IndexNode: real HNSW / IVF_FLAT builds of flushed segments driven by datacoord's tasks, index
progress through DescribeIndex, failures, and reports of builds whose index was dropped.

Real components in one process: MemoryKV, LocalStorage under tmp_path, a BrokerServer, and
rootcoord, datacoord, datanode and indexnode RoleServers talking gRPC.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.index.faiss_index import load_index
from common.schema_proto import schema_from_proto
from dataplane.segment_file import read_segment_file
from proto.internal import datacoord_pb2, meta_pb2
from proto.milvus import common_pb2
from tests.support.datacluster import DataCluster, wait_for

IndexState = common_pb2.IndexState


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[DataCluster]:
    c = DataCluster(tmp_path)
    yield c
    c.close()


def _create_index(cluster: DataCluster, info: meta_pb2.CollectionInfo, index_type: str, metric: str,
                  **params: Any) -> None:
    index = meta_pb2.IndexInfo(collection_id=info.collection_id, field_name="vec", index_type=index_type,
                               metric_type=metric, params_json=json.dumps(params))
    cluster.ctx.datacoord.create_index(datacoord_pb2.CreateIndexRequest(collection=info, index=index))


def _progress(cluster: DataCluster, info: meta_pb2.CollectionInfo) -> datacoord_pb2.IndexProgress:
    return cluster.ctx.datacoord.describe_index(datacoord_pb2.DescribeIndexRequest(
        collection_id=info.collection_id, index_name="vec")).indexes[0]


def _wait_state(cluster: DataCluster, info: meta_pb2.CollectionInfo, state: int) -> datacoord_pb2.IndexProgress:
    wait_for(lambda: _progress(cluster, info).state == state, 30)
    return _progress(cluster, info)


@pytest.mark.parametrize(("index_type", "metric", "params"), [
    ("HNSW", "L2", {"M": 8, "efConstruction": 40}),
    ("IVF_FLAT", "IP", {"nlist": 16}),
])
def test_indexnode_builds_every_flushed_segment(cluster: DataCluster, index_type: str, metric: str,
                                                params: dict[str, Any]) -> None:
    info = cluster.create_collection(dim=16)
    cluster.start("datanode")
    cluster.insert(info, np.arange(0, 1200))  # above the 1024 rows that get a real structure
    cluster.flush(info)
    _create_index(cluster, info, index_type, metric, **params)
    assert _progress(cluster, info).state == IndexState.InProgress
    node = cluster.start("indexnode")
    done = _wait_state(cluster, info, IndexState.Finished)
    assert (done.indexed_rows, done.total_rows) == (1200, 1200)
    assert done.index.index_type == index_type and done.index.metric_type == metric

    # A segment flushed later is indexed too.
    cluster.insert(info, np.arange(1200, 1300))
    cluster.flush(info)
    wait_for(lambda: _progress(cluster, info).total_rows == 1300)
    done = _wait_state(cluster, info, IndexState.Finished)
    assert done.indexed_rows == 1300 and node.logic.builds == 2

    rec = cluster.recovery(info)
    schema = schema_from_proto(info.schema)
    for item in rec.segments:
        (build,) = item.indexes
        assert build.state == IndexState.Finished and build.index_path == f"index_files/{build.build_id}/index"
        index = load_index(cluster.storage.get(build.index_path))
        assert index.index_type == index_type and index.num_rows == item.segment.num_rows
        vectors = read_segment_file(cluster.storage.get(item.segment.insert_log), schema, fields=["vec"])["vec"]
        _, ids = index.search(vectors[:5], 1, {"ef": 64} if index_type == "HNSW" else {"nprobe": 16})
        if metric == "L2":
            assert ids[:, 0].tolist() == [0, 1, 2, 3, 4]
        else:
            assert (ids[:, 0] >= 0).all()


def test_a_build_that_cannot_succeed_is_reported_failed(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    cluster.start("datanode")
    cluster.insert(info, np.arange(10))
    cluster.flush(info)
    (item,) = cluster.recovery(info).segments
    cluster.storage.put(item.segment.insert_log, b"not parquet")  # a corrupt segment file
    _create_index(cluster, info, "HNSW", "L2")
    cluster.start("indexnode")
    failed = _wait_state(cluster, info, IndexState.Failed)
    assert failed.fail_reason and failed.indexed_rows == 0
    assert cluster.storage.list("index_files/") == []


def test_indexnode_report_of_a_dropped_index_leaves_no_file(cluster: DataCluster) -> None:
    info = cluster.create_collection(dim=16)
    cluster.start("datanode")
    cluster.insert(info, np.arange(50))
    cluster.flush(info)
    _create_index(cluster, info, "FLAT", "L2")
    task = cluster.ctx.datacoord.acquire_index_task(datacoord_pb2.AcquireIndexTaskRequest(node_id=1))
    assert task.has_task
    cluster.ctx.datacoord.drop_index(datacoord_pb2.DropIndexRequest(collection_id=info.collection_id,
                                                                          index_name="vec"))
    from nodes.indexnode.core import IndexNode

    report = IndexNode(cluster.ctx).build(task)  # builds and writes the file, then reports it
    assert report.state == IndexState.Finished and cluster.storage.exists(report.index_path)
    cluster.ctx.datacoord.report_index_task(report)
    assert not cluster.storage.exists(report.index_path)
