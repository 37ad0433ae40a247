"""Partition scoping of the data path: deletes that apply to one partition (DeleteRecord and
the delta log's partition column), and dropping a partition's data through the real datacoord
and datanode (DropPartitionMsg, flushed segments forgotten, files removed, late flushes of the
partition discarded, statistics per partition)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from common.errors import ParameterInvalid
from dataplane.delete_record import DeleteRecord
from dataplane.segment_file import read_delta_file, read_delta_records, write_delta_file
from proto.internal import datacoord_pb2
from proto.milvus import milvus_pb2
from tests.support.datacluster import DataCluster, wait_for


def test_a_delete_applies_to_its_partition_or_to_all() -> None:
    rec = DeleteRecord()
    pks = np.array([1, 2, 3], np.int64)
    ins = np.full(3, 10, np.uint64)
    rec.add(np.array([1]), 20, partition_ids=7)  # partition 7 only
    rec.add(np.array([2]), 20)  # every partition
    rec.add(np.array([3, 3]), np.array([20, 30], np.uint64), partition_ids=np.array([8, 7]))
    assert len(rec) == 4 and rec.max_ts == 30
    assert rec.deleted_mask(pks, ins, 100, partition_id=7).tolist() == [True, True, True]
    assert rec.deleted_mask(pks, ins, 100, partition_id=8).tolist() == [False, True, True]
    assert rec.deleted_mask(pks, ins, 25, partition_id=7).tolist() == [True, True, False]
    assert rec.deleted_mask(pks, ins, 100, partition_id=9).tolist() == [False, True, False]
    assert rec.deleted_mask(pks, ins, 100).tolist() == [True, True, True]  # partition unknown: any delete
    version = rec.version
    rec.add(np.empty(0, np.int64), 40, partition_ids=9)
    assert rec.version == version


def test_delta_log_keeps_the_partition_of_each_delete() -> None:
    pks = np.array(["a", "b"], dtype=object)
    ts = np.array([5, 6], np.uint64)
    got_pks, got_ts, parts = read_delta_records(write_delta_file(pks, ts, np.array([0, 42])))
    assert got_pks.tolist() == ["a", "b"] and got_ts.tolist() == [5, 6] and parts.tolist() == [0, 42]
    assert read_delta_records(write_delta_file(pks, ts))[2].tolist() == [0, 0]  # default: every partition
    assert read_delta_file(write_delta_file(pks, ts, np.array([1, 2])))[0].tolist() == ["a", "b"]
    with pytest.raises(ParameterInvalid):
        write_delta_file(pks, ts, np.array([1]))


# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[DataCluster]:
    c = DataCluster(tmp_path)
    yield c
    c.close()


def _stats(cluster: DataCluster, collection_id: int, *partition_ids: int) -> int:
    return cluster.ctx.datacoord.get_statistics(datacoord_pb2.CollectionRequest(
        collection_id=collection_id, partition_ids=partition_ids)).row_count


def test_drop_partition_removes_its_data_and_discards_late_rows(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    p1 = cluster.ctx.rootcoord.create_partition(milvus_pb2.CreatePartitionRequest(
        collection_name="c1", partition_name="p1")).partition
    created = cluster.ctx.rootcoord.create_partition(milvus_pb2.CreatePartitionRequest(
        collection_name="c1", partition_name="p2"))
    info, p2 = created.collection, created.partition
    cid, default = info.collection_id, info.partitions[0].partition_id
    cluster.start("datanode")
    cluster.insert(info, np.arange(0, 10))
    cluster.insert(info, np.arange(10, 30), partition_id=p1.partition_id)
    cluster.insert(info, np.arange(30, 60), partition_id=p2.partition_id)
    cluster.flush(info)
    assert _stats(cluster, cid) == 60
    assert (_stats(cluster, cid, p1.partition_id), _stats(cluster, cid, p2.partition_id)) == (20, 30)
    assert _stats(cluster, cid, default, p2.partition_id) == 40
    p2_prefix = f"insert_log/{cid}/{p2.partition_id}/"
    assert cluster.storage.list(p2_prefix)

    cluster.insert(info, np.arange(60, 70), partition_id=p2.partition_id)  # growing in the datanode
    cluster.ctx.datacoord.drop_partition(datacoord_pb2.CollectionRequest(
        collection_id=cid, partition_ids=[p2.partition_id]))
    assert _stats(cluster, cid) == 30 and _stats(cluster, cid, p2.partition_id) == 0
    assert not cluster.storage.list(p2_prefix)
    assert all(s.segment.partition_id != p2.partition_id for s in cluster.recovery(info).segments)

    # a straggler insert into the dropped partition is flushed by the datanode and discarded
    cluster.insert(info, np.arange(70, 75), partition_id=p2.partition_id)
    cluster.insert(info, np.arange(100, 105), partition_id=p1.partition_id)
    cluster.flush(info)
    assert _stats(cluster, cid) == 35 and _stats(cluster, cid, p1.partition_id) == 25
    assert sorted(cluster.flushed_rows(info)["id"].tolist()) == list(range(30)) + list(range(100, 105))
    wait_for(lambda: not cluster.storage.list(p2_prefix))
    with pytest.raises(ParameterInvalid):
        cluster.ctx.datacoord.drop_partition(datacoord_pb2.CollectionRequest(collection_id=cid))

    # the tombstone survives a datacoord restart
    cluster.stop(cluster.datacoord)
    cluster.datacoord = cluster.start("datacoord")
    cluster.insert(info, np.arange(80, 85), partition_id=p2.partition_id)
    cluster.flush(info)
    assert _stats(cluster, cid) == 35
