"""Querycoord's decisions as pure functions of records, without a cluster or a KV: the load
record after Load/Release calls, channel leaders, load progress, shard leaders, the targets of
each node (leader and worker) and which segments a LoadBalance may move."""
from __future__ import annotations

import pytest

from common.errors import ParameterInvalid, ResourceGroupNodeNotEnough, ServiceUnavailable
from coordinators.querycoord.balance import movable_segments, node_targets
from coordinators.querycoord.loads import assign_leaders, extended_load, new_load, partitions_after_release
from coordinators.querycoord.progress import NodeView, load_progress, shard_leaders
from coordinators.querycoord.replicas import check_nodes, check_unchanged, fit_nodes, migrate, replica_count, resize
from proto.internal import datacoord_pb2, meta_pb2, querycoord_pb2
from proto.milvus import common_pb2

CID = 5
CH0, CH1 = "ch0", "ch1"
LEADER0, LEADER1, WORKER = 11, 12, 13


def _collection(*partitions: int) -> meta_pb2.CollectionInfo:
    info = meta_pb2.CollectionInfo(collection_id=CID, name="c", channels=[CH0, CH1])
    for pid in partitions:
        info.partitions.add(partition_id=pid, name=f"p{pid}")
    return info


def _load(*partitions: int, leaders: tuple[int, int] = (LEADER0, LEADER1)) -> querycoord_pb2.CollectionLoadInfo:
    load = new_load(_collection(1, 2, 3), partitions, 1000, [1])
    replica = load.replicas[0]
    for a, node in zip(replica.assignments, leaders):
        a.node_id = node
    replica.node_ids.extend(sorted({n for n in (*leaders, WORKER) if n}))
    return load


def _target() -> datacoord_pb2.RecoveryInfo:
    """Segments 100 (ch0, partition 1), 101 (ch0, partition 2), 102 (ch1, partition 1), a
    DROPPED 103 (ch0), segment 90 compacted into 100; index 1 built everywhere."""
    info = datacoord_pb2.RecoveryInfo()
    for sid, channel, pid in ((100, CH0, 1), (101, CH0, 2), (102, CH1, 1)):
        s = info.segments.add()
        s.segment.CopyFrom(meta_pb2.SegmentInfo(segment_id=sid, collection_id=CID, partition_id=pid, channel=channel,
                                                num_rows=10, state=meta_pb2.FLUSHED))
        s.indexes.add(segment_id=sid, index_id=1, build_id=sid + 1000, state=common_pb2.Finished,
                      index_path=f"idx/{sid}")
    gone = info.segments.add()
    gone.segment.CopyFrom(meta_pb2.SegmentInfo(segment_id=103, channel=CH0, state=meta_pb2.DROPPED))
    info.segment_ranges.add(segment_id=90, channel=CH0, compacted_to=100, seal_offset=5)
    info.indexes.add(collection_id=CID, index_id=1, field_name="vec")
    return info


def _view(node: int, channels: tuple[str, ...] = (), sealed: tuple[int, ...] = (), partitions: tuple[int, ...] = (),
          worker: bool = False) -> NodeView:
    statuses = {}
    for channel in channels:
        statuses[channel] = querycoord_pb2.ChannelStatus(
            channel=channel, collection_id=CID, serviceable=True, index_ids=[1], worker=worker,
            partition_load=bool(partitions), partition_ids=list(partitions))
    return NodeView(node_id=node, address=f"reported:{node}", channels=statuses, sealed_segment_ids=set(sealed))


# ------------------------------------------------------------------------------------ load records
def test_new_load_of_the_whole_collection_or_of_partitions() -> None:
    whole = new_load(_collection(), (), 7, [4, 5])
    assert [r.replica_id for r in whole.replicas] == [4, 5] and not whole.replicas[0].node_ids
    for replica in whole.replicas:
        assert [(a.channel, a.node_id) for a in replica.assignments] == [(CH0, 0), (CH1, 0)]
    assert not whole.partition_load and not whole.assignments
    part = new_load(_collection(), [3, 1, 3], 7, [1])
    assert part.partition_load and list(part.partition_ids) == [1, 3] and part.load_time_ms == 7


