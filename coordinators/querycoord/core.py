"""QueryCoord logic: which collections are loaded, which querynode leads each channel, and what
each querynode should hold (its targets).

State:
- loaded collections, persisted at ``meta/load/{collection_id}`` (``CollectionLoadInfo``: the
  collection, each channel's querynode, whether the load once reached 100 %); rebuilt on start;
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

import threading
import time
from dataclasses import dataclass, field

from common.errors import (
    CollectionNotFound,
    CollectionNotLoaded,
    ParameterInvalid,
    ServiceUnavailable,
)
from common.runtime import RoleComponent, RoleContext
from common.session import list_sessions
from coordinators.querycoord import balance
from coordinators.querycoord.balance import BalanceMixin
from coordinators.querycoord.targets import target_segments
from proto.internal import datacoord_pb2, meta_pb2, querycoord_pb2, rootcoord_pb2

LOAD_PREFIX = "meta/load/"
WARN_EVERY_S = 5.0


def load_key(collection_id: int) -> str:
    return f"{LOAD_PREFIX}{collection_id}"


@dataclass
class NodeView:
    """What a querynode reported in its last heartbeat."""

    node_id: int
    address: str
    channels: dict[str, querycoord_pb2.ChannelStatus] = field(default_factory=dict)
    sealed_segment_ids: set[int] = field(default_factory=set)
    indexed_build_ids: set[int] = field(default_factory=set)
    last_seen: float = 0.0
    segments: list[querycoord_pb2.LoadedSegment] = field(default_factory=list)

    def serves(self, channel: str, load: querycoord_pb2.CollectionLoadInfo,
               target: datacoord_pb2.RecoveryInfo | None) -> bool:
        """True when the node serves ``channel`` of the load's collection, caught up, with
        exactly the load's partitions and the indexes of ``target`` (a shard still holding the
        target of an earlier load would check searches against indexes since dropped)."""
        status = self.channels.get(channel)
        if status is None or not status.serviceable or status.collection_id != load.collection.collection_id:
            return False
        if status.partition_load != load.partition_load:
            return False
        if target is None or set(status.index_ids) != {i.index_id for i in target.indexes}:
            return False
        return not load.partition_load or set(status.partition_ids) == set(load.partition_ids)


class QueryCoord(BalanceMixin, RoleComponent):
    """Load/release, channel placement and targets. Implements ``common.interfaces.QueryCoord``.
    Thread-safe."""

    role = "querycoord"

    def __init__(self, context: RoleContext) -> None:
        super().__init__(context.node_id)
        self._context = context
        self._kv = context.kv
        self._interval = float(context.config.get("common", "heartbeat_interval_s"))
        self._lock = threading.RLock()
        self._loads: dict[int, querycoord_pb2.CollectionLoadInfo] = {}
        self._targets: dict[int, datacoord_pb2.RecoveryInfo] = {}
        self._nodes: dict[int, NodeView] = {}
        # The last known record of each placed segment: a compaction may drop it from the
        # target while its holder must keep serving it (see balance.py).
        self._placed_infos: dict[int, datacoord_pb2.SegmentWithIndex] = {}
        self._wake = threading.Event()
        self._last_warning = 0.0

    # ------------------------------------------------------------------------ lifecycle
    def _start(self) -> None:
        for _, raw in self._kv.get_prefix(LOAD_PREFIX):
            info = querycoord_pb2.CollectionLoadInfo.FromString(raw)
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

    def _load(self, request: datacoord_pb2.CollectionRequest, partition_ids) -> None:  # type: ignore[no-untyped-def]
        info = self._collection_info(request)
        collection_id = info.collection_id
        with self._lock:
            existing = self._loads.get(collection_id)
            if existing is not None:
                changed = request.HasField("collection") and existing.collection != info
                if changed:
                    existing.collection.CopyFrom(info)
                if existing.partition_load and not partition_ids:
                    existing.partition_load = False
                    del existing.partition_ids[:]
                    changed = True
                    existing.fully_loaded = False
                elif existing.partition_load:
                    new = sorted(set(partition_ids) - set(existing.partition_ids))
                    if new:
                        existing.partition_ids.extend(new)
                        changed = True
                        existing.fully_loaded = False
                if changed:
                    self._persist(existing)
                    self.log.info("collection %d: load now covers %s", collection_id,
                                  list(existing.partition_ids) if existing.partition_load else "every partition")
                return
            load = querycoord_pb2.CollectionLoadInfo(collection=info, load_time_ms=int(time.time() * 1000),
                                                     partition_load=bool(partition_ids),
                                                     partition_ids=sorted(set(partition_ids)))
            for channel in info.channels:
                load.assignments.add(channel=channel, node_id=0)
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
            if load is None or not released:
                return
            if load.partition_load:
                kept = [p for p in load.partition_ids if p not in released]
            else:
                if not request.collection.partitions:
                    raise ParameterInvalid("ReleasePartitions of a collection loaded whole needs its partitions")
                kept = [p.partition_id for p in request.collection.partitions if p.partition_id not in released]
            if not kept:
                self._release(collection_id)
                return
            if load.partition_load and len(kept) == len(load.partition_ids):
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
                self._kv.delete(load_key(collection_id))
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

    def _persist(self, load: querycoord_pb2.CollectionLoadInfo) -> None:
        self._kv.put(load_key(load.collection.collection_id), load.SerializeToString())

    # ------------------------------------------------------------------------ placement
    def _live_nodes(self) -> dict[int, str]:
        return {s.server_id: s.address for s in list_sessions(self._kv, "querynode")}

    def _assign(self, load: querycoord_pb2.CollectionLoadInfo, live: dict[int, str]) -> bool:
        """Give every channel without a live node the live node leading the fewest channels.
        Returns True when an assignment changed. Caller holds the lock."""
        if not live:
            return False
        counts = {node: 0 for node in live}
        for other in self._loads.values():
            if other is load:
                continue
            for a in other.assignments:
                if a.node_id in counts:
                    counts[a.node_id] += 1
        for a in load.assignments:
            if a.node_id in counts:
                counts[a.node_id] += 1
        changed = False
        for a in load.assignments:
            if a.node_id in live:
                continue
            node = min(counts, key=lambda n: (counts[n], n))
            if a.node_id:
                self.log.info("channel %s moves from gone querynode %d to %d", a.channel, a.node_id, node)
            a.node_id = node
            balance.drop_channel_placements(load, a.channel)
            counts[node] += 1
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
                if load.placements and self._settle(load, live):
                    self._persist(load)
                if not load.fully_loaded and self._progress(load, live) == 100:
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
        progress = self._progress(load, live)
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
                        part = 100 if progress == 100 else self._progress(load, live, {pid})
                    item.partitions.add(partition_id=pid, progress=part)
                out.append(item)
        return querycoord_pb2.ShowLoadedResponse(collections=out)

    def _progress(self, load: querycoord_pb2.CollectionLoadInfo, live: dict[int, str],
                  partition_ids: set[int] | None = None) -> int:
        """Loading progress of the load (of ``partition_ids`` only, when given): its channels
        served and the sealed segments of its partitions held. Caller holds the lock."""
        collection_id = load.collection.collection_id
        target = self._targets.get(collection_id)
        if target is None:
            return 0
        node_of = {a.channel: a.node_id for a in load.assignments}
        placed = balance.placements_by_segment(load)
        total = done = 0
        for channel, node_id in node_of.items():
            total += 1
            view = self._nodes.get(node_id)
            if node_id in live and view is not None and view.serves(channel, load, target):
                done += 1
        for seg in target_segments(target, load):
            if partition_ids is not None and seg.segment.partition_id not in partition_ids:
                continue
            leader = node_of.get(seg.segment.channel)
            if leader is None:
                continue
            node_id = balance.holder(placed.get(seg.segment.segment_id), leader)
            total += 1
            view = self._nodes.get(node_id)
            if node_id in live and view is not None and seg.segment.segment_id in view.sealed_segment_ids:
                done += 1
        if total == 0 or done == total:
            return 100
        return min(99, done * 100 // total)

    def get_shard_leaders(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.ShardLeadersResponse:
        """Each channel's serviceable leader. Raises CollectionNotLoaded, or ServiceUnavailable
        (retriable) when a channel has no serviceable leader at the moment."""
        collection_id = request.collection_id or request.collection.collection_id
        live = self._live_nodes()
        with self._lock:
            load = self._loads.get(collection_id)
            if load is None:
                raise CollectionNotLoaded(f"collection not loaded[collection={collection_id}]")
            leaders = []
            target = self._targets.get(collection_id)
            for a in load.assignments:
                view = self._nodes.get(a.node_id)
                if a.node_id not in live or view is None or not view.serves(a.channel, load, target):
                    raise ServiceUnavailable(
                        f"channel {a.channel} of collection {collection_id} has no serviceable shard leader "
                        "yet (the collection is still loading or its querynode is recovering); retry later")
                leaders.append(querycoord_pb2.ShardLeader(channel=a.channel, node_id=a.node_id,
                                                          address=live[a.node_id] or view.address))
            return querycoord_pb2.ShardLeadersResponse(leaders=leaders)

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
