"""Search throughput with concurrent clients: several threads, each with its own pymilvus
``MilvusClient``, send single-vector searches (nq=1) at the same time; faiss is searched from
the same number of threads on the same data in this process as the yardstick.

A benchmark, not a test: it prints one JSON document (and writes it to bench/results/).

    .venv/bin/python bench/bench_concurrency.py                       # 20k x 128 HNSW, 1 shard
    .venv/bin/python bench/bench_concurrency.py --shards 2 --threads 1 8 --index FLAT

This process never imports server modules (their generated protos clash with pymilvus's).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import faiss
import numpy as np

# bench_server also puts the repository root on sys.path and makes faiss's idle threads sleep.
from bench_server import INDEX_PARAMS, TOP_K, build_faiss_index, exact_topk, make_data, pct, recall, write_result


def run_threads(threads: int, queries: np.ndarray, search: Callable[[int, np.ndarray], list[int]]) -> dict[str, Any]:
    """Queries spread round robin over ``threads`` threads, each calling ``search(thread,
    query)``: QPS over the whole run, per-query p50/p99 and the hits (in query order)."""
    latencies: list[float] = []
    found: list[list[int]] = [[] for _ in range(len(queries))]
    errors: list[str] = []

    def worker(k: int) -> None:
        for i in range(k, len(queries), threads):
            t = time.perf_counter()
            try:
                found[i] = search(k, queries[i])
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                errors.append(repr(exc))
            latencies.append(time.perf_counter() - t)

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    t = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t
    return {"qps": len(queries) / elapsed, "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99),
            "errors": len(errors), "first_error": errors[0] if errors else None, "found": found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--queries", type=int, default=400, help="searches per thread count")
    parser.add_argument("--index", choices=sorted(INDEX_PARAMS), default="HNSW")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    from pymilvus import DataType, MilvusClient, __version__ as pymilvus_version

    from tests.support.standalone import StandaloneCluster

    started = datetime.now(timezone.utc)
    data, queries = make_data(args.rows, args.dim, args.queries, args.seed)
    truth = exact_topk(data, queries, TOP_K)
    params = INDEX_PARAMS[args.index]
    result: dict[str, Any] = {
        "benchmark": "bench_concurrency",
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "loadavg_at_start": list(os.getloadavg()),
                    "platform": platform.platform(), "python": sys.version.split()[0], "pymilvus": pymilvus_version},
        "parameters": {"rows": args.rows, "dim": args.dim, "shards": args.shards, "threads": args.threads,
                       "queries": args.queries, "index": args.index, "index_params": params, "top_k": TOP_K,
                       "metric": "L2", "consistency_level": "Bounded", "seed": args.seed},
    }
    search_params = {"metric_type": "L2", "params": params["search"]}
    server: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="milvuspy-bench-") as tmp:
        cluster = StandaloneCluster(Path(tmp) / "cluster", {"MILVUSPY_STORAGE_TYPE": "local"}).start()
        try:
            client = MilvusClient(cluster.uri)
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=args.dim)
            client.create_collection("bench", schema=schema, shards_num=args.shards)
            for start in range(0, args.rows, 10_000):
                chunk = data[start:start + 10_000].tolist()
                client.insert("bench", [{"id": start + i, "vector": v} for i, v in enumerate(chunk)])
            client.flush("bench")
            index_params = client.prepare_index_params()
            index_params.add_index(field_name="vector", index_type=args.index, metric_type="L2", params=params["build"])
            client.create_index("bench", index_params)
            client.load_collection("bench")
            clients = [MilvusClient(cluster.uri) for _ in range(max(args.threads))]

            def search(k: int, query: np.ndarray) -> list[int]:
                hits = clients[k].search("bench", data=[query.tolist()], limit=TOP_K, search_params=search_params,
                                         consistency_level="Bounded")
                return [int(h["id"]) for h in hits[0]]

            run_threads(2, queries[:20], search)  # warm up every connection
            for threads in args.threads:
                run = run_threads(threads, queries, search)
                run["recall_at_10"] = recall(run.pop("found"), truth)
                server[f"threads_{threads}"] = run
        finally:
            cluster.stop()
    result["server"] = server

    index = build_faiss_index(args.index, data)  # after the cluster is gone: it does not disturb faiss
    yardstick: dict[str, Any] = {}
    for threads in args.threads:
        run = run_threads(threads, queries, lambda k, q: index.search(q[None, :], TOP_K)[1][0].tolist())
        run["recall_at_10"] = recall(run.pop("found"), truth)
        yardstick[f"threads_{threads}"] = run
    result["faiss"] = {"omp_threads": faiss.omp_get_max_threads(), **yardstick}
    result["server_qps_over_faiss"] = {key: server[key]["qps"] / yardstick[key]["qps"] for key in server}
    result["machine"]["loadavg_at_end"] = list(os.getloadavg())
    write_result(result, f"{started.strftime('%Y%m%dT%H%M%SZ')}_concurrency_{args.index}_{args.shards}shards", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
