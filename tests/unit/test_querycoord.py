"""QueryCoord logic (over an in-memory catalog) and service (over the etcd catalog on a
MemoryKV), fake querynode sessions and a tiny fake datacoord serving GetRecoveryInfo."""
from __future__ import annotations

import threading

import pytest

from common.component import Component
from common.config import load_config
from common.errors import CollectionNotLoaded, ParameterInvalid, ServiceUnavailable
from common.kv.memory import MemoryKV
from common.rpc import make_channel
from common.runtime import RoleContext, RoleServer
from launcher.peers import GrpcPeers
from common.session import Session
from coordinators.querycoord.catalog import MemoryQueryCoordCatalog, load_key
from coordinators.querycoord.core import QueryCoord
from coordinators.querycoord.server import create_server
from proto.internal import datacoord_pb2, datacoord_pb2_grpc, meta_pb2, querycoord_pb2, querycoord_pb2_grpc
from proto.milvus import common_pb2

CID = 5


class _FakeDataCoordLogic(Component):
    role = "datacoord"


class FakeDataCoord(datacoord_pb2_grpc.DataCoordServicer):
    def __init__(self) -> None:
        self.infos: dict[int, datacoord_pb2.RecoveryInfo] = {}
        self.lock = threading.Lock()

    def GetRecoveryInfo(self, request, context):
        with self.lock:
            return self.infos.get(request.collection_id, datacoord_pb2.RecoveryInfo())


@pytest.fixture
def env():
    kv = MemoryKV("qc")
    config = load_config(environ={}).with_overrides({"common": {"heartbeat_interval_s": 0.05}})
    datacoord = FakeDataCoord()
    dc = RoleServer(_FakeDataCoordLogic(),
                    lambda server: datacoord_pb2_grpc.add_DataCoordServicer_to_server(datacoord, server),
                    RoleContext(config, kv, 2, GrpcPeers(kv)))
    dc.start()
    sessions = {n: Session(kv, "querynode", n, f"127.0.0.1:{9000 + n}", ttl_s=5) for n in (11, 12)}
    for s in sessions.values():
        s.register()
    started: list = []
    catalog = MemoryQueryCoordCatalog()

    def make_coord() -> QueryCoord:
        coord = QueryCoord(RoleContext(config, kv, 3, GrpcPeers(kv)), catalog)
        coord.start()
        started.append(coord)
        return coord

    yield kv, config, datacoord, sessions, make_coord, catalog
    for coord in started:
        coord.stop()
    for s in sessions.values():
        s.stop()
    dc.stop()
    kv.close()


def load_progress(coord: QueryCoord) -> tuple[bool, int]:
    answer = coord.get_load_progress(datacoord_pb2.CollectionRequest(collection_id=CID))
    return answer.loaded, answer.progress


def shard_leaders(coord: QueryCoord) -> list[querycoord_pb2.ShardLeader]:
    return list(coord.get_shard_leaders(datacoord_pb2.CollectionRequest(collection_id=CID)).leaders)


def show_loaded(coord: QueryCoord, collection_ids: list[int], partition_ids: list[int]
                ) -> list[querycoord_pb2.LoadedCollection]:
    request = querycoord_pb2.ShowLoadedRequest(collection_ids=collection_ids, partition_ids=partition_ids)
    return list(coord.show_loaded(request).collections)


def collection(channels: int = 4) -> meta_pb2.CollectionInfo:
    return meta_pb2.CollectionInfo(collection_id=CID, name="c", shards_num=channels,
                                   channels=[f"by-dev-dml-{CID}-{i}" for i in range(channels)])


