"""QueryCoord logic: which collections are loaded, which querynode leads each channel, and what
each querynode should hold (its targets).

State:
- loaded collections, persisted by a ``QueryCoordCatalog`` (``catalog.py``;
  ``CollectionLoadInfo``: the collection, each channel's querynode, whether the load once
  reached 100 %); rebuilt on start;
- the latest ``RecoveryInfo`` of each loaded collection (flushed segments with finished indexes,
  delta logs, checkpoints), fetched from datacoord by the target loop;
- what each querynode reported in its last heartbeat (soft state, rebuilt by heartbeats).

Partitions: a load covers every partition (LoadCollection; partitions created later
included) or a set of partitions (LoadPartitions, ``partition_load``). Targets carry the
loaded partitions and only their sealed segments; a channel counts as served only once its
querynode reports serving exactly the load's partitions, so progress and shard leaders never
run ahead of what the node reads.

The target loop (every ``common.heartbeat_interval_s``) moves channels of querynodes whose
session is gone to live ones (the one leading the fewest channels), refreshes the recovery
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
from coordinators.querycoord.progress import NodeView, load_progress, shard_leaders
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
        """Record the collection as loaded whole and place its channels (idempotent; a
        partition load becomes a load of every partition)."""
        self._load(request, ())

    def load_partitions(self, request: datacoord_pb2.CollectionRequest) -> None:
        """Load ``request.partition_ids`` as well (idempotent; a collection loaded whole
        stays so)."""
        if not request.partition_ids:
            raise ParameterInvalid("LoadPartitions needs at least one partition")
        self._load(request, request.partition_ids)

    def _load(self, request: datacoord_pb2.CollectionRequest, partition_ids: Sequence[int]) -> None:
        info = self._collection_info(request)
        collection_id = info.collection_id
        with self._lock:
            existing = self._loads.get(collection_id)
            if existing is not None:
                updated = extended_load(existing, info if request.HasField("collection") else None, partition_ids)
                if updated is not None:
                    self._persist(updated)
                    existing.CopyFrom(updated)  # in place: the target loop knows the load by identity
                    self.log.info("collection %d: load now covers %s", collection_id,
                                  list(existing.partition_ids) if existing.partition_load else "every partition")
                return
            load = new_load(info, partition_ids, int(time.time() * 1000))
            self._assign(load, self._live_nodes())
            self._persist(load)
            self._loads[collection_id] = load
        self.log.info("collection %d loaded (%s): %s", collection_id,
                      list(load.partition_ids) if load.partition_load else "every partition",
                      {a.channel: a.node_id for a in load.assignments})
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
        """Give every channel without a live node a new leader (``assign_leaders``); a new
        leader holds every segment of its channel. Returns True when an assignment changed.
        Caller holds the lock."""
        moves = assign_leaders(load, live, (other for other in self._loads.values() if other is not load))
        for a in load.assignments:
            node = moves.get(a.channel)
            if node is None:
                continue
            if a.node_id:
                self.log.info("channel %s moves from gone querynode %d to %d", a.channel, a.node_id, node)
            a.node_id = node
            balance.drop_channel_placements(load, a.channel)
        return bool(moves)

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
                if load.placements and self._settle(load, live):
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

    def loaded_collections(self) -> list[int]:
        with self._lock:
            return sorted(self._loads)

    def assignments(self, collection_id: int) -> dict[str, int]:
        with self._lock:
            load = self._loads.get(collection_id)
            return {a.channel: a.node_id for a in load.assignments} if load else {}
