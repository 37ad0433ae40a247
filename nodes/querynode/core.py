"""QueryNode logic: leads the channels querycoord assigns to it (one ``Shard`` each) and answers
searches and queries over them.

Every ``common.heartbeat_interval_s`` the node reports what it holds to querycoord and
reconciles with the ChannelTargets it gets back: new channels get a Shard, known ones their
newest target (new sealed segments, indexes, released segments), channels no longer targeted
are stopped and dropped.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from common.errors import ChannelNotFound
from common.interfaces import QueryNode as QueryNodePeer
from common.runtime import RoleComponent, RoleContext
from common.compute.distance import metric_is_ascending
from nodes.querynode import executor
from nodes.querynode.monitoring import QueryNodeMetrics
from dataplane.reduce import merge_query_results, merge_search_results, row_count
from nodes.querynode.shard import ReadView, Shard
from proto.internal import meta_pb2, querycoord_pb2, querynode_pb2

READY_TIMEOUT_S = 10.0
LATEST_TIMEOUT_S = 10.0
HEARTBEAT_WARN_EVERY_S = 5.0
_Read = TypeVar("_Read", querynode_pb2.ShardSearchRequest, querynode_pb2.ShardQueryRequest)


class QueryNode(RoleComponent):
    """A querynode; implements ``common.interfaces.QueryNode``. ``address`` is where its gRPC
    service listens and ``fast_endpoint`` where its TCP hot path does (set by the server)."""

    role = "querynode"

    def __init__(self, context: RoleContext, address: str | Callable[[], str] = "",
                 fast_endpoint: Callable[[], str] = lambda: "") -> None:
        super().__init__(context.node_id)
        self._context = context
        self._address = address
        self._fast_endpoint = fast_endpoint
        self._interval = float(context.config.get("common", "heartbeat_interval_s"))
        self._lock = threading.Lock()
        self._shards: dict[str, Shard] = {}
        self._heartbeat_lock = threading.Lock()
        self._last_warning = 0.0
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="querynode-holders")
        self._metrics = QueryNodeMetrics(context.metrics, self.shards, lambda: context.log)

    @property
    def address(self) -> str:
        return self._address() if callable(self._address) else self._address

    def get_component_state(self, request: meta_pb2.Empty) -> meta_pb2.ComponentStateResponse:
        state = super().get_component_state(request)
        state.fast_endpoint = self._fast_endpoint()
        return state

    # ------------------------------------------------------------------------ lifecycle
    def _start(self) -> None:
        self.run_every(self._interval, self._heartbeat_step, "heartbeat")

    def _heartbeat_step(self) -> None:
        try:
            self.heartbeat()
        except Exception as exc:  # noqa: BLE001 - retried next round; log once per few seconds
            now = time.monotonic()
            if now - self._last_warning >= HEARTBEAT_WARN_EVERY_S:
                self._last_warning = now
                self.log.warning("querynode %d: heartbeat to querycoord failed: %s", self.node_id, exc)

    def _stop(self) -> None:
        with self._lock:
            shards, self._shards = list(self._shards.values()), {}
        for shard in shards:
            shard.stop()
        self._pool.shutdown(wait=False)

    # ------------------------------------------------------------------------ heartbeat
    def heartbeat(self) -> None:
        """Report to querycoord and reconcile with the targets it answers."""
        with self._heartbeat_lock:
            with self._lock:
                shards = list(self._shards.values())
            request = querycoord_pb2.QueryNodeHeartbeatRequest(node_id=self.node_id, address=self.address)
            for shard in shards:
                request.channels.append(shard.status())
                request.sealed_segment_ids.extend(shard.sealed_segment_ids())
                request.indexed_build_ids.extend(shard.indexed_build_ids())
                request.segments.extend(shard.loaded_segments())
            querycoord = self._context.querycoord_with_timeout(max(5.0, self._interval * 10))
            response = querycoord.query_node_heartbeat(request)
            if not self._stopping.is_set():
                self.reconcile(response.targets)

    def reconcile(self, targets: Iterable[querycoord_pb2.ChannelTarget]) -> None:
        """Make the shards match ``targets`` (ChannelTargets)."""
        wanted = {t.channel: t for t in targets}
        dropped: list[Shard] = []
        with self._lock:
            for channel, shard in list(self._shards.items()):
                target = wanted.get(channel)
                if (target is None or target.collection.collection_id != shard.collection_id
                        or bool(target.worker) != shard.worker):
                    dropped.append(self._shards.pop(channel))
            for channel, target in wanted.items():
                held = self._shards.get(channel)
                if held is None:
                    started = Shard(target, self._context.storage, self._context.log)
                    self._shards[channel] = started
                    started.start()
                    self.log.info("querynode %d leads channel %s from offset %d", self.node_id, channel,
                                  target.checkpoint.offset)
                else:
                    held.update_target(target)
        for shard in dropped:
            self.log.info("querynode %d drops channel %s", self.node_id, shard.channel)
            shard.stop()

    # ------------------------------------------------------------------------ reads
    def shard(self, channel: str, collection_id: int = 0) -> Shard:
        with self._lock:
            shard = self._shards.get(channel)
        if shard is None or (collection_id and shard.collection_id != collection_id):
            raise ChannelNotFound(f"channel {channel} is not served by querynode {self.node_id}")
        return shard

    def shards(self) -> dict[str, Shard]:
        with self._lock:
            return dict(self._shards)

    def _view(self, scope: querynode_pb2.ReadScope) -> tuple[Shard, ReadView]:
        shard = self.shard(scope.channel, scope.collection_id)
        shard.wait_ready(READY_TIMEOUT_S)
        if scope.segment_ids:  # a leader's read of segments this node holds for it
            if not shard.worker:
                raise ChannelNotFound(f"querynode {self.node_id} is not a worker of channel {scope.channel}")
            shard.wait_consumed(scope.min_offset, LATEST_TIMEOUT_S)
        elif scope.wait_for_latest:
            shard.wait_latest(LATEST_TIMEOUT_S)
        elif shard.worker:
            raise ChannelNotFound(f"channel {scope.channel} is not led by querynode {self.node_id}")
        return shard, shard.read_view(scope.partition_ids, scope.segment_ids)

    def search(self, request: querynode_pb2.ShardSearchRequest) -> querynode_pb2.ShardSearchResult:
        """Top-k over the shard: its own segments, merged with what the nodes holding its
        remote segments answer."""
        with self._metrics.timed("search"):
            return self._search(request)

    def _search(self, request: querynode_pb2.ShardSearchRequest) -> querynode_pb2.ShardSearchResult:
        shard, view = self._view(request.scope)
        local = executor.search(view, shard.schema, request, shard.indexes())
        if not view.remote:
            return querynode_pb2.ShardSearchResult(results=local)
        answers = self._ask_holders(view, request, _search)  # the holders run the same plan
        plan = request.plan
        merged = merge_search_results([local, *(a.results for a in answers)], int(plan.nq), int(plan.topk),
                                      metric_is_ascending(plan.metric_type))
        return querynode_pb2.ShardSearchResult(results=merged)

    def query(self, request: querynode_pb2.ShardQueryRequest) -> querynode_pb2.ShardQueryResult:
        """The rows (fields_data, count) of the shard, its remote segments included."""
        with self._metrics.timed("query"):
            return self._query(request)

    def _query(self, request: querynode_pb2.ShardQueryRequest) -> querynode_pb2.ShardQueryResult:
        shard, view = self._view(request.scope)
        fields_data, count = executor.query(view, shard.schema, request)
        if not view.remote:
            return querynode_pb2.ShardQueryResult(fields_data=fields_data, count=count)
        answers = self._ask_holders(view, request, _query)
        if request.count_only:
            return querynode_pb2.ShardQueryResult(count=count + sum(a.count for a in answers))
        pk_name = shard.schema.primary_field.name
        merged = merge_query_results([fields_data, *(a.fields_data for a in answers)], pk_name, int(request.limit))
        if not merged:
            return querynode_pb2.ShardQueryResult(fields_data=fields_data, count=0)
        return querynode_pb2.ShardQueryResult(fields_data=merged, count=row_count(merged, pk_name))

    def _ask_holders(self, view: ReadView, request: _Read, read: Callable[[QueryNodePeer, _Read], Any]) -> list[Any]:
        """``read`` on every node holding some of the view's remote segments, each asked for
        its segments once it has consumed as far as this leader had."""
        by_node: dict[str, list[int]] = {}
        for remote in view.remote:
            by_node.setdefault(remote.address, []).append(remote.segment_id)
        requests = []
        for address, segment_ids in by_node.items():
            copy = type(request)()
            copy.CopyFrom(request)
            copy.scope.segment_ids[:] = sorted(segment_ids)
            copy.scope.min_offset = view.position
            copy.scope.wait_for_latest = False
            requests.append((address, copy))
        if len(requests) == 1:
            address, copy = requests[0]
            return [read(self._context.querynode(address), copy)]
        futures = [self._pool.submit(read, self._context.querynode(address), copy) for address, copy in requests]
        return [f.result() for f in futures]


def _search(node: QueryNodePeer, request: querynode_pb2.ShardSearchRequest) -> querynode_pb2.ShardSearchResult:
    return node.search(request)


def _query(node: QueryNodePeer, request: querynode_pb2.ShardQueryRequest) -> querynode_pb2.ShardQueryResult:
    return node.query(request)
