"""The Log contract (common/interfaces/log.py), run against both backends: the ZeroMQ broker
and NATS JetStream (a real nats-server child). Backend-specific behaviour is tested in
test_mq.py (zmq) and test_natsmq.py (natsmq)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.errors import MqFailed
from common.interfaces.log import Log, Record
from common.mq import OffsetOutOfRange, Subscription
from tests.support.logs import BACKENDS, LogBackend

ROOT = Path(__file__).resolve().parents[2]


def _payload(i: int, n: int = 40) -> bytes:
    return bytes((i + k) % 256 for k in range(n))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogBackend]:
    b = LogBackend(request.param, tmp_path)
    yield b
    b.close()


@pytest.fixture()
def c(backend: LogBackend) -> Log:
    return backend.client()


def test_produce_fetch_end_offset_list(c: Log) -> None:
    assert c.end_offset("ch-a") == 0 and c.list_channels() == []
    assert c.produce("ch-a", [(1, b"one"), (2, b""), (3, b"three")]) == 0
    assert c.produce("ch-a", [(4, b"four")]) == 3
    assert c.produce("ch_b.0", [(5, b"x")]) == 0
    assert c.end_offset("ch-a") == 4 and c.list_channels() == ["ch-a", "ch_b.0"]
    assert c.fetch("ch-a", 1) == [Record(1, 2, b""), Record(2, 3, b"three"), Record(3, 4, b"four")]
    assert c.fetch("ch-a", 0, max_records=2) == [Record(0, 1, b"one"), Record(1, 2, b"")]
    assert c.fetch("ch-a", 4) == [] and c.fetch("nope", 0) == []
    with pytest.raises(OffsetOutOfRange):
        c.fetch("ch-a", 5)
    with pytest.raises(OffsetOutOfRange):
        c.fetch("ch-a", -1)


def test_invalid_channel_names_are_refused(c: Log) -> None:
    for name in ["../etc", "a/b", "", ".hidden", "x" * 300, "sp ace"]:
        with pytest.raises(MqFailed, match="invalid channel name"):
            c.produce(name, [(1, b"x")])
    assert c.list_channels() == []


def test_large_payloads_round_trip(c: Log) -> None:
    big = [os.urandom(5 << 20), os.urandom(3 << 20)]
    assert c.produce("vec", [(1, big[0]), (2, b"small"), (3, big[1])]) == 0
    got = c.fetch("vec", 0)
    assert [r.payload for r in got] == [big[0], b"small", big[1]]
    assert [r.offset for r in c.fetch("vec", 0, max_bytes=1)] == [0]   # at least one record
    assert [r.offset for r in c.fetch("vec", 1, max_bytes=1)] == [1]


def test_sequential_fetches_continue_where_they_stopped(c: Log) -> None:
    c.produce("seq", [(i, _payload(i)) for i in range(50)])
    seen: list[int] = []
    while len(seen) < 50:
        seen += [r.offset for r in c.fetch("seq", len(seen), max_records=7)]
    assert seen == list(range(50))
    # Jumping back and forth (two readers of one channel) reads the right records too.
    assert [r.offset for r in c.fetch("seq", 3, max_records=2)] == [3, 4]
    assert [r.offset for r in c.fetch("seq", 40, max_records=2)] == [40, 41]
    assert [r.offset for r in c.fetch("seq", 5, max_records=1)] == [5]


def test_durable_across_server_restart(backend: LogBackend) -> None:
    c = backend.client()
    for i in range(5):
        c.produce("dml-1", [(i, _payload(i))])
    backend.stop()
    backend.start()
    fresh = backend.client()
    assert fresh.end_offset("dml-1") == 5
    assert [r.payload for r in fresh.fetch("dml-1", 0)] == [_payload(i) for i in range(5)]
    assert fresh.produce("dml-1", [(9, b"after")]) == 5
    # The client from before the restart works again (it reconnects to the same address).
    deadline = time.monotonic() + 15
    while True:
        try:
            assert c.fetch("dml-1", 5) == [Record(5, 9, b"after")]
            break
        except MqFailed:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_subscription_reads_forward_from_a_position(c: Log) -> None:
    c.produce("s", [(i, _payload(i)) for i in range(10)])
    sub = Subscription(c, "s", 4, max_records=3)
    assert [r.offset for r in sub.poll()] == [4, 5, 6]
    assert [r.offset for r in sub.poll()] == [7, 8, 9]
    assert sub.poll() == [] and sub.position == 10
    c.produce("s", [(10, b"new")])
    assert sub.poll(wait_ms=1000) == [Record(10, 10, b"new")] and sub.position == 11


def test_long_poll_wakes_on_data_and_times_out(c: Log) -> None:
    t0 = time.monotonic()
    assert c.fetch("lp", 0, wait_ms=300) == []
    assert 0.25 <= time.monotonic() - t0 < 2

    def produce_later() -> None:
        time.sleep(0.2)
        c.produce("lp", [(1, b"wake")])

    threading.Thread(target=produce_later).start()
    t0 = time.monotonic()
    got = c.fetch("lp", 0, wait_ms=5000)   # the channel does not exist when the poll starts
    assert got == [Record(0, 1, b"wake")] and time.monotonic() - t0 < 2

    # A parked long poll does not hold up other calls.
    result: list[list[Record]] = []
    waiter = threading.Thread(target=lambda: result.append(c.fetch("lp", 1, wait_ms=3000)))
    waiter.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert c.end_offset("lp") == 1 and c.produce("other", [(1, b"x")]) == 0
    assert time.monotonic() - t0 < 1.0 and not result   # answered while the poll waits
    c.produce("lp", [(2, b"second")])
    waiter.join(5)
    assert result == [[Record(1, 2, b"second")]]
    t0 = time.monotonic()
    assert c.fetch("lp", 2, wait_ms=300) == [] and time.monotonic() - t0 >= 0.25


def test_concurrent_producers_get_dense_unique_offsets(c: Log) -> None:
    threads, per_thread = 8, 40
    seen: dict[int, bytes] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            for i in range(per_thread):
                recs = [(t, f"{t}-{i}-{k}".encode()) for k in range(1 + i % 3)]
                first = c.produce("conc", recs)
                with lock:
                    for k, (_, payload) in enumerate(recs):
                        assert first + k not in seen
                        seen[first + k] = payload
        except BaseException as e:
            errors.append(e)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert not errors
    assert sorted(seen) == list(range(len(seen))) and c.end_offset("conc") == len(seen)
    got = c.fetch("conc", 0, max_records=100_000)
    assert [r.payload for r in got] == [seen[o] for o in range(len(seen))]


def test_appends_from_several_processes_are_contiguous(backend: LogBackend) -> None:
    """Each multi-record produce lands at consecutive offsets, whatever other processes append
    at the same time (an upsert's delete and insert are one append)."""
    procs = [subprocess.Popen([sys.executable, "-m", "tests.support.log_producer", backend.kind, backend.endpoint,
                               "multi", "30", f"p{n}"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for n in range(3)]
    firsts = {}
    for n, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        firsts[n] = json.loads(out)
    c = backend.client()
    records = c.fetch("multi", 0, max_records=100_000)
    assert [r.offset for r in records] == list(range(len(records)))
    assert len(records) == 3 * sum(1 + i % 3 for i in range(30))
    for n, offsets in firsts.items():
        for i, first in enumerate(offsets):
            assert [records[first + k].payload for k in range(1 + i % 3)] == \
                [f"p{n}-{i}-{k}".encode() for k in range(1 + i % 3)]


def test_truncate_and_drop(c: Log) -> None:
    c.produce("t", [(i, b"x" * 1000) for i in range(20)])
    start = c.truncate("t", 12)
    assert 0 < start <= 12
    assert [r.offset for r in c.fetch("t", 12)] == list(range(12, 20))
    with pytest.raises(OffsetOutOfRange):
        c.fetch("t", 0)
    assert c.truncate("t", 100) <= 20 and c.end_offset("t") == 20   # never past the end
    assert c.produce("t", [(21, b"next")]) == 20
    assert c.truncate("unknown", 5) == 0
    c.drop("t")
    c.drop("t")   # idempotent
    assert c.list_channels() == [] and c.end_offset("t") == 0
    assert c.produce("t", [(1, b"fresh")]) == 0   # a dropped channel can be recreated
    assert c.fetch("t", 0) == [Record(0, 1, b"fresh")]


def test_closed_client_refuses_calls(c: Log) -> None:
    c.produce("z", [(1, b"x")])
    c.close()
    c.close()   # idempotent
    with pytest.raises(MqFailed):
        c.end_offset("z")