def recovery() -> datacoord_pb2.RecoveryInfo:
    info = datacoord_pb2.RecoveryInfo()
    for seg_id, ch in ((100, 0), (101, 0), (102, 1)):
        s = info.segments.add()
        s.segment.CopyFrom(meta_pb2.SegmentInfo(segment_id=seg_id, collection_id=CID, channel=f"by-dev-dml-{CID}-{ch}",
                                                num_rows=10, state=meta_pb2.FLUSHED, insert_log=f"x/{seg_id}"))
        s.indexes.add(segment_id=seg_id, index_id=1, build_id=seg_id + 1000, state=common_pb2.Finished,
                      index_path=f"idx/{seg_id}")
    dropped = info.segments.add()
    dropped.segment.CopyFrom(meta_pb2.SegmentInfo(segment_id=103, channel=f"by-dev-dml-{CID}-0",
                                                  state=meta_pb2.DROPPED))
    info.delta_logs.add(collection_id=CID, channel=f"by-dev-dml-{CID}-1", path="d/1")
    info.checkpoints.add(channel=f"by-dev-dml-{CID}-0", offset=42)
    info.indexes.add(collection_id=CID, index_id=1, field_name="vec", metric_type="L2")
    return info


def heartbeat(coord, node, channels=(), sealed=(), index_ids=(1,)):  # type: ignore[no-untyped-def]
    """A heartbeat of a node serving ``channels`` with a target holding ``index_ids`` (those of
    ``recovery()``)."""
    req = querycoord_pb2.QueryNodeHeartbeatRequest(node_id=node, address=f"127.0.0.1:{9000 + node}",
                                                   sealed_segment_ids=list(sealed))
    for ch in channels:
        req.channels.add(channel=ch, collection_id=CID, serviceable=True, index_ids=list(index_ids))
    return {t.channel: t for t in coord.query_node_heartbeat(req).targets}


def test_load_assigns_channels_round_robin_and_persists(env):
    _, _, _, _, make_coord, catalog = env
    coord = make_coord()
    coord.load_collection(datacoord_pb2.CollectionRequest(collection=collection()))
    placed = coord.assignments(CID)
    assert sorted(placed.values()) == [11, 11, 12, 12]
    coord.load_collection(datacoord_pb2.CollectionRequest(collection=collection()))  # idempotent
    assert coord.assignments(CID) == placed
    assert CID in catalog.loads
    coord.stop()
    again = make_coord()
    assert again.loaded_collections() == [CID] and again.assignments(CID) == placed


def test_replicas_persist_and_an_old_record_becomes_one_replica(env):
    _, _, _, _, make_coord, catalog = env
    coord = make_coord()
    coord.load_collection(datacoord_pb2.CollectionRequest(collection=collection(), replica_number=2))
    assert coord.replica_nodes(CID) == [[11], [12]]
    assert set(coord.assignments(CID, 0).values()) == {11} and set(coord.assignments(CID, 1).values()) == {12}
    ids = [r.replica_id for r in catalog.loads[CID].replicas]
    coord.stop()
    again = make_coord()
    assert again.replica_nodes(CID) == [[11], [12]]
    assert [r.replica_id for r in catalog.loads[CID].replicas] == ids
    again.stop()
    old = querycoord_pb2.CollectionLoadInfo(collection=collection(2))  # written before replicas
    old.assignments.add(channel=f"by-dev-dml-{CID}-0", node_id=11)
    old.assignments.add(channel=f"by-dev-dml-{CID}-1", node_id=12)
    catalog.loads[CID] = old
    third = make_coord()
    assert third.replica_nodes(CID) == [[11, 12]] and third.assignments(CID) == {
        f"by-dev-dml-{CID}-0": 11, f"by-dev-dml-{CID}-1": 12}
    assert [r.replica_id for r in catalog.loads[CID].replicas] == [CID]  # migrated and saved


