"""The log backends side by side: the standard benchmark (bench/bench_server.py) against a
standalone cluster whose log is the ZeroMQ broker (``mq.type: zmq``) and one whose log is NATS
JetStream (``natsmq``: an embedded nats-server, R1, ``sync_interval: always``), alternating
zmq, natsmq, zmq, natsmq, ... in the same run so that both see the same machine load.

A benchmark, not a test. It prints one JSON document (also saved as
``bench/results/<timestamp>_mq.json``) with, per backend, every round's insert rows/s and Strong
visibility latencies, their medians, and natsmq's ratio to zmq, against the targets (natsmq
insert >= 0.8 x zmq; Strong visibility after the insert's ack <= 20 ms at p50).

    .venv/bin/python bench/bench_mq.py                    # 2 rounds of 100k x 128 rows, FLAT
    .venv/bin/python bench/bench_mq.py --rounds 3 --rows 50000 -- --batch 5000

Arguments after ``--`` go to bench_server.py as they are.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("zmq", "natsmq")
FIGURES = ("insert_rows_per_s", "visibility_after_ack_p50_ms", "visibility_after_ack_p99_ms",
           "visibility_insert_to_visible_p50_ms", "visibility_insert_p50_ms", "strong_count_idle_ms")


def run_once(mq: str, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """One bench_server.py run against a fresh standalone cluster with log backend ``mq``."""
    with tempfile.TemporaryDirectory(prefix="bench-mq-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(ROOT / "bench" / "bench_server.py"), "--mq", mq, "--rows", str(args.rows),
                   "--index", args.index, "--queries", str(args.queries), "--nq-rounds", "1", "--out", str(out),
                   *extra]
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        result: dict[str, Any] = json.loads(out.read_text())
    server = result["server"]
    return {k: server[k] for k in FIGURES if k in server}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="runs per backend, alternating")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--index", default="FLAT")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--out", help="also write the JSON here")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    started = datetime.now(timezone.utc)
    runs: dict[str, list[dict[str, Any]]] = {b: [] for b in BACKENDS}
    for r in range(args.rounds):
        for mq in BACKENDS:
            figures = run_once(mq, args, extra)
            runs[mq].append(figures)
            print(f"round {r + 1} {mq}: {json.dumps(figures)}", file=sys.stderr, flush=True)
    medians = {mq: {k: statistics.median(run[k] for run in runs[mq]) for k in FIGURES if k in runs[mq][0]}
               for mq in BACKENDS}
    ratio = medians["natsmq"]["insert_rows_per_s"] / medians["zmq"]["insert_rows_per_s"]
    result = {
        "benchmark": "bench_mq",
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "loadavg_at_end": list(os.getloadavg())},
        "parameters": {"rounds": args.rounds, "rows": args.rows, "index": args.index, "queries": args.queries,
                       "bench_server_extra_args": extra, "order": "zmq, natsmq alternating",
                       "natsmq": "embedded nats-server 1 node, R1, sync_interval always (fsync per ack)"},
        "runs": runs,
        "median": medians,
        "natsmq_insert_over_zmq": ratio,
        "targets_met": {
            "natsmq insert >= 0.8 x zmq": ratio >= 0.8,
            "natsmq Strong visibility after ack p50 <= 20 ms": medians["natsmq"]["visibility_after_ack_p50_ms"] <= 20,
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{started.strftime('%Y%m%dT%H%M%SZ')}_mq.json").write_text(text + "\n")
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
