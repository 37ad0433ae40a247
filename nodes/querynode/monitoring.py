"""The querynode's Prometheus metrics (Milvus's names, pkg/metrics/querynode_metrics.go):
request counts and latencies of searches and queries, and, read from the shards at each scrape,
segments, entities and their memory per collection and state, and the log backlog per channel."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from common.interfaces.log import Log
from common.metrics import GaugeSamples, MetricsRegistry

if TYPE_CHECKING:
    from nodes.querynode.shard import Shard


class QueryNodeMetrics:
    """Registers the querynode's metrics in ``registry``; ``shards()`` lists what the node holds
    and ``log()`` gives the log whose end offsets measure the backlog."""

    def __init__(self, registry: MetricsRegistry, shards: Callable[[], dict[str, Shard]],
                 log: Callable[[], Log]) -> None:
        self._shards = shards
        self._log = log
        self.sq_req_count = registry.counter("milvus_querynode_sq_req_count", "count of search / query request",
                                             ("query_type", "status"))
        self.sq_req_latency = registry.histogram("milvus_querynode_sq_req_latency",
                                                 "latency of Search or query requests", ("query_type",))
        registry.gauge_source("milvus_querynode_segment_num", "number of segments loaded, by collection and state",
                              ("collection_id", "segment_state"), lambda: self._per_state(0))
        registry.gauge_source("milvus_querynode_entity_num",
                              "number of entities which can be searched/queried, by collection and state",
                              ("collection_id", "segment_state"), lambda: self._per_state(1))
        registry.gauge_source("milvus_querynode_entity_size", "memory of the sealed segments held, in bytes",
                              ("collection_id", "segment_state"), lambda: self._per_state(2))
        registry.gauge_source("milvus_querynode_consume_backlog",
                              "records of the channel not consumed yet (the log's end offset minus the position)",
                              ("channel_name",), self._backlog)

    @contextmanager
    def timed(self, query_type: str) -> Iterator[None]:
        """Count and time one ``query_type`` ("search" or "query") request around the block;
        an exception counts as ``fail`` and propagates."""
        started = time.perf_counter()
        status = "fail"
        try:
            yield
            status = "success"
        finally:
            self.sq_req_count.inc(query_type, "total")
            self.sq_req_count.inc(query_type, status)
            self.sq_req_latency.observe((time.perf_counter() - started) * 1000.0, query_type)

    def _per_state(self, column: int) -> GaugeSamples:
        """(collection, state) -> [segments, rows, bytes][column], growing and sealed."""
        totals: dict[tuple[str, str], list[int]] = {}
        for shard in self._shards().values():
            collection = str(shard.collection_id)
            segments, rows = shard.growing_counts()
            grow = totals.setdefault((collection, "Growing"), [0, 0, 0])
            grow[0] += segments
            grow[1] += rows
            sealed = totals.setdefault((collection, "Sealed"), [0, 0, 0])
            for seg in shard.loaded_segments():
                sealed[0] += 1
                sealed[1] += seg.num_rows
                sealed[2] += seg.mem_size
        return [(labels, values[column]) for labels, values in totals.items()]

    def _backlog(self) -> GaugeSamples:
        log = self._log()
        return [((channel,), max(0, log.end_offset(channel) - shard.position))
                for channel, shard in self._shards().items() if not shard.worker]
