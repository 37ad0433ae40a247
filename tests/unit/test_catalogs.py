"""The coordinators' catalogs: one contract, the same cases against every implementation (in
memory; etcd layout over a MemoryKV; etcd layout over a real etcd), and the etcd key layout
itself, which existing clusters' data depends on."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from common.kv.base import MetaKV
from common.kv.memory import MemoryKV
from coordinators.datacoord.catalog import (
    MAX_OPS,
    DataCoordCatalog,
    EtcdDataCoordCatalog,
    MemoryDataCoordCatalog,
    delta_log_id,
)
from coordinators.querycoord.catalog import EtcdQueryCoordCatalog, MemoryQueryCoordCatalog, QueryCoordCatalog
from coordinators.rootcoord.catalog import EtcdRootCoordCatalog, MemoryRootCoordCatalog, RootCoordCatalog
from proto.internal import datacoord_pb2, meta_pb2, querycoord_pb2, rootcoord_pb2

IMPLEMENTATIONS = ["memory", "etcd-over-memorykv", "etcd"]


class Backend:
    """Catalogs of one kind; asking again gives another view of the same stored records (as
    after a restart). ``kv`` is None for the in-memory kind."""

    def __init__(self, kv: MetaKV | None) -> None:
        self.kv = kv
        self._root = MemoryRootCoordCatalog()
        self._data = MemoryDataCoordCatalog()
        self._query = MemoryQueryCoordCatalog()

    def rootcoord(self) -> RootCoordCatalog:
        return self._root if self.kv is None else EtcdRootCoordCatalog(self.kv)

    def datacoord(self) -> DataCoordCatalog:
        return self._data if self.kv is None else EtcdDataCoordCatalog(self.kv)

    def querycoord(self) -> QueryCoordCatalog:
        return self._query if self.kv is None else EtcdQueryCoordCatalog(self.kv)


@pytest.fixture(params=IMPLEMENTATIONS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    kv: MetaKV | None = None
    if request.param == "etcd":
        from common.kv.etcd import EtcdKV

        kv = EtcdKV(request.getfixturevalue("etcd_endpoint"), f"catalog-{uuid.uuid4().hex[:8]}")
    elif request.param == "etcd-over-memorykv":
        kv = MemoryKV("catalog")
    yield Backend(kv)
    if kv is not None:
        kv.close()


# ------------------------------------------------------------------------------------ rootcoord
def _collection(cid: int, name: str = "", aliases: tuple[str, ...] = ()) -> meta_pb2.CollectionInfo:
    info = meta_pb2.CollectionInfo(collection_id=cid, name=name or f"c{cid}", shards_num=1,
                                   channels=[f"ch-{cid}-0"], aliases=list(aliases))
    info.partitions.add(partition_id=cid * 10, name="_default")
    return info


def test_rootcoord_catalog_contract(backend: Backend) -> None:
    catalog: RootCoordCatalog = backend.rootcoord()
    assert catalog.load_collections() == [] and catalog.load_tombstones() == []  # a fresh cluster
    a, b = _collection(2, aliases=("al",)), _collection(1)
    catalog.save_collections([a, b])
    a.name = "changed after the save"  # stored as it was at the call
    assert [c.collection_id for c in catalog.load_collections()] == [1, 2]
    assert catalog.load_collections()[1] == _collection(2, aliases=("al",))
    loaded = catalog.load_collections()
    loaded[0].name = "changed after the load"  # a loaded record is the caller's
    assert catalog.load_collections()[0].name == "c1"

    catalog.save_collections([_collection(1, name="renamed")])  # replaces by id
    assert [c.name for c in catalog.load_collections()] == ["renamed", "c2"]

    stone = rootcoord_pb2.CollectionTombstone(collection_id=1, name="renamed", created_ts=5, dropped_ts=9)
    catalog.drop_collection(stone)
    assert [c.collection_id for c in catalog.load_collections()] == [2]
    assert catalog.load_tombstones() == [stone]
    catalog.drop_collection(rootcoord_pb2.CollectionTombstone(collection_id=2, name="c2", dropped_ts=10))
    catalog.delete_tombstones([1, 77])  # an absent id is ignored
    assert [s.collection_id for s in catalog.load_tombstones()] == [2]
    assert catalog.load_collections() == []

    many = [rootcoord_pb2.CollectionTombstone(collection_id=i, name=f"x{i}") for i in range(100, 100 + 2 * MAX_OPS + 5)]
    for s in many:
        catalog.drop_collection(s)
    catalog.delete_tombstones([s.collection_id for s in many])  # more than one transaction holds
    assert [s.collection_id for s in catalog.load_tombstones()] == [2]

    again: RootCoordCatalog = backend.rootcoord()  # a restart
    assert [s.collection_id for s in again.load_tombstones()] == [2]


def test_rootcoord_etcd_layout() -> None:
    kv = MemoryKV("root")
    catalog = EtcdRootCoordCatalog(kv)
    info = _collection(7)
    catalog.save_collections([info])
    assert kv.get_prefix("") == [("meta/collection/7", info.SerializeToString())]
    stone = rootcoord_pb2.CollectionTombstone(collection_id=7, name="c7", dropped_ts=3)
    catalog.drop_collection(stone)
    assert kv.get_prefix("") == [("meta/collection_history/7", stone.SerializeToString())]
    kv.put("meta/collection/8", _collection(8).SerializeToString())  # written by an earlier version
    assert [c.collection_id for c in catalog.load_collections()] == [8]
    kv.close()


# ------------------------------------------------------------------------------------ querycoord
def _load(cid: int, *partitions: int) -> querycoord_pb2.CollectionLoadInfo:
    load = querycoord_pb2.CollectionLoadInfo(collection=_collection(cid), partition_load=bool(partitions),
                                             partition_ids=list(partitions))
    replica = load.replicas.add(replica_id=cid * 10, node_ids=[3, 4, 5])
    replica.assignments.add(channel=f"ch-{cid}-0", node_id=3)
    replica.placements.add(segment_id=100, channel=f"ch-{cid}-0", node_id=4, moving_to=5)
    return load


def test_querycoord_catalog_contract(backend: Backend) -> None:
    catalog: QueryCoordCatalog = backend.querycoord()
    assert catalog.load_loads() == []
    first = _load(2)
    catalog.save_load(first)
    catalog.save_load(_load(1, 10))
    first.fully_loaded = True  # not stored until saved again
    assert catalog.load_loads() == [_load(1, 10), _load(2)]
    catalog.save_load(first)
    assert catalog.load_loads()[1].fully_loaded
    catalog.delete_load(1)
    catalog.delete_load(99)  # none: no error
    assert catalog.allocate_replica_ids(2) == 1  # ids 1 and 2
    assert catalog.allocate_replica_ids(1) == 3
    again: QueryCoordCatalog = backend.querycoord()
    assert [load.collection.collection_id for load in again.load_loads()] == [2]
    assert again.allocate_replica_ids(1) == 4  # never handed out twice


def test_querycoord_etcd_layout() -> None:
    kv = MemoryKV("root")
    load = _load(7)
    catalog = EtcdQueryCoordCatalog(kv)
    catalog.save_load(load)
    catalog.allocate_replica_ids(3)
    assert kv.get_prefix("") == [("meta/load/7", load.SerializeToString()), ("meta/replica-id", b"3")]
    kv.close()


# ------------------------------------------------------------------------------------ datacoord
def _segment(cid: int, sid: int, partition: int = 1, channel: str = "ch") -> meta_pb2.SegmentInfo:
    return meta_pb2.SegmentInfo(segment_id=sid, collection_id=cid, partition_id=partition, channel=channel,
                                num_rows=10, state=meta_pb2.FLUSHED, insert_log=f"insert_log/{cid}/{sid}")


def _range(sid: int, start: int = 0, seal: int = 5) -> datacoord_pb2.SegmentRange:
    return datacoord_pb2.SegmentRange(segment_id=sid, partition_id=1, start_offset=start, seal_offset=seal)


def _task(cid: int, build_id: int, sid: int, index_id: int = 50) -> meta_pb2.SegmentIndexInfo:
    return meta_pb2.SegmentIndexInfo(collection_id=cid, build_id=build_id, segment_id=sid, index_id=index_id)


def _flush(catalog: DataCoordCatalog, cid: int, channel: str, segment_ids: list[int], seal: int) -> None:
    segments = [_segment(cid, s, channel=channel) for s in segment_ids]
    deltas = {delta_log_id(cid, channel, seal, 0): meta_pb2.DeltaLogInfo(collection_id=cid, channel=channel,
                                                                         path=f"d/{seal}", max_ts=seal)}
    catalog.save_flush(segments, [_range(s, 0, seal) for s in segment_ids], deltas,
                       meta_pb2.ChannelCheckpoint(channel=channel, offset=seal + 1, flush_ts=seal),
                       datacoord_pb2.ChannelRecord(channel=channel, collection_id=cid, node_id=8,
                                                   flushed_offset=seal + 1))


def test_datacoord_catalog_contract(backend: Backend) -> None:
    catalog: DataCoordCatalog = backend.datacoord()
    state = catalog.load()
    assert not any(vars(state).values())  # a fresh cluster: every record kind empty

    info = _collection(1)
    catalog.save_collection(info, [datacoord_pb2.ChannelRecord(channel="ch", collection_id=1)])
    catalog.save_collection(_collection(2), [datacoord_pb2.ChannelRecord(channel="other", collection_id=2)])
    catalog.save_channels([datacoord_pb2.ChannelRecord(channel="ch", collection_id=1, node_id=8)])
    _flush(catalog, 1, "ch", [11, 12], seal=5)
    _flush(catalog, 1, "ch", [13], seal=9)
    _flush(catalog, 2, "other", [21], seal=3)
    index = meta_pb2.IndexInfo(collection_id=1, index_id=50, index_name="vec")
    catalog.save_index(index)
    catalog.save_index(meta_pb2.IndexInfo(collection_id=2, index_id=60, index_name="vec"))
    catalog.save_tasks([_task(1, 500, 11), _task(1, 501, 12), _task(2, 600, 21, index_id=60)])
    plan = datacoord_pb2.CompactionTask(compaction_id=70, plan_id=71, collection_id=1, channel="ch",
                                        sources=[11, 12], target_id=72, state=datacoord_pb2.COMPACTION_EXECUTING)
    catalog.save_compactions([plan])
    catalog.mark_partitions_dropped(1, [3])

    state = catalog.load()
    assert set(state.collections) == {1, 2} and state.collections[1] == info
    assert {c: r.node_id for c, r in state.channels.items()} == {"ch": 8, "other": 8}
    assert sorted(state.segments) == [11, 12, 13, 21] and state.ranges[13] == _range(13, 0, 9)
    assert list(state.delta_logs) == sorted(state.delta_logs) and len(state.delta_logs) == 3
    assert state.checkpoints["ch"].offset == 10 and state.dropped_partitions == {3}
    assert set(state.indexes) == {50, 60} and set(state.tasks) == {500, 501, 600}
    assert state.compactions == {71: plan} and state.dropped == set()
    assert set(catalog.build_ids(1)) == {500, 501}
    state.segments[11].num_rows = 99  # a loaded record is the caller's
    assert catalog.load().segments[11].num_rows == 10

    # a compaction commit: the range moves, sources dropped and target flushed with the task
    moved = _range(11)
    moved.compacted_to = 72
    dropped = _segment(1, 11)
    dropped.state = meta_pb2.DROPPED
    plan.state = datacoord_pb2.COMPACTION_INDEXING
    catalog.save_compactions([plan], [dropped, _segment(1, 72)], ranges=[(1, moved)])
    state = catalog.load()
    assert state.segments[11].state == meta_pb2.DROPPED and 72 in state.segments
    assert state.ranges[11].compacted_to == 72 and state.compactions[71].state == datacoord_pb2.COMPACTION_INDEXING
    too_many = [_segment(1, 1000 + i) for i in range(MAX_OPS)]
    with pytest.raises(ValueError, match="exceeds one transaction"):
        catalog.save_compactions([plan], too_many)
    assert 1000 not in catalog.load().segments  # nothing of the refused commit stored
    catalog.delete_compactions([plan])
    assert catalog.load().compactions == {}

    catalog.delete_segments([_segment(1, 12)], [_task(1, 501, 12)])
    state = catalog.load()
    assert 12 not in state.segments and 12 not in state.ranges and 501 not in state.tasks
    catalog.delete_tasks([_task(1, 500, 11)])
    catalog.delete_index(index, [])
    assert set(catalog.load().indexes) == {60}

    catalog.mark_dropped(1)
    catalog.delete_collection(1, ["ch"])
    state = catalog.load()  # only collection 2's records and collection 1's tombstone remain
    assert set(state.collections) == {2} and state.dropped == {1} and state.dropped_partitions == set()
    assert set(state.segments) == {21} and set(state.ranges) == {21} and set(state.channels) == {"other"}
    assert set(state.checkpoints) == {"other"} and [d.collection_id for d in state.delta_logs.values()] == [2]
    assert set(state.indexes) == {60} and set(state.tasks) == {600} and catalog.build_ids(1) == []

    again: DataCoordCatalog = backend.datacoord()  # a restart
    assert set(again.load().segments) == {21}


def test_datacoord_flush_larger_than_one_transaction(backend: Backend) -> None:
    catalog: DataCoordCatalog = backend.datacoord()
    catalog.save_collection(_collection(1), [datacoord_pb2.ChannelRecord(channel="ch", collection_id=1)])
    ids = list(range(1, MAX_OPS + 1))  # segments + ranges: twice the limit
    _flush(catalog, 1, "ch", ids, seal=40)
    state = catalog.load()
    assert sorted(state.segments) == ids and sorted(state.ranges) == ids and state.checkpoints["ch"].offset == 41


def test_datacoord_etcd_layout() -> None:
    kv = MemoryKV("root")
    catalog = EtcdDataCoordCatalog(kv)
    catalog.save_collection(_collection(1), [datacoord_pb2.ChannelRecord(channel="ch", collection_id=1)])
    catalog.mark_dropped(9)
    catalog.mark_partitions_dropped(1, [3])
    _flush(catalog, 1, "ch", [11], seal=5)
    catalog.save_index(meta_pb2.IndexInfo(collection_id=1, index_id=50))
    catalog.save_tasks([_task(1, 500, 11)])
    catalog.save_compactions([datacoord_pb2.CompactionTask(collection_id=1, plan_id=71)])
    assert [key for key, _ in kv.get_prefix("")] == [
        "meta/channel_cp/ch", "meta/channel_watch/ch", "meta/compaction/1/71", "meta/dc/collection/1",
        "meta/dc/dropped/9", "meta/dc/dropped_partition/1/3", "meta/delta_log/1/ch/00000000000000000005_0",
        "meta/index/1/50", "meta/segment/1/11", "meta/segment_index/1/500", "meta/segment_range/1/11",
    ]
    assert kv.get("meta/dc/dropped/9") == b"" and kv.get("meta/segment/1/11") == _segment(1, 11).SerializeToString()
    kv.close()
