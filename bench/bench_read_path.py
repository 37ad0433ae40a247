"""Read-path micro benchmark, in process: the proxy's request handling plus the querynode's,
on a MiniCluster wired ``direct`` (the proxy calls the querynode core itself: no gRPC, no TCP),
over a small collection so that the segments' search is a small part of each call.

A benchmark, not a test: it prints µs per call, wall clock and CPU time of the calling thread
(the best of ``--rounds`` rounds of ``--calls`` calls each), for:

- ``search``: nq 1, topk 10, no filter (the single-query hot path);
- ``search_filter``: the same with ``score > 10.5 and id not in [..10 ids..]``;
- ``search_in_1000``: the same with ``id in [..1000 ids..]`` (a large compiled filter);
- ``query``: ``id in [..10 ids..]`` with output fields.

    .venv/bin/python bench/bench_read_path.py
    .venv/bin/python bench/bench_read_path.py --rows 2000 --dim 128 --calls 3000
"""
from __future__ import annotations

import argparse
import functools
import json
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from proto.milvus import common_pb2, milvus_pb2, schema_pb2  # noqa: E402
from tests.support.mini_requests import ok, wait_until  # noqa: E402
from tests.support.minicluster import MiniCluster  # noqa: E402


def create(stub: Any, name: str, dim: int, rows: int) -> None:
    schema = schema_pb2.CollectionSchema(name=name)
    schema.fields.add(name="id", data_type=schema_pb2.Int64, is_primary_key=True)
    schema.fields.add(name="score", data_type=schema_pb2.Double)
    vector = schema.fields.add(name="v", data_type=schema_pb2.FloatVector)
    vector.type_params.add(key="dim", value=str(dim))
    ok(stub.CreateCollection(milvus_pb2.CreateCollectionRequest(
        collection_name=name, schema=schema.SerializeToString(), consistency_level=common_pb2.Bounded)))
    ok(stub.CreateIndex(milvus_pb2.CreateIndexRequest(collection_name=name, field_name="v", extra_params=[
        common_pb2.KeyValuePair(key="index_type", value="FLAT"),
        common_pb2.KeyValuePair(key="metric_type", value="L2")])))
    ok(stub.LoadCollection(milvus_pb2.LoadCollectionRequest(collection_name=name)))
    wait_until(lambda: stub.GetLoadingProgress(
        milvus_pb2.GetLoadingProgressRequest(collection_name=name)).progress >= 100)
    ids = np.arange(rows, dtype=np.int64)
    vectors = np.random.default_rng(0).random((rows, dim), dtype=np.float32)
    request = milvus_pb2.InsertRequest(collection_name=name, num_rows=rows)
    request.fields_data.add(type=schema_pb2.Int64, field_name="id").scalars.long_data.data.extend(ids.tolist())
    request.fields_data.add(type=schema_pb2.Double, field_name="score").scalars.double_data.data.extend(
        (ids * 0.5).tolist())
    vec = request.fields_data.add(type=schema_pb2.FloatVector, field_name="v")
    vec.vectors.dim = dim
    vec.vectors.float_vector.data.extend(vectors.ravel().tolist())
    ok(stub.Insert(request).status)


def search_request(name: str, dim: int, expr: str) -> milvus_pb2.SearchRequest:
    group = common_pb2.PlaceholderGroup()
    query = np.random.default_rng(1).random(dim, dtype=np.float32)
    group.placeholders.add(tag="$0", type=common_pb2.FloatVector, values=[struct.pack(f"<{dim}f", *query)])
    return milvus_pb2.SearchRequest(
        collection_name=name, dsl=expr, placeholder_group=group.SerializeToString(), nq=1,
        search_params=[common_pb2.KeyValuePair(key="topk", value="10"),
                       common_pb2.KeyValuePair(key="params", value="{}")],
        consistency_level=common_pb2.Bounded)


def per_call_us(call: Callable[[], Any], calls: int, rounds: int) -> tuple[float, float]:
    """(wall µs, CPU µs of this thread) per call, each the best of ``rounds`` rounds: with
    ``direct`` wiring and one shard the whole request runs on the calling thread, so its CPU time
    is the request's cost even on a loaded machine."""
    for _ in range(min(200, calls)):
        call()
    wall, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.thread_time()
        for _ in range(calls):
            call()
        cpu.append((time.thread_time() - start_cpu) / calls * 1e6)
        wall.append((time.perf_counter() - start) / calls * 1e6)
    return round(min(wall), 1), round(min(cpu), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        mini = MiniCluster(Path(data_dir), wiring="direct").start()
        try:
            stub = mini.milvus()
            create(stub, "bench", args.dim, args.rows)
            read = next(s for s in mini.servers if s.role == "proxy").logic.read
            wait_until(lambda: len(read.query(milvus_pb2.QueryRequest(
                collection_name="bench", expr=f"id == {args.rows - 1}", output_fields=["id"],
                consistency_level=common_pb2.Strong)).fields_data[0].scalars.long_data.data) == 1)
            ten = list(range(5, 500, 50))
            requests: dict[str, Any] = {
                "search": search_request("bench", args.dim, ""),
                "search_filter": search_request("bench", args.dim, f"score > 10.5 and id not in {ten}"),
                "search_in_1000": search_request("bench", args.dim, f"id in {list(range(0, 3000, 3))}"),
                "query": milvus_pb2.QueryRequest(collection_name="bench", expr=f"id in {ten}",
                                                 output_fields=["id", "score"], consistency_level=common_pb2.Bounded),
            }
            cases: dict[str, Callable[[], Any]] = {
                case: functools.partial(read.query if case == "query" else read.search, request)
                for case, request in requests.items()
            }
            for call in cases.values():
                ok(call().status)
            results = {case: per_call_us(call, args.calls, args.rounds) for case, call in cases.items()}
        finally:
            mini.stop()
    print(json.dumps({"rows": args.rows, "dim": args.dim, "calls": args.calls, "rounds": args.rounds,
                      "us_per_call_wall_cpu": results}))


if __name__ == "__main__":
    main()
