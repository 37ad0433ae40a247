"""End-to-end benchmark of the server, driven by pymilvus, with faiss on the same data as the yardstick.

A benchmark, not a test: it prints one JSON document (and writes it to bench/results/<timestamp>.json).
Every server figure is also reported as a ratio to (and a difference from) what faiss-cpu, called
directly in this process on the same data with the same parameters, achieved in the same run.

    .venv/bin/python bench/bench_server.py --rows 20000 --queries 50 --index HNSW
    .venv/bin/python bench/bench_server.py --uri http://127.0.0.1:19530   # an already-running server

    make bench-1m    # 1M rows: --rows 1000000 --queries 100 --nq-rounds 2 --skip-visibility

Memory: when the benchmark starts the cluster itself, ``bench/rss_sampler.py`` samples every
role process's resident memory (found by its ``milvus-py run <role>`` command line among the
standalone process's children; etcd by its binary) every 0.2 s, and the JSON's ``memory``
section gives each role's peak per phase (insert, flush, index_build, load, search,
visibility) and overall, next to ``vectors_mb`` (the raw float32 rows),
``server_index_files_mb`` (the index files the indexnode wrote) and ``faiss_index_mb``, with
``querynode_peak_over_vectors_plus_index`` (target: <= 2).

This process never imports server modules (their generated protos clash with pymilvus's): only
pymilvus, tests.support.standalone, which starts ``milvus-py run standalone`` as a child process,
and bench.rss_sampler (psutil).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

# As the server does (common/index/faiss_index.py): idle OpenMP workers sleep instead of spinning,
# so faiss here is configured like the server's and does not steal cores from it between calls.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import faiss  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.rss_sampler import RssSampler  # noqa: E402

TOP_K = 10
N_CLUSTERS = 100
WARMUP_QUERIES = 5
MB = 1 << 20
VISIBILITY_REPEATS = 20

INDEX_PARAMS: dict[str, dict[str, Any]] = {
    "HNSW": {"build": {"M": 16, "efConstruction": 200}, "search": {"ef": 64}},
    "IVF_FLAT": {"build": {"nlist": 1024}, "search": {"nprobe": 16}},
    "FLAT": {"build": {}, "search": {}},
}

TARGETS = {
    "recall_at_10_min (HNSW)": 0.95,
    "search_p50_ms_max_over_faiss_ms": 3.0,
    "insert_rows_per_s_min": 20000,
    "flush_s_max (100k rows)": 2.0,
}


# ----------------------------------------------------------------------------------------- data
def make_data(rows: int, dim: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows from a mixture of N_CLUSTERS Gaussian clusters; queries are fresh draws from the same
    mixture (near the data, never identical to a row)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, (N_CLUSTERS, dim)).astype(np.float32)
    spread = rng.uniform(0.25, 0.5, N_CLUSTERS).astype(np.float32)

    def draw(n: int, generator: np.random.Generator) -> np.ndarray:
        labels = generator.integers(0, N_CLUSTERS, n)
        noise = generator.standard_normal((n, dim), dtype=np.float32)
        return centers[labels] + noise * spread[labels, None]

    data = draw(rows, rng)
    queries = draw(n_queries, np.random.default_rng(seed + 1))
    return np.ascontiguousarray(data, dtype=np.float32), np.ascontiguousarray(queries, dtype=np.float32)


def exact_topk(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    index = faiss.IndexFlatL2(data.shape[1])
    index.add(data)
    _, ids = index.search(queries, k)
    return ids


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    hits = sum(len(set(f[:TOP_K]) & set(t[:TOP_K].tolist())) for f, t in zip(found, truth))
    return hits / (len(found) * TOP_K)


def pct(values_s: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values_s) * 1000.0, q))


# ----------------------------------------------------------------------------------------- server
def bench_server(client: Any, uri: str, args: argparse.Namespace, data: np.ndarray, queries: np.ndarray,
                 truth: np.ndarray, collection: str, phase: Callable[[str], None]) -> dict[str, Any]:
    """The server's figures; ``phase(name)`` is called as each phase (insert, flush,
    index_build, load, search) starts. ``uri``: the server ``client`` talks to."""
    from pymilvus import DataType, MilvusClient  # noqa: F401 - client is a MilvusClient

    out: dict[str, Any] = {}
    params = INDEX_PARAMS[args.index]
    if client.has_collection(collection):
        client.drop_collection(collection)

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=args.dim)
    t = time.perf_counter()
    client.create_collection(collection, schema=schema)
    out["create_collection_s"] = time.perf_counter() - t

    # Insert: the clock covers what a user pays per batch (pymilvus building the request + the RPC);
    # building the Python row dicts from the NumPy array is excluded and reported separately.
    insert_s = prep_s = 0.0
    phase("insert")
    for start in range(0, args.rows, args.batch):
        t = time.perf_counter()
        chunk = data[start:start + args.batch]
        rows = [{"id": start + i, "vector": v} for i, v in enumerate(chunk.tolist())]
        prep_s += time.perf_counter() - t
        t = time.perf_counter()
        result = client.insert(collection, rows)
        insert_s += time.perf_counter() - t
        assert result["insert_count"] == len(rows), result
    out["insert_s"] = insert_s
    out["insert_rows_per_s"] = args.rows / insert_s
    out["insert_row_building_s (excluded)"] = prep_s

    phase("flush")
    t = time.perf_counter()
    client.flush(collection)  # waits for the flush state (pymilvus polls it every 0.5 s)
    out["flush_s"] = time.perf_counter() - t

    index_params = client.prepare_index_params()
    index_params.add_index(field_name="vector", index_type=args.index, metric_type="L2", params=params["build"])
    phase("index_build")
    t = time.perf_counter()
    client.create_index(collection, index_params)  # sync: waits until built (pymilvus polls every 0.5 s)
    out["index_build_s"] = time.perf_counter() - t

    phase("load")
    t = time.perf_counter()
    client.load_collection(collection)  # waits until loaded (pymilvus polls every 0.2 s)
    out["load_s"] = time.perf_counter() - t

    search_params = {"metric_type": "L2", "params": params["search"]}

    def search(batch: np.ndarray) -> list[list[int]]:
        hits = client.search(collection, data=batch.tolist(), limit=TOP_K, search_params=search_params,
                             consistency_level="Bounded")
        return [[int(h["id"]) for h in per_query] for per_query in hits]

    phase("search")
    for i in range(WARMUP_QUERIES):
        search(queries[i:i + 1])

    single = queries[:args.queries]
    latencies, found = [], []
    t_all = time.perf_counter()
    for i in range(len(single)):
        t = time.perf_counter()
        found.extend(search(single[i:i + 1]))
        latencies.append(time.perf_counter() - t)
    out["search_serial_qps"] = len(single) / (time.perf_counter() - t_all)
    out["search_p50_ms"] = pct(latencies, 50)
    out["search_p99_ms"] = pct(latencies, 99)
    out["recall_at_10_single"] = recall(found, truth[:args.queries])

    batched = queries[args.queries:]
    found_batched = []
    t = time.perf_counter()
    for start in range(0, len(batched), args.nq_batch):
        found_batched.extend(search(batched[start:start + args.nq_batch]))
    out[f"search_qps_nq{args.nq_batch}"] = len(batched) / (time.perf_counter() - t)
    out["recall_at_10_batched"] = recall(found_batched, truth[args.queries:])
    wire = wire_search(uri, collection, params["search"])
    found_wire = []
    t = time.perf_counter()
    for start in range(0, len(batched), args.nq_batch):
        found_wire.extend(wire(batched[start:start + args.nq_batch]))
    out[f"search_qps_nq{args.nq_batch}_wire"] = len(batched) / (time.perf_counter() - t)
    out["recall_at_10_wire"] = recall(found_wire, truth[args.queries:])
    out["recall_at_10"] = recall(found + found_batched, truth)
    return out


def wire_search(uri: str, collection: str, index_params: dict[str, Any]) -> Callable[[np.ndarray], list[list[int]]]:
    """Search through the public gRPC API with pymilvus's generated messages but not its result
    objects: what the server (and the wire) costs, without pymilvus building a Python object
    per hit (at nq=100 that alone takes longer than faiss's search; it is the same for any
    server). Returns ``search(queries) -> ids per query``."""
    import grpc
    from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc

    stub = milvus_pb2_grpc.MilvusServiceStub(grpc.insecure_channel(uri.removeprefix("http://")))
    params = [common_pb2.KeyValuePair(key=k, value=str(v)) for k, v in {
        "anns_field": "vector", "topk": TOP_K, "metric_type": "L2", "params": json.dumps(index_params)}.items()]

    def search(batch: np.ndarray) -> list[list[int]]:
        group = common_pb2.PlaceholderGroup(placeholders=[common_pb2.PlaceholderValue(
            tag="$0", type=common_pb2.PlaceholderType.FloatVector,
            values=[row.tobytes() for row in np.ascontiguousarray(batch, dtype="<f4")])])
        response = stub.Search(milvus_pb2.SearchRequest(
            collection_name=collection, dsl_type=common_pb2.BoolExprV1, nq=len(batch), search_params=params,
            placeholder_group=group.SerializeToString(), consistency_level=common_pb2.Bounded))
        if response.status.code != 0:
            raise RuntimeError(f"search failed: {response.status.reason}")
        ids = np.asarray(response.results.ids.int_id.data, dtype=np.int64)
        ends = np.cumsum(np.asarray(response.results.topks, dtype=np.int64))
        return [chunk.tolist() for chunk in np.split(ids, ends[:-1])]

    return search


def bench_visibility(client: Any, collection: str, first_id: int, dim: int, seed: int) -> dict[str, Any]:
    """Insert one row, then poll a Strong count(*) until it includes it; repeated."""
    rng = np.random.default_rng(seed + 2)

    def count() -> int:
        return int(client.query(collection, filter="", output_fields=["count(*)"],
                                consistency_level="Strong")[0]["count(*)"])

    t = time.perf_counter()
    expected = count()
    strong_count_idle_s = time.perf_counter() - t
    insert_ms, visible_ms, total_ms, polls = [], [], [], []
    for i in range(VISIBILITY_REPEATS):
        row = {"id": first_id + i, "vector": rng.normal(0, 1, dim).astype(np.float32).tolist()}
        t0 = time.perf_counter()
        client.insert(collection, [row])
        t1 = time.perf_counter()
        expected += 1
        n = 0
        while True:
            n += 1
            if count() >= expected:
                break
            if time.perf_counter() - t1 > 30:
                raise TimeoutError(f"row {row['id']} not visible to a Strong count(*) after 30 s")
        t2 = time.perf_counter()
        insert_ms.append(t1 - t0)
        visible_ms.append(t2 - t1)
        total_ms.append(t2 - t0)
        polls.append(n)
    return {
        "visibility_repeats": VISIBILITY_REPEATS,
        "strong_count_idle_ms": strong_count_idle_s * 1000,
        "visibility_insert_p50_ms": pct(insert_ms, 50),
        "visibility_after_ack_p50_ms": pct(visible_ms, 50),
        "visibility_after_ack_p99_ms": pct(visible_ms, 99),
        "visibility_insert_to_visible_p50_ms": pct(total_ms, 50),
        "visibility_insert_to_visible_p99_ms": pct(total_ms, 99),
        "visibility_max_polls": max(polls),
        "visibility_note": "after_ack: from the insert's answer until a Strong count(*) includes the row "
                           "(1 poll = the first Strong read saw it); insert_to_visible adds the insert itself",
    }


# ----------------------------------------------------------------------------------------- faiss
def build_faiss_index(index_type: str, data: np.ndarray) -> Any:
    """The faiss index matching the server's ``index_type`` with INDEX_PARAMS, built on ``data``
    and set up with the search parameters."""
    build, search = INDEX_PARAMS[index_type]["build"], INDEX_PARAMS[index_type]["search"]
    dim = data.shape[1]
    if index_type == "HNSW":
        index = faiss.IndexHNSWFlat(dim, build["M"])
        index.hnsw.efConstruction = build["efConstruction"]
        index.add(data)
        index.hnsw.efSearch = search["ef"]
    elif index_type == "IVF_FLAT":
        quantizer = faiss.IndexFlatL2(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, build["nlist"])
        index.train(data)
        index.add(data)
        index.nprobe = search["nprobe"]
    else:
        index = faiss.IndexFlatL2(dim)
        index.add(data)
    return index


def bench_faiss(args: argparse.Namespace, data: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    t = time.perf_counter()
    index = build_faiss_index(args.index, data)
    out["faiss_index_build_s"] = time.perf_counter() - t
    out["faiss_index_bytes"] = int(faiss.serialize_index(index).nbytes)

    for i in range(WARMUP_QUERIES):
        index.search(queries[i:i + 1], TOP_K)
    single = queries[:args.queries]
    latencies, found = [], []
    t_all = time.perf_counter()
    for i in range(len(single)):
        t = time.perf_counter()
        _, ids = index.search(single[i:i + 1], TOP_K)
        latencies.append(time.perf_counter() - t)
        found.append(ids[0].tolist())
    out["faiss_search_serial_qps"] = len(single) / (time.perf_counter() - t_all)
    out["faiss_search_p50_ms"] = pct(latencies, 50)
    out["faiss_search_p99_ms"] = pct(latencies, 99)

    batched = queries[args.queries:]
    t = time.perf_counter()
    for start in range(0, len(batched), args.nq_batch):
        _, ids = index.search(batched[start:start + args.nq_batch], TOP_K)
        found.extend(ids.tolist())
    out[f"faiss_search_qps_nq{args.nq_batch}"] = len(batched) / (time.perf_counter() - t)
    out["faiss_recall_at_10"] = recall(found, truth)
    return out


def memory_report(sampler: RssSampler, data: np.ndarray, index_files_bytes: int,
                  fa: dict[str, Any]) -> dict[str, Any]:
    """Peak RSS per role and phase next to the sizes it should be read against: the raw
    vectors, the server's index files (FLAT: the vectors again; HNSW: vectors + graph) and the
    same index in faiss."""
    report = sampler.report()
    vectors_mb = data.nbytes / MB
    index_mb = index_files_bytes / MB
    querynode = report["peak_rss_mb"].get("querynode", {}).get("overall")
    return {
        "vectors_mb": round(vectors_mb, 1),
        "server_index_files_mb": round(index_mb, 1),
        "faiss_index_mb": round(fa["faiss_index_bytes"] / MB, 1),
        "querynode_peak_over_vectors_plus_index": (
            round(querynode / (vectors_mb + index_mb), 2) if querynode and index_mb else None),
        **report,
        "note": "peak RSS of each role (summed over its processes), sampled every interval_s in each "
                "phase of the run; the target is querynode overall <= 2 x (vectors_mb + server_index_files_mb)",
    }


def compare(server: dict[str, Any], fa: dict[str, Any], nq_batch: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    qps = f"search_qps_nq{nq_batch}"
    for name, key, faiss_key in [("index_build_s", "index_build_s", "index_build_s"),
                                 ("p50", "search_p50_ms", "search_p50_ms"), ("p99", "search_p99_ms", "search_p99_ms"),
                                 ("serial_qps", "search_serial_qps", "search_serial_qps"),
                                 (f"qps_nq{nq_batch}", qps, qps), (f"qps_nq{nq_batch}_wire", f"{qps}_wire", qps),
                                 ("recall_at_10", "recall_at_10", "recall_at_10")]:
        mine, theirs = server[key], fa["faiss_" + faiss_key]
        out[f"{name}_over_faiss"] = mine / theirs if theirs else None
        unit = "_ms" if key.endswith("_ms") else ("_s" if key.endswith("_s") else "")
        out[f"{name}_minus_faiss{unit}"] = mine - theirs
    return out


def check_targets(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    s = result["server"]
    checks = {
        "insert_rows_per_s >= 20000": s["insert_rows_per_s"] >= 20000,
        "search_p50_ms <= faiss_search_p50_ms + 3": s["search_p50_ms"] <= result["faiss"]["faiss_search_p50_ms"] + 3.0,
        f"flush_s <= 2 (measured at {args.rows} rows; target is for 100k)": s["flush_s"] <= 2.0,
    }
    if args.index == "HNSW":
        checks["recall_at_10 >= 0.95 (HNSW)"] = s["recall_at_10"] >= 0.95
    return checks


# ----------------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per insert call")
    parser.add_argument("--nq-batch", type=int, default=100, help="queries per call for the batched QPS")
    parser.add_argument("--nq-rounds", type=int, default=5, help="how many nq-batch calls for the batched QPS")
    parser.add_argument("--queries", type=int, default=200, help="single (nq=1) queries for latency")
    parser.add_argument("--index", choices=sorted(INDEX_PARAMS), default="HNSW")
    parser.add_argument("--uri", help="an already-running server; default: start a standalone cluster in a temp dir")
    parser.add_argument("--out", help="also write the JSON here (it is always printed and saved in bench/results/)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-visibility", action="store_true")
    parser.add_argument("--mq", choices=["zmq", "natsmq"], default="zmq",
                        help="log backend of the standalone cluster it starts (natsmq: embedded nats-server, R1)")
    args = parser.parse_args()

    from pymilvus import MilvusClient, __version__ as pymilvus_version

    started = datetime.now(timezone.utc)
    n_queries = args.queries + args.nq_batch * args.nq_rounds
    t = time.perf_counter()
    data, queries = make_data(args.rows, args.dim, n_queries, args.seed)
    truth = exact_topk(data, queries, TOP_K)
    prep_s = time.perf_counter() - t

    result: dict[str, Any] = {
        "benchmark": "bench_server",
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "loadavg_at_start": list(os.getloadavg()),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "faiss": faiss.__version__,
            "faiss_omp_threads": faiss.omp_get_max_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "pymilvus": pymilvus_version,
        },
        "parameters": {
            "rows": args.rows, "dim": args.dim, "insert_batch": args.batch, "nq_batch": args.nq_batch,
            "nq_rounds": args.nq_rounds, "single_queries": args.queries, "warmup_queries": WARMUP_QUERIES,
            "top_k": TOP_K, "metric": "L2", "index": args.index, "index_params": INDEX_PARAMS[args.index],
            "search_consistency_level": "Bounded", "seed": args.seed,
            "data": f"{N_CLUSTERS} Gaussian clusters (centers N(0,1), per-cluster sigma U(0.25,0.5)), float32; "
                    "queries are fresh draws from the same mixture; ground truth: faiss IndexFlatL2",
            "server": args.uri or "standalone cluster started by the benchmark (local storage, temp dir)",
            "mq": None if args.uri else args.mq,
        },
        "data_prep_s": prep_s,
        "targets": TARGETS,
    }

    cluster = None
    tmp = None
    sampler: RssSampler | None = None
    index_files_bytes = 0
    collection = f"bench_{args.index.lower()}_{started.strftime('%H%M%S')}"
    try:
        if args.uri:
            uri = args.uri
        else:
            from tests.support.standalone import StandaloneCluster

            tmp = tempfile.TemporaryDirectory(prefix="milvuspy-bench-")
            t = time.perf_counter()
            cluster = StandaloneCluster(Path(tmp.name) / "cluster", {"MILVUSPY_STORAGE_TYPE": "local",
                                                                     "MILVUSPY_MQ_TYPE": args.mq}).start()
            result["cluster_start_s"] = time.perf_counter() - t
            uri = cluster.uri
            assert cluster.process is not None
            sampler = RssSampler(cluster.process.pid).start()
        client = MilvusClient(uri)
        server = bench_server(client, uri, args, data, queries, truth, collection,
                              sampler.phase if sampler is not None else lambda _: None)
        if not args.skip_visibility:
            if sampler is not None:
                sampler.phase("visibility")
            server.update(bench_visibility(client, collection, args.rows, args.dim, args.seed))
        if cluster is not None:
            index_files_bytes = sum(p.stat().st_size for p in cluster.data_dir.rglob("index_files/*/index"))
        client.drop_collection(collection)
        client.close()
        result["server"] = server
    except BaseException:
        if cluster is not None:
            sys.stderr.write(cluster.logs())
        raise
    finally:
        if sampler is not None:
            sampler.stop()
        if cluster is not None:
            cluster.stop()  # stopped before faiss runs, so faiss's figures are not disturbed by it
        if tmp is not None:
            tmp.cleanup()

    result["faiss"] = bench_faiss(args, data, queries, truth)
    if sampler is not None:
        result["memory"] = memory_report(sampler, data, index_files_bytes, result["faiss"])
    result["server_vs_faiss"] = compare(result["server"], result["faiss"], args.nq_batch)
    result["targets_met"] = check_targets(result, args)
    result["machine"]["loadavg_at_end"] = list(os.getloadavg())

    write_result(result, f"{started.strftime('%Y%m%dT%H%M%SZ')}_{args.index}_{args.rows}", args.out)
    return 0


def write_result(result: dict[str, Any], name: str, out: str | None) -> None:
    """Print ``result`` as JSON and save it as bench/results/{name}.json (and at ``out``)."""
    text = json.dumps(result, indent=2, default=float)
    print(text)
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{name}.json").write_text(text + "\n")
    if out:
        Path(out).write_text(text + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
