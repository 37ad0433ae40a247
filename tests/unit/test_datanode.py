"""DataNode: consuming a channel, flushing segments and deletes, checkpoints, restarts, size seals.

Real components in one process: MemoryKV, LocalStorage under tmp_path, a BrokerServer, and
rootcoord, datacoord and datanode RoleServers talking gRPC.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dataplane.segment_file import read_delta_file
from proto.internal import datacoord_pb2, dml_pb2, meta_pb2
from tests.support.datacluster import DIM, DataCluster, wait_for


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[DataCluster]:
    c = DataCluster(tmp_path)
    yield c
    c.close()


# ---------------------------------------------------------------------------------------------
def test_flush_writes_exactly_the_rows_and_moves_the_checkpoint(cluster: DataCluster) -> None:
    info = cluster.create_collection(shards=2)
    cluster.start("datanode")
    for shard in (0, 1):
        for start in (0, 10, 20):
            cluster.insert(info, np.arange(start, start + 10) + 1000 * shard, shard=shard)
    cluster.flush(info)

    rec = cluster.recovery(info)
    assert len(rec.segments) == 2  # one growing segment per channel, sealed by the flush
    for item in rec.segments:
        seg = item.segment
        assert seg.state == meta_pb2.FLUSHED and seg.num_rows == 30
        assert seg.insert_log == (f"insert_log/{info.collection_id}/{seg.partition_id}/{seg.segment_id}/"
                                  f"{seg.segment_id}.parquet")
        assert seg.start_offset == 0 and 0 < seg.min_ts < seg.max_ts
    rows = cluster.flushed_rows(info)
    assert sorted(rows["id"].tolist()) == sorted(list(range(30)) + list(range(1000, 1030)))
    assert rows["vec"].shape == (60, DIM) and rows["$ts"].dtype == np.uint64
    assert set(rows["tag"]) == {f"t{i}" for i in rows["id"]}
    assert set(rows["$meta"]) == {b"{}"}
    for cp in rec.checkpoints:  # 3 inserts + the seal: everything below 4 is persisted
        assert cp.offset == 4 == cluster.broker.end_offset(cp.channel) and cp.flush_ts > 0
    stats = cluster.ctx.datacoord.get_statistics(datacoord_pb2.CollectionRequest(collection_id=info.collection_id))
    assert stats.row_count == 60

    # A second flush with no new data: no new segment, flush_ts moves, checkpoint after the seal.
    ts2 = cluster.flush(info)
    rec2 = cluster.recovery(info)
    assert len(rec2.segments) == 2 and all(cp.offset == 5 and cp.flush_ts == ts2 for cp in rec2.checkpoints)


def test_deletes_produce_a_delta_log(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    cluster.start("datanode")
    cluster.insert(info, np.arange(10))
    cluster.delete(info, np.array([3, 4]))
    cluster.delete(info, np.array([7]))
    cluster.flush(info)
    rec = cluster.recovery(info)
    assert len(rec.delta_logs) == 1
    log = rec.delta_logs[0]
    assert log.path == f"delta_log/{info.collection_id}/{info.channels[0]}/3.parquet" and log.num_rows == 3
    pks, ts = read_delta_file(cluster.storage.get(log.path))
    assert pks.tolist() == [3, 4, 7] and ts.dtype == np.uint64 and int(ts.max()) == log.max_ts
    assert rec.checkpoints[0].offset == 4
    # Deletes after the flush wait in memory; they go out with the next flush only.
    cluster.delete(info, np.array([1]))
    cluster.flush(info)
    logs = cluster.recovery(info).delta_logs
    assert [(log.num_rows, log.path.rsplit("/", 1)[1]) for log in logs] == [(3, "3.parquet"), (1, "5.parquet")]


def test_restart_mid_stream_keeps_every_row_exactly_once(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    p1 = info.partitions[0].partition_id
    p2 = cluster.alloc_id()  # a second partition id (the datanode needs no catalog)
    node = cluster.start("datanode")
    cluster.insert(info, np.arange(0, 10))                  # 0: opens A (p1)
    cluster.flush(info)                                      # 1: seals A
    first = cluster.insert(info, np.arange(10, 20))          # 2: opens X (p1)
    cluster.insert(info, np.arange(20, 30), partition_id=p2)  # 3: opens Y (p2)
    cluster.insert(info, np.arange(30, 40))                  # 4: X
    wait_for(lambda: next(iter(node.logic.channels().values())).offset == 5)
    x_id = next(s.segment_id for s in next(iter(node.logic.channels().values())).buffer.growing.values()
                if s.partition_id == p1)
    cluster.seal(info, [x_id])                                # 5: seals X only -> checkpoint = 3 (Y)
    wait_for(lambda: cluster.recovery(info).checkpoints[0].offset == 3)
    assert first == 2
    cluster.delete(info, np.array([0, 25]))                  # 6: a delete, not yet persisted
    cluster.stop(node)

    cluster.insert(info, np.arange(40, 50))                  # 7: opens Z (p1), while no datanode runs
    cluster.insert(info, np.arange(50, 55), partition_id=p2)  # 8: Y
    node2 = cluster.start("datanode")
    wait_for(lambda: node2.logic.channels())
    cluster.flush(info)                                       # replay from 3 skips 4 (X is flushed)
    rows = cluster.flushed_rows(info)
    assert sorted(rows["id"].tolist()) == list(range(55))
    segs = {s.segment.segment_id: s.segment for s in cluster.recovery(info).segments}
    assert len(segs) == 4 and sorted(s.num_rows for s in segs.values()) == [10, 10, 15, 20]
    logs = cluster.recovery(info).delta_logs
    assert sum(log.num_rows for log in logs) == 2

    # A third datanode after everything is flushed replays nothing twice either.
    cluster.stop(node2)
    cluster.insert(info, np.arange(55, 60))
    cluster.start("datanode")
    cluster.flush(info)
    assert sorted(cluster.flushed_rows(info)["id"].tolist()) == list(range(60))
    assert sum(log.num_rows for log in cluster.recovery(info).delta_logs) == 2


def test_full_segments_are_sealed_by_size(tmp_path: Path) -> None:
    c = DataCluster(tmp_path, datacoord={"segment_max_rows": 100})
    try:
        info = c.create_collection()
        c.start("datanode")
        c.insert(info, np.arange(0, 50))
        c.insert(info, np.arange(50, 100))  # 100 rows: the datanode publishes a seal for it
        wait_for(lambda: [s.segment.num_rows for s in c.recovery(info).segments] == [100])
        c.insert(info, np.arange(100, 150))
        c.insert(info, np.arange(150, 200))
        wait_for(lambda: len(c.recovery(info).segments) == 2)
        c.insert(info, np.arange(200, 250))
        c.flush(info)
        rows = c.flushed_rows(info)
        assert sorted(rows["id"].tolist()) == list(range(250))
        assert [s.segment.num_rows for s in c.recovery(info).segments] == [100, 100, 50]
        seals = [r for r in c.broker.fetch(info.channels[0], 0, 100)
                 if dml_pb2.DmlMsg.FromString(r.payload).WhichOneof("body") == "seal"]
        assert len(seals) == 3  # two size seals and the flush
    finally:
        c.close()


def test_flush_of_a_dropped_collection_stops_the_consumer(cluster: DataCluster) -> None:
    info = cluster.create_collection()
    node = cluster.start("datanode")
    cluster.insert(info, np.arange(5))
    cluster.flush(info)
    assert node.logic.channels()
    cluster.ctx.datacoord.drop_collection(datacoord_pb2.CollectionRequest(collection_id=info.collection_id))
    wait_for(lambda: not node.logic.channels())
    assert cluster.storage.list(f"insert_log/{info.collection_id}/") == []


def test_inserts_written_in_the_old_format_replay(cluster: DataCluster) -> None:
    """A broker log written before ``InsertMsg.columns`` existed (rows as wire FieldData) still
    flushes: old and new messages land in one segment with every row."""
    info = cluster.create_collection()
    cluster.insert(info, np.arange(0, 10), old_format=True)
    cluster.insert(info, np.arange(10, 20))
    cluster.start("datanode")
    cluster.flush(info)
    rows = cluster.flushed_rows(info)
    assert sorted(rows["id"].tolist()) == list(range(20))
    assert set(rows["tag"]) == {f"t{i}" for i in range(20)} and set(rows["$meta"]) == {b"{}"}
    assert rows["vec"].shape == (20, DIM)
    assert [s.segment.num_rows for s in cluster.recovery(info).segments] == [20]
