"""Small-batch insert throughput on an in-process MiniCluster (no pymilvus): ``--inserts``
inserts of ``--rows`` rows each through the proxy's MilvusService, from one client thread
(sequential) and from ``--threads`` threads, for each wiring. Prints inserts/s and the
AllocTimestamp round trips the proxy made.

    PYTHONPATH=. .venv/bin/python bench/bench_small_inserts.py --inserts 2000 --rows 10
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tests.support.mini_requests import DIM, create_collection, insert
from tests.support.minicluster import WIRINGS, MiniCluster


def _round_trips(cluster: MiniCluster) -> int:
    proxy = next(s for s in cluster.servers if s.role == "proxy")
    return int(proxy.logic.env.timestamps.round_trips)


def run(wiring: str, inserts: int, rows: int, threads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = MiniCluster(Path(tmp), wiring=wiring).start()
        try:
            stub = cluster.milvus()
            create_collection(stub, "bench")
            vectors = np.random.default_rng(0).random((rows, DIM), dtype=np.float32)
            batches = [np.arange(i * rows, (i + 1) * rows, dtype=np.int64) for i in range(inserts)]
            for ids in batches[:50]:  # warm up
                insert(stub, "bench", ids, vectors)
            out: dict[str, float] = {}
            before = _round_trips(cluster)
            start = time.perf_counter()
            for ids in batches:
                insert(stub, "bench", ids, vectors)
            out["sequential_inserts_per_s"] = round(inserts / (time.perf_counter() - start), 1)
            out["sequential_ts_round_trips"] = _round_trips(cluster) - before
            before = _round_trips(cluster)
            start = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda ids: insert(stub, "bench", ids + inserts * rows, vectors), batches))
            out[f"{threads}_threads_inserts_per_s"] = round(inserts / (time.perf_counter() - start), 1)
            out[f"{threads}_threads_ts_round_trips"] = _round_trips(cluster) - before
            return out
        finally:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inserts", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--wiring", choices=WIRINGS, action="append")
    args = parser.parse_args()
    results = {w: run(w, args.inserts, args.rows, args.threads) for w in (args.wiring or WIRINGS)}
    print(json.dumps({"inserts": args.inserts, "rows": args.rows, "results": results}, indent=2))


if __name__ == "__main__":
    main()