def test_extended_load() -> None:
    part = _load(1)
    part.fully_loaded = True
    assert extended_load(part, None, [1]) is None  # nothing new
    more = extended_load(part, None, [2, 1])
    assert more is not None and list(more.partition_ids) == [1, 2] and not more.fully_loaded
    assert list(part.partition_ids) == [1] and part.fully_loaded  # the input is unchanged
    whole = extended_load(part, None, [])
    assert whole is not None and not whole.partition_load and not whole.partition_ids and not whole.fully_loaded
    loaded_whole = _load()
    assert extended_load(loaded_whole, None, [2]) is None  # a whole load stays whole
    renamed = _collection(1, 2, 3)
    renamed.name = "new name"
    changed = extended_load(loaded_whole, renamed, [])
    assert changed is not None and changed.collection.name == "new name"
    assert extended_load(loaded_whole, _collection(1, 2, 3), []) is None  # the same collection


def test_partitions_after_release() -> None:
    assert partitions_after_release(_load(1, 2), set(), _collection()) is None
    assert partitions_after_release(_load(1, 2), {9}, _collection()) is None  # none of them loaded
    assert partitions_after_release(_load(1, 2), {2}, _collection()) == [1]
    assert partitions_after_release(_load(1, 2), {1, 2}, _collection()) == []  # release the collection
    assert partitions_after_release(_load(), {2}, _collection(1, 2, 3)) == [1, 3]
    assert partitions_after_release(_load(), {1}, _collection(1)) == []
    with pytest.raises(ParameterInvalid, match="needs its partitions"):
        partitions_after_release(_load(), {1}, _collection())


def _replica(leaders: tuple[int, int], nodes: list[int]) -> querycoord_pb2.Replica:
    replica = querycoord_pb2.Replica(replica_id=1, node_ids=nodes)
    for channel, node in zip((CH0, CH1), leaders):
        replica.assignments.add(channel=channel, node_id=node)
    return replica


def test_leaders_go_to_the_node_of_the_replica_leading_fewest_channels() -> None:
    load = _replica((0, 99), [LEADER0, LEADER1])  # ch0 never assigned, ch1's node left the replica
    other = _replica((LEADER0, LEADER0), [LEADER0])
    assert assign_leaders(load, [other]) == {CH0: LEADER1, CH1: LEADER1}
    assert assign_leaders(load, []) == {CH0: LEADER0, CH1: LEADER1}  # lowest id first
    assert assign_leaders(_replica((0, 99), []), []) == {}  # no node
    assert assign_leaders(_replica((LEADER0, LEADER1), [LEADER0, LEADER1]), []) == {}  # every leader in it
    assert assign_leaders(_replica((LEADER0, WORKER), [LEADER0]), []) == {CH1: LEADER0}  # WORKER is not in it


# ------------------------------------------------------------------------------------ progress
def test_load_progress_counts_served_channels_and_held_segments() -> None:
    load, target = _load(), _target()
    live = {LEADER0, LEADER1}
    assert load_progress(load, None, {}, live) == 0  # no target yet
    assert load_progress(load, target, {}, live) == 0
    nodes = {LEADER0: _view(LEADER0, (CH0,), (100,)), LEADER1: _view(LEADER1, (CH1,), (102,))}
    assert load_progress(load, target, nodes, live) == 80  # 2 channels + 2 of 3 segments
    assert load_progress(load, target, nodes, live, {1}) == 100  # partition 1's segments are held
    assert load_progress(load, target, nodes, live, {2}) == 66  # 2 channels, 101 not held
    nodes[LEADER0].sealed_segment_ids.add(101)
    assert load_progress(load, target, nodes, live) == 100
    assert load_progress(load, target, nodes, {LEADER0}) == 60  # a dead node counts for nothing
    empty = datacoord_pb2.RecoveryInfo(indexes=target.indexes)
    assert load_progress(load, empty, nodes, live) == 100


def test_load_progress_of_a_partition_load_and_placed_segments() -> None:
    load, target = _load(2), _target()
    nodes = {LEADER0: _view(LEADER0, (CH0,), (101,), partitions=(2,)), LEADER1: _view(LEADER1, (CH1,), ())}
    assert load_progress(load, target, nodes, {LEADER0, LEADER1}) == 66  # ch1 serves the wrong partitions
    load = _load()
    load.replicas[0].placements.add(segment_id=102, channel=CH1, node_id=WORKER)
    nodes = {LEADER0: _view(LEADER0, (CH0,), (100, 101)), LEADER1: _view(LEADER1, (CH1,), (102,)),
             WORKER: _view(WORKER)}
    assert load_progress(load, target, nodes, {LEADER0, LEADER1, WORKER}) == 80  # the holder is the worker
    nodes[WORKER].sealed_segment_ids.add(102)
    assert load_progress(load, target, nodes, {LEADER0, LEADER1, WORKER}) == 100


