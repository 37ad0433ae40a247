"""Replicas of a loaded collection, as pure functions of records.

A load has ``replica_number`` replicas (``querycoord_pb2.Replica``); each serves every channel
of the collection with its own leaders (each consumes the channel itself) and its own sealed
segments, on its own querynodes: no querynode is in two replicas of the same collection, so a
node leads a channel for at most one replica and the querynode's state stays keyed by channel.

Node sets (``fit_nodes``) follow Milvus's replica manager over its one resource group: every
live querynode belongs to one replica of each loaded collection; a node that is gone leaves
its replica; a node that belongs to none (new, or freed when replicas were removed) joins the
replica with the fewest nodes; a replica left without nodes takes one from the replica with the
most, when that one has two or more. A replica without a node serves nothing until a node
comes (its channels count as not loaded; reads go to the other replicas).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from common.errors import ParameterInvalid, ResourceGroupNodeNotEnough
from common.types import DEFAULT_RESOURCE_GROUP
from proto.internal import querycoord_pb2

Replica = querycoord_pb2.Replica


def replica_count(requested: int) -> int:
    """The replica number a load asks for: ``requested``, or 1 when it is 0 or less (as
    Milvus: an SDK that sends no replica number gets one replica)."""
    return requested if requested > 0 else 1


def check_nodes(replica_number: int, live: int) -> None:
    """Raise ResourceGroupNodeNotEnough (Milvus code 304, its message) when a first load of
    ``replica_number`` replicas cannot put each on its own querynode. One replica may wait for
    its first querynode (a load before any querynode registered)."""
    if replica_number > max(1, live):
        raise ResourceGroupNodeNotEnough(
            f"resource group node not enough[rg={DEFAULT_RESOURCE_GROUP}][currentNodeNum={live}]"
            f"[expectedNodeNum={replica_number}]")


def check_unchanged(load: querycoord_pb2.CollectionLoadInfo, replica_number: int) -> None:
    """Raise ParameterInvalid (Milvus's message) when LoadPartitions asks a loaded collection
    for another replica number (Milvus changes it only through LoadCollection)."""
    current = len(load.replicas)
    if current != replica_number:
        raise ParameterInvalid(f"can't change the replica number for loaded partitions: "
                               f"invalid parameter[expected={current}][actual={replica_number}]")


def new_replica(replica_id: int, channels: Iterable[str]) -> Replica:
    """A replica without nodes yet, every channel without a leader (node 0)."""
    replica = Replica(replica_id=replica_id)
    for channel in channels:
        replica.assignments.add(channel=channel, node_id=0)
    return replica


def migrate(load: querycoord_pb2.CollectionLoadInfo) -> bool:
    """Turn a record written before replicas existed (assignments and placements at the top)
    into one replica, whose id is the collection id (ids from rootcoord's allocator, distinct
    from querycoord's replica ids). Returns True when the record changed."""
    if load.replicas or not load.assignments:
        return False
    nodes = sorted({a.node_id for a in load.assignments if a.node_id})
    replica = load.replicas.add(replica_id=load.collection.collection_id, node_ids=nodes)
    replica.assignments.extend(load.assignments)
    replica.placements.extend(load.placements)
    del load.assignments[:]
    del load.placements[:]
    return True


def resize(load: querycoord_pb2.CollectionLoadInfo, count: int, allocate: Callable[[int], int]) -> bool:
    """Give ``load`` ``count`` replicas: new ones (ids ``allocate(n)``, ``allocate(n) + 1``...)
    or the newest ones removed (their nodes join the others through ``fit_nodes``). Returns
    True when the replicas changed."""
    current = len(load.replicas)
    if count == current:
        return False
    if count < current:
        kept = sorted(load.replicas, key=lambda r: r.replica_id)[:count]
        copies = [Replica() for _ in kept]
        for copy, replica in zip(copies, kept):
            copy.CopyFrom(replica)
        del load.replicas[:]
        load.replicas.extend(copies)
        return True
    first = allocate(count - current)
    for i in range(count - current):
        load.replicas.append(new_replica(first + i, load.collection.channels))
    return True


def fit_nodes(load: querycoord_pb2.CollectionLoadInfo, live: Iterable[int]) -> bool:
    """Fit the replicas' node sets to the ``live`` querynodes (rules in the module docstring).
    Returns True when a node set changed. The caller then gives channels whose leader left
    the replica a new leader."""
    alive = set(live)
    changed = False
    for replica in load.replicas:
        kept = [n for n in replica.node_ids if n in alive]
        if len(kept) != len(replica.node_ids):
            del replica.node_ids[:]
            replica.node_ids.extend(kept)
            changed = True
    if not load.replicas:
        return changed
    taken = {n for r in load.replicas for n in r.node_ids}
    for node in sorted(alive - taken):
        fewest = min(load.replicas, key=lambda r: (len(r.node_ids), r.replica_id))
        fewest.node_ids.append(node)
        changed = True
    while True:
        empty = next((r for r in load.replicas if not r.node_ids), None)
        richest = max(load.replicas, key=lambda r: (len(r.node_ids), -r.replica_id))
        if empty is None or len(richest.node_ids) < 2:
            break
        node = max(richest.node_ids)
        richest.node_ids.remove(node)
        empty.node_ids.append(node)
        changed = True
    for replica in load.replicas:
        ordered = sorted(replica.node_ids)
        if list(replica.node_ids) != ordered:
            del replica.node_ids[:]
            replica.node_ids.extend(ordered)
    return changed


def replica_of(load: querycoord_pb2.CollectionLoadInfo, node_id: int) -> Replica | None:
    """The replica of ``load`` that ``node_id`` belongs to, if any."""
    return next((r for r in load.replicas if node_id in r.node_ids), None)
