"""QueryCoord logic: which collections are loaded, which querynode leads each channel, and what
each querynode should hold (its targets).

State:
- loaded collections, persisted by a ``QueryCoordCatalog`` (``catalog.py``;
  ``CollectionLoadInfo``: the collection, each channel's querynode, whether the load once
  reached 100 %); rebuilt on start;
- the latest ``RecoveryInfo`` of each loaded collection (flushed segments with finished indexes,
  delta logs, checkpoints), fetched from datacoord by the target loop;
- what each querynode reported in its last heartbeat (soft state, rebuilt by heartbeats).

Replicas: a load has ``replica_number`` replicas (``replicas.py``), each serving every channel
with its own leaders and sealed segments on its own querynodes; a node is in at most one
replica of a collection. GetShardLeaders lists every serviceable leader of each channel (one
per replica), so the proxy can spread reads and move to another replica when a node fails.
A LoadCollection with another replica number on a loaded collection adds or removes replicas
(Milvus 2.6); LoadPartitions cannot change it.

Partitions: a load covers every partition (LoadCollection; partitions created later
included) or a set of partitions (LoadPartitions, ``partition_load``). Targets carry the
loaded partitions and only their sealed segments; a channel counts as served only once its
querynode reports serving exactly the load's partitions, so progress and shard leaders never
run ahead of what the node reads.

The target loop (every ``common.heartbeat_interval_s``) fits the replicas' node sets to the
live querynodes and moves channels of querynodes that left a replica (their session is gone)
to the replica's node leading the fewest channels, refreshes the recovery
info and records when a load reaches 100 %. A querynode learns its ChannelTargets from
``heartbeat``; it reconciles toward them (see ``nodes/querynode``).
"""
from __future__ import annotations

import time
from collections.abc import Sequence

from common.errors import CollectionNotFound, CollectionNotLoaded, ParameterInvalid
from coordinators.querycoord import balance
from coordinators.querycoord.balance import BalanceMixin
from coordinators.querycoord.loads import assign_leaders, extended_load, new_load, partitions_after_release
from coordinators.querycoord.progress import NodeView, load_progress, replica_leaders, shard_leaders
from coordinators.querycoord.replicas import check_nodes, check_unchanged, fit_nodes, migrate, replica_count, resize
from proto.internal import datacoord_pb2, meta_pb2, querycoord_pb2, rootcoord_pb2

WARN_EVERY_S = 5.0