def test_targets_progress_and_shard_leaders(env):
    _, _, datacoord, _, make_coord, _ = env
    datacoord.infos[CID] = recovery()
    coord = make_coord()
    coord.load_collection(datacoord_pb2.CollectionRequest(collection=collection(2)))
    assert load_progress(coord) == (True, 0)
    coord.refresh()
    placed = coord.assignments(CID)
    ch0, ch1 = f"by-dev-dml-{CID}-0", f"by-dev-dml-{CID}-1"
    t0 = heartbeat(coord, placed[ch0])[ch0]
    assert t0.checkpoint.offset == 42 and t0.collection.collection_id == CID
    assert [s.segment.segment_id for s in t0.sealed_segments] == [100, 101]  # not the dropped one
    assert [i.build_id for s in t0.sealed_segments for i in s.indexes] == [1100, 1101]
    assert not t0.delta_logs and [i.field_name for i in t0.indexes] == ["vec"]
    t1 = heartbeat(coord, placed[ch1])[ch1]
    assert [s.segment.segment_id for s in t1.sealed_segments] == [102]
    assert [d.path for d in t1.delta_logs] == ["d/1"] and t1.checkpoint.offset == 0

    with pytest.raises(ServiceUnavailable):
        shard_leaders(coord)
    heartbeat(coord, placed[ch0], channels=[ch0], sealed=[100])
    loaded, progress = load_progress(coord)
    assert loaded and 0 < progress < 100
    heartbeat(coord, placed[ch0], channels=[ch0], sealed=[100, 101])
    heartbeat(coord, placed[ch1], channels=[ch1], sealed=[102])
    assert load_progress(coord) == (True, 100)
    leaders = {s.channel: (s.node_id, s.address) for s in shard_leaders(coord)}
    assert leaders == {ch: (n, f"127.0.0.1:{9000 + n}") for ch, n in placed.items()}
    # a shard whose target predates the collection's indexes (e.g. of an earlier load) leads nothing
    heartbeat(coord, placed[ch0], channels=[ch0], sealed=[100, 101], index_ids=())
    with pytest.raises(ServiceUnavailable):
        shard_leaders(coord)
    heartbeat(coord, placed[ch1])  # the node lost its shard: progress stays 100 once reached
    assert load_progress(coord) == (True, 100)


def test_dead_node_channels_move_to_live_nodes(env):
    kv, _, _, sessions, make_coord, catalog = env
    coord = make_coord()
    coord.load_collection(datacoord_pb2.CollectionRequest(collection=collection()))
    sessions[11].stop()
    coord.refresh()
    assert set(coord.assignments(CID).values()) == {12}
    stored = catalog.loads[CID]
    assert {a.node_id for a in stored.replicas[0].assignments} == {12}


def test_release_and_not_loaded_errors_over_grpc(env):
    kv, config, datacoord, _, _, _ = env
    datacoord.infos[CID] = recovery()
    server = create_server(RoleContext(config, kv, 4, GrpcPeers(kv)))
    server.start()
    try:
        stub = querycoord_pb2_grpc.QueryCoordStub(make_channel(server.address))
        status = stub.LoadCollection(datacoord_pb2.CollectionRequest(collection=collection(1)))
        assert status.code == 0
        progress = stub.GetLoadProgress(datacoord_pb2.CollectionRequest(collection_id=CID))
        assert progress.loaded and progress.progress < 100
        assert stub.ReleaseCollection(datacoord_pb2.CollectionRequest(collection_id=CID)).code == 0
        assert stub.ReleaseCollection(datacoord_pb2.CollectionRequest(collection_id=CID)).code == 0
        progress = stub.GetLoadProgress(datacoord_pb2.CollectionRequest(collection_id=CID))
        assert not progress.loaded and progress.progress == 0
        leaders = stub.GetShardLeaders(datacoord_pb2.CollectionRequest(collection_id=CID))
        assert leaders.status.code == CollectionNotLoaded.code == 101
        assert "collection not loaded" in leaders.status.reason
        assert kv.get(load_key(CID)) is None
        hb = stub.QueryNodeHeartbeat(querycoord_pb2.QueryNodeHeartbeatRequest(node_id=11))
        assert hb.status.code == 0 and not hb.targets
    finally:
        server.stop()


def test_load_without_live_nodes_places_channels_when_one_appears(env):
    kv, _, _, sessions, make_coord, _ = env
    for s in sessions.values():
        s.stop()
    coord = make_coord()
    coord.load_collection(datacoord_pb2.CollectionRequest(collection=collection(2)))
    assert set(coord.assignments(CID).values()) == {0}
    assert load_progress(coord)[1] < 100
    late = Session(kv, "querynode", 13, "127.0.0.1:9013", ttl_s=5)
    late.register()
    try:
        coord.refresh()
        assert set(coord.assignments(CID).values()) == {13}
        assert set(heartbeat(coord, 13)) == {f"by-dev-dml-{CID}-0", f"by-dev-dml-{CID}-1"}
    finally:
        late.stop()


