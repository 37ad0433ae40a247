"""Decisions about a collection's load record (``CollectionLoadInfo``), as pure functions of
records: what a LoadCollection / LoadPartitions / ReleasePartitions makes of it, and which
querynode leads each channel in a replica."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from common.errors import ParameterInvalid
from coordinators.querycoord.replicas import new_replica
from proto.internal import meta_pb2, querycoord_pb2


def new_load(info: meta_pb2.CollectionInfo, partition_ids: Iterable[int], load_time_ms: int,
             replica_ids: Sequence[int]) -> querycoord_pb2.CollectionLoadInfo:
    """The record of a first load: of every partition when ``partition_ids`` is empty, else of
    those; one replica per id of ``replica_ids``, without nodes yet, every channel without a
    leader (node 0)."""
    pids = sorted(set(partition_ids))
    load = querycoord_pb2.CollectionLoadInfo(collection=info, load_time_ms=load_time_ms,
                                             partition_load=bool(pids), partition_ids=pids)
    load.replicas.extend(new_replica(replica_id, info.channels) for replica_id in replica_ids)
    return load


def extended_load(existing: querycoord_pb2.CollectionLoadInfo, info: meta_pb2.CollectionInfo | None,
                  partition_ids: Sequence[int]) -> querycoord_pb2.CollectionLoadInfo | None:
    """``existing`` after another load of the collection (``info``: the collection the
    request carried, None when it carried none), or None when nothing changes. A load of
    every partition (``partition_ids`` empty) turns a partition load into a whole one; new
    partitions are added to a partition load (and a whole load stays whole). A change of
    partitions measures progress again (``fully_loaded`` cleared)."""
    updated = querycoord_pb2.CollectionLoadInfo()
    updated.CopyFrom(existing)
    if info is not None and existing.collection != info:
        updated.collection.CopyFrom(info)
    if existing.partition_load and not partition_ids:
        updated.partition_load = False
        del updated.partition_ids[:]
        updated.fully_loaded = False
    elif existing.partition_load:
        new = sorted(set(partition_ids) - set(existing.partition_ids))
        if new:
            updated.partition_ids.extend(new)
            updated.fully_loaded = False
    return None if updated == existing else updated


def partitions_after_release(load: querycoord_pb2.CollectionLoadInfo, released: set[int],
                             collection: meta_pb2.CollectionInfo) -> list[int] | None:
    """The partitions still loaded once ``released`` are released: None when nothing changes,
    ``[]`` when nothing stays loaded (the collection is released). A whole load becomes a load
    of ``collection``'s other partitions; ParameterInvalid when ``collection`` lists none."""
    if not released:
        return None
    if load.partition_load:
        kept = [p for p in load.partition_ids if p not in released]
        return None if kept and len(kept) == len(load.partition_ids) else kept
    if not collection.partitions:
        raise ParameterInvalid("ReleasePartitions of a collection loaded whole needs its partitions")
    return [p.partition_id for p in collection.partitions if p.partition_id not in released]


def assign_leaders(replica: querycoord_pb2.Replica,
                   others: Iterable[querycoord_pb2.Replica]) -> dict[str, int]:
    """The new leader of each channel of ``replica`` whose leader is not one of its nodes
    (channel → node): the node of the replica leading the fewest channels of ``replica`` and
    ``others`` (every other replica of every load; lowest id among equals), counting the
    channels assigned here. Empty when the replica has no node."""
    counts = {node: 0 for node in replica.node_ids}
    if not counts:
        return {}
    for record in (*others, replica):
        for a in record.assignments:
            if a.node_id in counts:
                counts[a.node_id] += 1
    moves = {}
    for a in replica.assignments:
        if a.node_id in counts:
            continue
        node = min(counts, key=lambda n: (counts[n], n))
        moves[a.channel] = node
        counts[node] += 1
    return moves