def test_shard_leaders_need_every_channel_served() -> None:
    load, target = _load(), _target()
    nodes = {LEADER0: _view(LEADER0, (CH0,)), LEADER1: _view(LEADER1, (CH1,))}
    live = {LEADER0: "session:11", LEADER1: ""}
    leaders = shard_leaders(load, target, nodes, live)
    assert [(s.channel, s.node_id, s.address) for s in leaders] == [(CH0, LEADER0, "session:11"),
                                                                    (CH1, LEADER1, "reported:12")]
    with pytest.raises(ServiceUnavailable, match="channel ch1"):
        shard_leaders(load, target, nodes, {LEADER0: "a"})
    stale = datacoord_pb2.RecoveryInfo()  # the node's indexes differ from the target's
    with pytest.raises(ServiceUnavailable, match="channel ch0"):
        shard_leaders(load, stale, nodes, live)


# ------------------------------------------------------------------------------------ targets
def test_node_targets_of_leaders_and_workers() -> None:
    load, target = _load(), _target()
    replica = load.replicas[0]
    replica.placements.add(segment_id=101, channel=CH0, node_id=WORKER)
    addresses = {WORKER: "w:13"}
    (lead,) = node_targets(LEADER0, load, replica, target, addresses, {})
    assert lead.channel == CH0 and not lead.worker
    assert [s.segment.segment_id for s in lead.sealed_segments] == [100]  # not the dropped 103
    assert [(r.segment_id, r.node_id, r.address) for r in lead.remote_segments] == [(101, WORKER, "w:13")]
    (work,) = node_targets(WORKER, load, replica, target, addresses, {})
    assert work.channel == CH0 and work.worker and [s.segment.segment_id for s in work.sealed_segments] == [101]
    assert node_targets(99, load, replica, target, addresses, {}) == []
    (other,) = node_targets(LEADER1, load, replica, target, addresses, {})
    assert other.channel == CH1 and [s.segment.segment_id for s in other.sealed_segments] == [102]


def test_a_placed_segment_a_compaction_replaced_stays_where_it_is() -> None:
    load, target = _load(), _target()
    replica = load.replicas[0]
    replica.placements.add(segment_id=90, channel=CH0, node_id=WORKER)
    old = datacoord_pb2.SegmentWithIndex(segment=meta_pb2.SegmentInfo(segment_id=90, partition_id=1, channel=CH0,
                                                                       state=meta_pb2.FLUSHED, num_rows=3))
    (work,) = node_targets(WORKER, load, replica, target, {}, {90: old})
    assert [s.segment.segment_id for s in work.sealed_segments] == [90]
    (lead,) = node_targets(LEADER0, load, replica, target, {}, {90: old})
    assert [r.segment_id for r in lead.remote_segments] == [90]
    (lead,) = node_targets(LEADER0, load, replica, target, {}, {})  # its record unknown: nothing to route
    assert list(lead.remote_segments) == []


def test_movable_segments() -> None:
    load, target = _load(2), _target()
    replica = load.replicas[0]
    assert movable_segments(load, replica, target, LEADER0, {101}) == {101: CH0}  # only the loaded partition
    assert movable_segments(load, replica, target, LEADER0, set()) == {}  # the leader has not loaded it yet
    load = _load()
    replica = load.replicas[0]
    assert movable_segments(load, replica, target, WORKER, set()) == {100: CH0, 101: CH0, 102: CH1}
    assert movable_segments(load, replica, target, LEADER1, {102}) == {100: CH0, 101: CH0, 102: CH1}


# ------------------------------------------------------------------------------------ replicas
def _nodes(load: querycoord_pb2.CollectionLoadInfo) -> list[list[int]]:
    return [list(r.node_ids) for r in load.replicas]


