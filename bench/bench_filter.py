"""Filter benchmark, in process: the expression engine and the querynode's search path called
directly (no server, no pymilvus), so the figures are the filter's own cost.

A benchmark, not a test: it prints one JSON document (and writes it to
bench/results/<timestamp>_filter.json).

1. Filter evaluation over ``--rows`` (1M) rows, compiled once and evaluated ``--repeats`` times:
   a numeric range, an ``in`` list of 1,000 values, a ``like`` prefix, a JSON key comparison.
2. Filtered search on one sealed querynode segment of ``--search-rows`` x ``--dim`` vectors with
   an HNSW index (M 16, efConstruction 200, ef 64), through ``nodes.querynode.executor.search``
   (the proxy's compiled filter decoded, mask, index or exact fallback, reduce): recall@10
   against exact search over the matching rows, and single-query latency, at 10 %, 1 % and
   0.1 % selectivity and unfiltered.

    .venv/bin/python bench/bench_filter.py
    .venv/bin/python bench/bench_filter.py --rows 200000 --search-rows 20000 --queries 50
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_server import TOP_K, exact_topk, make_data, pct, recall, write_result  # noqa: E402

from common.expr import compile_expr, encode_plan  # noqa: E402
from common.index import build_index  # noqa: E402
from common.schema import CollectionSchema, FieldSchema  # noqa: E402
from common.types import TIMESTAMP_COLUMN, DataType  # noqa: E402
from dataplane.delete_record import DeleteRecord  # noqa: E402
from nodes.querynode.executor import search  # noqa: E402
from nodes.querynode.segment import Segment  # noqa: E402
from nodes.querynode.segments import snapshot  # noqa: E402
from nodes.querynode.shard import ReadView  # noqa: E402
from proto.internal import meta_pb2, querynode_pb2  # noqa: E402

HNSW = {"M": 16, "efConstruction": 200}
EF = 64
TARGETS = {"numeric_and_in_filter_ms_max (1M rows)": 10.0, "filtered_recall_at_10_min": 0.95}
SELECTIVITY = {"unfiltered": "", "10%": "sel < 100", "1%": "sel < 10", "0.1%": "sel < 1"}


# ------------------------------------------------------------------------- filter evaluation
def filter_table(n: int, seed: int) -> tuple[CollectionSchema, dict[str, np.ndarray], list[int]]:
    rng = np.random.default_rng(seed)
    schema = CollectionSchema("f", (
        FieldSchema(100, "id", DataType.INT64, is_primary=True), FieldSchema(101, "age", DataType.INT32),
        FieldSchema(102, "k", DataType.INT64), FieldSchema(103, "name", DataType.VARCHAR, max_length=32),
        FieldSchema(104, "meta", DataType.JSON)))
    names = np.empty(n, dtype=object)
    names[:] = [f"p{i % 100}_{i}" for i in range(n)]
    meta = np.empty(n, dtype=object)
    meta[:] = [f'{{"k": {i % 1000}, "tag": "t{i % 7}"}}'.encode() for i in range(n)]
    keys = rng.integers(0, 10**7, n)
    wanted = [int(v) for v in np.concatenate([rng.choice(keys, 500, replace=False),
                                              rng.integers(0, 10**7, 500)])]  # half hit, half miss
    columns: dict[str, np.ndarray] = {"id": np.arange(n, dtype=np.int64),
                                      "age": rng.integers(0, 100, n).astype(np.int32),
                                      "k": keys, "name": names, "meta": meta}
    return schema, columns, wanted


def bench_filters(args: argparse.Namespace) -> dict[str, Any]:
    t = time.perf_counter()
    schema, columns, wanted = filter_table(args.rows, args.seed)
    out: dict[str, Any] = {"rows": args.rows, "table_build_s": time.perf_counter() - t}
    compile_expr("age > 1", schema)  # builds the Lark parser once (not part of any figure)
    cases = {
        "numeric_range": "age >= 20 and age < 30",
        "numeric_chained_range": "20 <= age < 30",
        "in_1000_values": f"k in {wanted}",
        "like_prefix": "name like 'p7%'",
        "json_key_compare": 'meta["k"] < 100',
    }
    for name, expr in cases.items():
        t = time.perf_counter()
        plan = compile_expr(expr, schema)
        compile_ms = (time.perf_counter() - t) * 1000
        repeats = max(2, args.repeats // 5) if name.startswith(("json", "like")) else args.repeats
        times, mask = [], None
        for _ in range(repeats):
            t = time.perf_counter()
            mask = plan.evaluate(columns, args.rows)
            times.append(time.perf_counter() - t)
        assert mask is not None
        p50 = pct(times, 50)
        out[name] = {"expr": expr if len(expr) < 80 else expr[:77] + "...", "compile_ms": compile_ms,
                     "eval_p50_ms": p50, "eval_min_ms": min(times) * 1000, "repeats": repeats,
                     "rows_per_s": args.rows / (p50 / 1000), "selectivity": float(mask.mean())}
    return out


# ---------------------------------------------------------------------------- filtered search
def bench_search(args: argparse.Namespace) -> dict[str, Any]:
    n = args.search_rows
    data, queries = make_data(n, args.dim, args.queries, args.seed)
    sel = (np.random.default_rng(args.seed).permutation(n) % 1000).astype(np.int32)  # exact fractions
    schema = CollectionSchema("s", (
        FieldSchema(100, "id", DataType.INT64, is_primary=True), FieldSchema(101, "sel", DataType.INT32),
        FieldSchema(102, "vec", DataType.FLOAT_VECTOR, dim=args.dim)))
    segment = Segment(1, 1, 1, "ch", schema, sealed=True)
    segment.load({"id": np.arange(n, dtype=np.int64), "sel": sel, "vec": data,
                  TIMESTAMP_COLUMN: np.zeros(n, dtype=np.uint64)})
    t = time.perf_counter()
    segment.set_index("vec", build_index(data, "HNSW", "L2", HNSW))
    out: dict[str, Any] = {"rows": n, "dim": args.dim, "queries": args.queries, "index": "HNSW", "params": HNSW,
                           "ef": EF, "index_build_s": time.perf_counter() - t}
    view = ReadView(segments=[snapshot(segment)], deletes=DeleteRecord())
    info = meta_pb2.IndexInfo(field_name="vec", metric_type="L2", index_type="HNSW")
    for label, expr in SELECTIVITY.items():
        allowed = np.ones(n, dtype=bool) if not expr else compile_expr(expr, schema).evaluate({"sel": sel}, n)
        rows = np.flatnonzero(allowed)
        truth = rows[exact_topk(data[rows], queries, TOP_K)]
        found, times = [], []
        for q in range(len(queries)):
            request = querynode_pb2.ShardSearchRequest(
                scope=querynode_pb2.ReadScope(read_ts=2**63 - 1, filter=encode_plan(compile_expr(expr, schema))),
                plan=querynode_pb2.SearchPlan(anns_field="vec", metric_type="L2", index_type="HNSW",
                                              params=querynode_pb2.IndexSearchParams(ef=EF), nq=1, topk=TOP_K,
                                              vectors=queries[q].astype("<f4").tobytes()))
            t = time.perf_counter()
            result = search(view, schema, request, [info])
            times.append(time.perf_counter() - t)
            found.append(list(result.ids.int_id.data))
        out[label] = {"expr": expr, "matching_rows": int(len(rows)), "recall_at_10": recall(found, truth),
                      "p50_ms": pct(times, 50), "p99_ms": pct(times, 99),
                      "min_hits": min(len(f) for f in found)}
    base = out["unfiltered"]["p50_ms"]
    for label in SELECTIVITY:
        out[label]["p50_vs_unfiltered"] = out[label]["p50_ms"] / base
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the filter-evaluation table")
    parser.add_argument("--repeats", type=int, default=20, help="evaluations per filter (JSON/like: a fifth)")
    parser.add_argument("--search-rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=200, help="single queries per selectivity")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()

    started = datetime.now(timezone.utc)
    result: dict[str, Any] = {
        "benchmark": "bench_filter",
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "loadavg_at_start": list(os.getloadavg()),
                    "platform": platform.platform(), "python": sys.version.split()[0], "numpy": np.__version__},
        "targets": TARGETS,
    }
    result["filter_eval"] = bench_filters(args)
    result["filtered_search"] = bench_search(args)
    fe, fs = result["filter_eval"], result["filtered_search"]
    worst_ms = max(fe[k]["eval_p50_ms"] for k in ("numeric_range", "numeric_chained_range", "in_1000_values"))
    worst_recall = min(fs[k]["recall_at_10"] for k in SELECTIVITY)
    result["targets_met"] = {
        "numeric_and_in_filter_ms_max (1M rows)": {"value": worst_ms,
                                                   "met": worst_ms <= 10.0 or args.rows != 1_000_000},
        "filtered_recall_at_10_min": {"value": worst_recall, "met": worst_recall >= 0.95},
    }
    result["machine"]["loadavg_at_end"] = list(os.getloadavg())

    write_result(result, f"{started.strftime('%Y%m%dT%H%M%SZ')}_filter", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