def _serve(coord, node, channel, partitions, sealed=()):  # type: ignore[no-untyped-def]
    """A heartbeat of a node serving ``channel`` with exactly ``partitions`` (None: all)."""
    req = querycoord_pb2.QueryNodeHeartbeatRequest(node_id=node, address=f"127.0.0.1:{9000 + node}",
                                                   sealed_segment_ids=list(sealed))
    req.channels.add(channel=channel, collection_id=CID, serviceable=True, partition_load=partitions is not None,
                     partition_ids=partitions or [])
    return {t.channel: t for t in coord.query_node_heartbeat(req).targets}


def test_partition_loads_targets_progress_and_release(env):
    _, _, datacoord, _, make_coord, catalog = env
    ch = f"by-dev-dml-{CID}-0"
    info = datacoord_pb2.RecoveryInfo()
    for seg_id, part in ((200, 1), (201, 2), (202, 3)):
        info.segments.add().segment.CopyFrom(meta_pb2.SegmentInfo(
            segment_id=seg_id, collection_id=CID, partition_id=part, channel=ch, num_rows=5, state=meta_pb2.FLUSHED))
    datacoord.infos[CID] = info
    coll = collection(1)
    for pid, name in ((1, "_default"), (2, "p2"), (3, "p3")):
        coll.partitions.add(partition_id=pid, name=name)
    coord = make_coord()
    with pytest.raises(ParameterInvalid):
        coord.load_partitions(datacoord_pb2.CollectionRequest(collection=coll))
    coord.load_partitions(datacoord_pb2.CollectionRequest(collection=coll, partition_ids=[2]))
    coord.refresh()
    node = coord.assignments(CID)[ch]
    target = heartbeat(coord, node)[ch]
    assert target.partition_load and list(target.partition_ids) == [2]
    assert [s.segment.segment_id for s in target.sealed_segments] == [201]
    # a node serving every partition does not count: it must serve exactly the loaded ones
    _serve(coord, node, ch, None, sealed=[201])
    assert load_progress(coord)[1] < 100
    with pytest.raises(ServiceUnavailable):
        shard_leaders(coord)
    _serve(coord, node, ch, [2], sealed=[201])
    assert load_progress(coord) == (True, 100)
    assert [s.node_id for s in shard_leaders(coord)] == [node]
    shown = show_loaded(coord, [CID], [1, 2, 3])[0]
    assert shown.partition_load
    assert [(p.partition_id, p.progress) for p in shown.partitions] == [(1, -1), (2, 100), (3, -1)]
    coord.stop()
    coord = make_coord()  # the partition load is persisted
    assert catalog.loads[CID].partition_ids == [2]

    # one more partition: progress is measured again, over both
    coord.load_partitions(datacoord_pb2.CollectionRequest(collection=coll, partition_ids=[3, 2]))
    coord.refresh()
    target = _serve(coord, node, ch, [2], sealed=[201])[ch]
    assert list(target.partition_ids) == [2, 3] and [s.segment.segment_id for s in target.sealed_segments] == [201, 202]
    assert load_progress(coord)[1] < 100
    _serve(coord, node, ch, [2, 3], sealed=[201, 202])
    assert load_progress(coord) == (True, 100)

    # LoadCollection turns it into a load of every partition
    coord.load_collection(datacoord_pb2.CollectionRequest(collection=coll))
    target = heartbeat(coord, node)[ch]
    assert not target.partition_load and [s.segment.segment_id for s in target.sealed_segments] == [200, 201, 202]
    assert show_loaded(coord, [], [])[0].partitions == []

    # releasing part of a whole load keeps the collection's other partitions
    coord.release_partitions(datacoord_pb2.CollectionRequest(collection_id=CID, collection=coll, partition_ids=[2]))
    target = heartbeat(coord, node)[ch]
    assert list(target.partition_ids) == [1, 3] and [s.segment.segment_id for s in target.sealed_segments] == [200, 202]
    coord.release_partitions(datacoord_pb2.CollectionRequest(collection_id=CID, partition_ids=[9]))  # not loaded
    assert coord.loaded_collections() == [CID]
    coord.release_partitions(datacoord_pb2.CollectionRequest(collection_id=CID, partition_ids=[1, 3]))
    assert coord.loaded_collections() == [] and CID not in catalog.loads