def test_replica_node_sets_follow_the_live_nodes() -> None:
    load = new_load(_collection(), (), 7, [1, 2])
    assert fit_nodes(load, [5, 3, 4]) and _nodes(load) == [[3, 5], [4]]  # fewest nodes first, lowest id
    assert not fit_nodes(load, [3, 4, 5])
    assert fit_nodes(load, [3, 5]) and _nodes(load) == [[3], [5]]  # 4 died: replica 2 takes one of 1's
    assert fit_nodes(load, [3]) and _nodes(load) == [[3], []]  # nothing to take: replica 2 waits
    assert fit_nodes(load, [3, 8]) and _nodes(load) == [[3], [8]]  # a new node goes to the empty one
    assert fit_nodes(load, [3, 8, 9]) and _nodes(load) == [[3, 9], [8]]


def test_replica_number_changes_and_checks() -> None:
    load = new_load(_collection(), (), 7, [1])
    fit_nodes(load, [3, 4, 5])
    ids = iter([10])
    assert resize(load, 3, lambda n: next(ids)) and [r.replica_id for r in load.replicas] == [1, 10, 11]
    assert all(len(r.assignments) == 2 for r in load.replicas)
    fit_nodes(load, [3, 4, 5])
    assert sorted(map(len, _nodes(load))) == [1, 1, 1]  # each replica got a node
    assert resize(load, 1, lambda n: 0) and [r.replica_id for r in load.replicas] == [1]  # the newest go
    fit_nodes(load, [3, 4, 5])
    assert _nodes(load) == [[3, 4, 5]]
    assert not resize(load, 1, lambda n: 0)
    assert replica_count(0) == 1 and replica_count(-3) == 1 and replica_count(2) == 2
    check_nodes(1, 0)  # one replica may wait for its first node
    check_nodes(2, 2)
    with pytest.raises(ResourceGroupNodeNotEnough, match=r"\[currentNodeNum=1\]\[expectedNodeNum=2\]"):
        check_nodes(2, 1)
    with pytest.raises(ParameterInvalid, match=r"\[expected=1\]\[actual=2\]"):
        check_unchanged(load, 2)


def test_a_record_from_before_replicas_becomes_one_replica() -> None:
    load = querycoord_pb2.CollectionLoadInfo(collection=_collection())
    load.assignments.add(channel=CH0, node_id=LEADER0)
    load.assignments.add(channel=CH1, node_id=LEADER1)
    load.placements.add(segment_id=100, channel=CH0, node_id=WORKER)
    assert migrate(load) and not load.assignments and not load.placements
    (replica,) = load.replicas
    assert replica.replica_id == CID and list(replica.node_ids) == [LEADER0, LEADER1]
    assert [a.node_id for a in replica.assignments] == [LEADER0, LEADER1] and len(replica.placements) == 1
    assert not migrate(load)


def test_shard_leaders_list_every_serviceable_replica() -> None:
    load, target = new_load(_collection(), (), 7, [1, 2]), _target()
    for replica, (a, b) in zip(load.replicas, ((LEADER0, LEADER0), (LEADER1, LEADER1))):
        replica.node_ids.append(a)
        replica.assignments[0].node_id, replica.assignments[1].node_id = a, b
    nodes = {LEADER0: _view(LEADER0, (CH0, CH1)), LEADER1: _view(LEADER1, (CH0,))}
    live = {LEADER0: "a", LEADER1: "b"}
    leaders = shard_leaders(load, target, nodes, live)
    assert [(s.channel, s.node_id, s.replica_id) for s in leaders] == [
        (CH0, LEADER0, 1), (CH0, LEADER1, 2), (CH1, LEADER0, 1)]  # replica 2 does not serve ch1 yet
    assert load_progress(load, target, nodes, live) < 100
    assert [s.node_id for s in shard_leaders(load, target, nodes, {LEADER0: "a"})] == [LEADER0, LEADER0]
    with pytest.raises(ServiceUnavailable, match="channel ch1"):
        shard_leaders(load, target, {LEADER1: nodes[LEADER1]}, {LEADER1: "b"})


def test_a_replica_without_nodes_does_not_hold_back_the_load() -> None:
    load, target = _load(), _target()
    load.replicas.add(replica_id=2).assignments.add(channel=CH0, node_id=0)  # more replicas than nodes
    nodes = {LEADER0: _view(LEADER0, (CH0,), (100, 101)), LEADER1: _view(LEADER1, (CH1,), (102,))}
    assert load_progress(load, target, nodes, {LEADER0, LEADER1}) == 100
    load.replicas[1].node_ids.append(WORKER)  # it got a node: now it counts
    assert load_progress(load, target, nodes, {LEADER0, LEADER1, WORKER}) < 100