class QueryCoord(BalanceMixin):
    """Load/release, channel placement and targets; its state is ``QueryCoordState``
    (``state.py``). Implements ``common.interfaces.QueryCoord``. Thread-safe."""

    # ------------------------------------------------------------------------ lifecycle
    def _start(self) -> None:
        for info in self._catalog.load_loads():
            # After a restart the nodes recover from scratch: progress is measured again.
            info.fully_loaded = False
            if migrate(info):
                self._persist(info)
            self._loads[info.collection.collection_id] = info
        self.spawn(self._target_loop, "target-loop")

    def _stop(self) -> None:
        self._wake.set()

    def _target_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the loop must go on
                if not self._stopping.is_set():
                    self.log.exception("target refresh failed")
            self._wake.wait(self._interval)
            self._wake.clear()

    # ------------------------------------------------------------------------ load / release
    def load_collection(self, request: datacoord_pb2.CollectionRequest) -> None:
        """Record the collection as loaded whole with ``request.replica_number`` replicas (0:
        1) and place its channels (idempotent; a partition load becomes a load of every
        partition; another replica number adds or removes replicas). Raises
        ResourceGroupNodeNotEnough when a first load has fewer live querynodes than replicas."""
        self._load(request, ())

    def load_partitions(self, request: datacoord_pb2.CollectionRequest) -> None:
        """Load ``request.partition_ids`` as well (idempotent; a collection loaded whole
        stays so), with ``request.replica_number`` replicas (0: 1). Raises ParameterInvalid
        when the collection is loaded with another replica number, ResourceGroupNodeNotEnough
        as LoadCollection."""
        if not request.partition_ids:
            raise ParameterInvalid("LoadPartitions needs at least one partition")
        self._load(request, request.partition_ids)

    def _load(self, request: datacoord_pb2.CollectionRequest, partition_ids: Sequence[int]) -> None:
        info = self._collection_info(request)
        collection_id = info.collection_id
        replicas = replica_count(request.replica_number)
        live = self._live_nodes()
        with self._lock:
            existing = self._loads.get(collection_id)
            if existing is not None:
                if partition_ids:  # Milvus checks the nodes on every LoadPartitions, then the number
                    check_nodes(replicas, len(live))
                    check_unchanged(existing, replicas)
                extended = extended_load(existing, info if request.HasField("collection") else None, partition_ids)
                updated = querycoord_pb2.CollectionLoadInfo()
                updated.CopyFrom(extended or existing)
                resized = resize(updated, replicas, self._catalog.allocate_replica_ids)
                if resized:
                    updated.fully_loaded = False
                    self._assign(updated, live)
                if extended is None and not resized:
                    return
                self._persist(updated)
                existing.CopyFrom(updated)  # in place: the target loop knows the load by identity
                self.log.info("collection %d: load now covers %s with %d replicas", collection_id,
                              list(updated.partition_ids) if updated.partition_load else "every partition",
                              replicas)
                self._wake.set()
                return
            check_nodes(replicas, len(live))
            first = self._catalog.allocate_replica_ids(replicas)
            load = new_load(info, partition_ids, int(time.time() * 1000), range(first, first + replicas))
            self._assign(load, live)
            self._persist(load)
            self._loads[collection_id] = load
        self.log.info("collection %d loaded (%s): %s", collection_id,
                      list(load.partition_ids) if load.partition_load else "every partition",
                      {r.replica_id: {a.channel: a.node_id for a in r.assignments} for r in load.replicas})
        self._wake.set()

    def release_partitions(self, request: datacoord_pb2.CollectionRequest) -> None:
        """Release ``request.partition_ids`` (no error for ones not loaded). Releasing part of
        a collection loaded whole turns it into a load of its other partitions (those of
        ``request.collection``); releasing every loaded partition releases the collection."""
        collection_id = request.collection_id or request.collection.collection_id
        released = set(request.partition_ids)
        with self._lock:
            load = self._loads.get(collection_id)
            if load is None:
                return
            kept = partitions_after_release(load, released, request.collection)
            if kept is None:
                return
            if not kept:
                self._release(collection_id)
                return
            load.partition_load = True
            del load.partition_ids[:]
            load.partition_ids.extend(sorted(kept))
            self._persist(load)
        self.log.info("collection %d: released partitions %s, still loaded %s", collection_id, sorted(released), kept)
        self._wake.set()

    def release_collection(self, request: datacoord_pb2.CollectionRequest) -> None:
        """Forget the collection (no error when it is not loaded); querynodes drop its channels
        on their next heartbeat."""
        self._release(request.collection_id or request.collection.collection_id)

    def _release(self, collection_id: int) -> None:
        with self._lock:
            if self._loads.pop(collection_id, None) is not None:
                self._catalog.delete_load(collection_id)
            self._targets.pop(collection_id, None)

    def _collection_info(self, request: datacoord_pb2.CollectionRequest) -> meta_pb2.CollectionInfo:
        if request.HasField("collection") and request.collection.collection_id and request.collection.channels:
            return request.collection
        collection_id = request.collection_id or request.collection.collection_id
        if not collection_id:
            raise ParameterInvalid("LoadCollection needs a collection id")
        response = self._context.rootcoord.describe_collection(
            rootcoord_pb2.DescribeCollectionRequest(collection_id=collection_id))
        if not response.collection.channels:
            raise CollectionNotFound(f"collection {collection_id} has no channels")
        return response.collection

    # ------------------------------------------------------------------------ placement
    def _assign(self, load: querycoord_pb2.CollectionLoadInfo, live: dict[int, str]) -> bool:
        """Fit the replicas' node sets to the ``live`` querynodes (``fit_nodes``), then give
        every channel of a replica whose leader is not one of the replica's nodes a new leader
        (``assign_leaders``); a new leader holds every segment of its channel. Returns True
        when a node set or an assignment changed. Caller holds the lock."""
        changed = fit_nodes(load, live)
        collection_id = load.collection.collection_id
        elsewhere = [r for other in self._loads.values() if other.collection.collection_id != collection_id
                     for r in other.replicas]
        for replica in load.replicas:
            others = elsewhere + [r for r in load.replicas if r is not replica]
            moves = assign_leaders(replica, others)
            for a in replica.assignments:
                node = moves.get(a.channel)
                if node is None:
                    continue
                if a.node_id:
                    self.log.info("channel %s (replica %d) moves from querynode %d to %d", a.channel,
                                  replica.replica_id, a.node_id, node)
                a.node_id = node
                balance.drop_channel_placements(replica, a.channel)
                changed = True
            if not replica.node_ids and any(a.node_id for a in replica.assignments):
                for a in replica.assignments:  # no node left: nothing is served until one comes
                    a.node_id = 0
                    balance.drop_channel_placements(replica, a.channel)
                changed = True
        return changed

    def refresh(self) -> None:
        """One round of the target loop: reassign channels of gone nodes, fetch targets, note
        loads that reached 100 %."""
        live = self._live_nodes()
        with self._lock:
            for node_id in list(self._nodes):
                if node_id not in live:
                    del self._nodes[node_id]
            for load in self._loads.values():
                if self._assign(load, live):
                    self._persist(load)
            fetches = [(load, load.collection) for load in self._loads.values()]
        for load, collection in fetches:
            collection_id = collection.collection_id
            try:
                info = self._context.datacoord.get_recovery_info(
                    datacoord_pb2.CollectionRequest(collection=collection, collection_id=collection_id))
            except CollectionNotFound:
                with self._lock:  # keep a target we have; none yet: a new collection, nothing flushed
                    if self._loads.get(collection_id) is load and collection_id not in self._targets:
                        self._targets[collection_id] = datacoord_pb2.RecoveryInfo()
                continue
            except Exception as exc:  # noqa: BLE001 - keep the last target; try again next round
                now = time.monotonic()
                if now - self._last_warning >= WARN_EVERY_S:
                    self._last_warning = now
                    self.log.warning("GetRecoveryInfo(%d) failed (retrying every round): %s", collection_id, exc)
                continue
            with self._lock:  # not when the collection was released (and maybe loaded again) meanwhile:
                if self._loads.get(collection_id) is load:  # the info may predate an index change
                    self._targets[collection_id] = info
        with self._lock:
            for load in self._loads.values():
                if self._settle(load, live):
                    self._persist(load)
                if not load.fully_loaded and load_progress(load, self._targets.get(load.collection.collection_id),
                                                           self._nodes, live) == 100:
                    load.fully_loaded = True
                    self._persist(load)
                    self.log.info("collection %d is fully loaded", load.collection.collection_id)

    # ------------------------------------------------------------------------ progress
    def get_load_progress(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.LoadProgressResponse:
        """Whether the collection is loaded, and the progress 0..100."""
        live = self._live_nodes()
        with self._lock:
            load = self._loads.get(request.collection_id or request.collection.collection_id)
            if load is None:
                return querycoord_pb2.LoadProgressResponse(loaded=False, progress=0)
            return querycoord_pb2.LoadProgressResponse(loaded=True, progress=self._load_progress(load, live))

    def _load_progress(self, load: querycoord_pb2.CollectionLoadInfo, live: dict[int, str]) -> int:
        """Progress of the whole load; once 100 it stays 100 (until released or extended).
        Caller holds the lock."""
        if load.fully_loaded:
            return 100
        progress = load_progress(load, self._targets.get(load.collection.collection_id), self._nodes, live)
        if progress == 100:
            load.fully_loaded = True
            self._persist(load)
        return progress

    def show_loaded(self, request: querycoord_pb2.ShowLoadedRequest) -> querycoord_pb2.ShowLoadedResponse:
        """The loaded ones of ``collection_ids`` (every loaded collection when empty) with their
        progress. With one collection, each of ``partition_ids`` gets its progress (-1: not
        loaded); without, a partition load lists its partitions."""
        collection_ids, partition_ids = list(request.collection_ids), list(request.partition_ids)
        if partition_ids and len(collection_ids) != 1:
            raise ParameterInvalid("partition progress can be asked for one collection at a time")
        live = self._live_nodes()
        out = []
        with self._lock:
            for collection_id in collection_ids or sorted(self._loads):
                load = self._loads.get(collection_id)
                if load is None:
                    continue
                progress = self._load_progress(load, live)
                item = querycoord_pb2.LoadedCollection(collection_id=collection_id, progress=progress,
                                                       partition_load=load.partition_load)
                for pid in partition_ids or (load.partition_ids if load.partition_load else ()):
                    if load.partition_load and pid not in load.partition_ids:
                        part = -1
                    else:
                        part = 100 if progress == 100 else load_progress(
                            load, self._targets.get(collection_id), self._nodes, live, {pid})
                    item.partitions.add(partition_id=pid, progress=part)
                out.append(item)
        return querycoord_pb2.ShowLoadedResponse(collections=out)

    def get_shard_leaders(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.ShardLeadersResponse:
        """Each channel's serviceable leader. Raises CollectionNotLoaded, or ServiceUnavailable
        (retriable) when a channel has no serviceable leader at the moment."""
        collection_id = request.collection_id or request.collection.collection_id
        live = self._live_nodes()
        with self._lock:
            load = self._loads.get(collection_id)
            if load is None:
                raise CollectionNotLoaded(f"collection not loaded[collection={collection_id}]")
            return querycoord_pb2.ShardLeadersResponse(
                leaders=shard_leaders(load, self._targets.get(collection_id), self._nodes, live))

    # ------------------------------------------------------------------------ heartbeat
    def query_node_heartbeat(self, request: querycoord_pb2.QueryNodeHeartbeatRequest
                             ) -> querycoord_pb2.QueryNodeHeartbeatResponse:
        """Record what the node holds; answer the channels it should lead and their targets."""
        with self._lock:
            targets = []
            for collection_id, load in self._loads.items():
                target = self._targets.get(collection_id)
                if target is None:
                    continue  # no recovery info yet: the node waits rather than replay blindly
                targets.extend(self._node_targets(request.node_id, load, target))
            # Only statuses of channels the node keeps count: one it is about to drop (released,
            # moved) must not make a new load look done.
            kept = {(t.channel, t.collection.collection_id) for t in targets}
            self._nodes[request.node_id] = NodeView(
                node_id=request.node_id, address=request.address,
                channels={c.channel: c for c in request.channels if (c.channel, c.collection_id) in kept},
                sealed_segment_ids=set(request.sealed_segment_ids),
                indexed_build_ids=set(request.indexed_build_ids), last_seen=time.monotonic(),
                segments=list(request.segments))
            return querycoord_pb2.QueryNodeHeartbeatResponse(targets=targets)

    # ------------------------------------------------------------------------ introspection
    def get_segment_info(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.LoadedSegmentsResponse:
        """The sealed segments of a loaded collection that live querynodes reported holding,
        one entry per (segment, node), ``node_id`` set. Raises CollectionNotLoaded."""
        collection_id = request.collection_id or request.collection.collection_id
        live = self._live_nodes()
        with self._lock:
            if collection_id not in self._loads:
                raise CollectionNotLoaded(f"collection not loaded[collection={collection_id}]")
            out = []
            for node_id, view in sorted(self._nodes.items()):
                if node_id not in live:
                    continue
                for seg in view.segments:
                    if seg.collection_id == collection_id:
                        item = querycoord_pb2.LoadedSegment()
                        item.CopyFrom(seg)
                        item.node_id = node_id
                        out.append(item)
            out.sort(key=lambda s: (s.segment_id, s.node_id))
            return querycoord_pb2.LoadedSegmentsResponse(segments=out)

    def get_replicas(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.ReplicasResponse:
        """The replicas of a loaded collection (none when it is not loaded, as Milvus), each
        with its nodes, the loaded partitions and, per channel, its live serviceable leader
        (0 when none) and the nodes serving the channel's data."""
        collection_id = request.collection_id or request.collection.collection_id
        live = self._live_nodes()
        with self._lock:
            load = self._loads.get(collection_id)
            if load is None:
                return querycoord_pb2.ReplicasResponse()
            target = self._targets.get(collection_id)
            partitions = list(load.partition_ids) if load.partition_load else [
                p.partition_id for p in load.collection.partitions]
            out = []
            for replica in sorted(load.replicas, key=lambda r: r.replica_id):
                leaders = replica_leaders(load, replica, target, self._nodes, live)
                view = querycoord_pb2.ReplicaView(replica_id=replica.replica_id, node_ids=replica.node_ids,
                                                  partition_ids=partitions)
                out.append(view)
                for a in replica.assignments:
                    leader = leaders.get(a.channel)
                    nodes = {a.node_id} if leader else set()
                    nodes |= {balance.holder(p, a.node_id) for p in replica.placements if p.channel == a.channel}
                    view.shards.add(channel=a.channel, leader_id=leader.node_id if leader else 0,
                                    leader_address=leader.address if leader else "",
                                    node_ids=sorted(n for n in nodes if n in live))
            return querycoord_pb2.ReplicasResponse(replicas=out)

    def loaded_collections(self) -> list[int]:
        with self._lock:
            return sorted(self._loads)

    def assignments(self, collection_id: int, replica: int = 0) -> dict[str, int]:
        """Each channel's leader in the collection's ``replica``-th replica (by id order)."""
        with self._lock:
            load = self._loads.get(collection_id)
            if load is None:
                return {}
            chosen = sorted(load.replicas, key=lambda r: r.replica_id)[replica]
            return {a.channel: a.node_id for a in chosen.assignments}

    def replica_nodes(self, collection_id: int) -> list[list[int]]:
        """The node set of each replica of the collection (by replica id)."""
        with self._lock:
            load = self._loads.get(collection_id)
            return [list(r.node_ids) for r in sorted(load.replicas, key=lambda r: r.replica_id)] if load else []
