"""Milvus's proxy request metrics, recorded around every public RPC: ``instrument(servicer,
metrics)`` returns the servicer with each MilvusService method timed and counted.

As in Milvus (internal/proxy/impl.go), ``milvus_proxy_req_count`` counts each call once with
``status="total"`` and once with ``success`` or ``fail`` (from the response's Status, or
``fail`` when the handler raised), and the search/query/mutation figures count successful
calls only. Latencies are in milliseconds.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from common.metrics import MetricsRegistry
from proto.milvus import milvus_pb2

SERVICE = milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]
_QUERY_TYPES = {"Search": "search", "Query": "query", "HybridSearch": "hybrid_search"}
# rpc -> (msg_type label, the MutationResult field counting its rows)
_MUTATIONS = {"Insert": ("insert", "insert_cnt"), "Delete": ("delete", "delete_cnt"),
              "Upsert": ("upsert", "upsert_cnt")}


def _succeeded(response: Any) -> bool:
    status = response if response.DESCRIPTOR.full_name == "milvus.proto.common.Status" else getattr(
        response, "status", None)
    return status is None or (status.code == 0 and status.error_code == 0)


class ProxyRequestMetrics:
    """The proxy's request metrics in ``registry`` (names and labels as Milvus's pkg/metrics)."""

    def __init__(self, registry: MetricsRegistry) -> None:
        self.req_count = registry.counter("milvus_proxy_req_count", "count of operation executed",
                                          ("function_name", "status"))
        self.req_latency = registry.histogram("milvus_proxy_req_latency", "latency of each request",
                                              ("function_name",))
        self.sq_latency = registry.histogram("milvus_proxy_sq_latency", "latency of search or query successfully",
                                             ("query_type",))
        self.mutation_latency = registry.histogram("milvus_proxy_mutation_latency",
                                                   "latency of insert or delete successfully", ("msg_type",))
        self.received_nq = registry.counter("milvus_proxy_received_nq",
                                            "counter of nq of received search and query requests", ("query_type",))
        self.search_vectors = registry.counter("milvus_proxy_search_vectors_count",
                                               "counter of vectors successfully searched")
        self.mutated_vectors = {
            kind: registry.counter(f"milvus_proxy_{kind}_vectors_count",
                                   f"counter of vectors successfully {kind.rstrip('e')}ed")
            for kind in ("insert", "upsert", "delete")}

    def record(self, rpc: str, request: Any, response: Any | None, elapsed_ms: float) -> None:
        """Account one call of ``rpc``; ``response`` None means the handler raised."""
        ok = response is not None and _succeeded(response)
        self.req_count.inc(rpc, "total")
        self.req_count.inc(rpc, "success" if ok else "fail")
        self.req_latency.observe(elapsed_ms, rpc)
        query_type = _QUERY_TYPES.get(rpc)
        if query_type is not None:
            nq = int(getattr(request, "nq", 0) or 0) if rpc != "Query" else 1
            self.received_nq.inc(query_type, amount=nq)
            if ok:
                self.sq_latency.observe(elapsed_ms, query_type)
                if rpc != "Query":
                    self.search_vectors.inc(amount=nq)
        mutation = _MUTATIONS.get(rpc)
        if mutation is not None and ok:
            kind, count_field = mutation
            self.mutation_latency.observe(elapsed_ms, kind)
            self.mutated_vectors[kind].inc(amount=int(getattr(response, count_field)))


class _InstrumentedServicer:
    """``servicer`` with every MilvusService method it answers recorded in ``metrics``."""

    def __init__(self, servicer: Any, metrics: ProxyRequestMetrics) -> None:
        self._servicer = servicer
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._servicer, name)
        if name not in SERVICE.methods_by_name:
            return method
        return self._timed(name, method)

    def _timed(self, rpc: str, method: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        metrics = self._metrics

        def handler(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            response = None
            try:
                response = method(request, context)
                return response
            finally:
                metrics.record(rpc, request, response, (time.perf_counter() - started) * 1000.0)

        return handler


def instrument(servicer: Any, metrics: ProxyRequestMetrics) -> Any:
    """``servicer`` (a MilvusService servicer) with its calls recorded in ``metrics``."""
    return _InstrumentedServicer(servicer, metrics)
