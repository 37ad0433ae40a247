"""NATS JetStream backend specifics (the shared Log contract is in test_log_contract.py): stream
naming, start-up faults (unreachable servers, replicas that cannot be kept), unacknowledged
produces, consumer reuse, a 3-server R3 cluster losing a server, and the embedded nats-server
child dying with its parent. Real nats-server processes on free 127.0.0.1 ports."""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from common.config import load_config
from common.errors import MqFailed, ParameterInvalid
from common.interfaces.log import Record
from common.mq.factory import make_log, mq_type, natsmq_settings
from common.mq import OffsetOutOfRange
from common.mq.natsmq import NatsLog, channel_of_stream, stream_name
from common.net import free_port
from launcher.embedded_nats import EmbeddedNats, nats_cluster
from tests.support.leaks import Resources, assert_no_leaks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    with EmbeddedNats(tmp_path / "nats") as s:
        yield s


@given(st.text(alphabet="abcXYZ019-_.", min_size=1, max_size=60).filter(lambda s: not s.startswith(".")))
def test_stream_names_round_trip(channel: str) -> None:
    name = stream_name(channel)
    assert "." not in name and channel_of_stream(name) == channel


def test_foreign_streams_are_not_channels() -> None:
    assert channel_of_stream("ORDERS") is None
    assert channel_of_stream("milvuspy-_probe-x") is None


def test_config_selects_and_checks_the_backend(tmp_path: Path) -> None:
    env = {"MILVUSPY_MQ_TYPE": "natsmq", "MILVUSPY_MQ_NATSMQ_SERVERS": "nats://a:4222, nats://b:4222",
           "MILVUSPY_MQ_NATSMQ_REPLICAS": "3"}
    config = load_config(environ=env)
    assert mq_type(config) == "natsmq"
    assert natsmq_settings(config) == (["nats://a:4222", "nats://b:4222"], 3)
    assert mq_type(load_config(environ={})) == "zmq"
    with pytest.raises(ParameterInvalid, match="mq.type"):
        mq_type(load_config(environ={"MILVUSPY_MQ_TYPE": "kafka"}))
    for bad in ("0", "6"):
        with pytest.raises(ParameterInvalid, match="mq.natsmq_replicas must be 1-5"):
            natsmq_settings(load_config(environ={**env, "MILVUSPY_MQ_NATSMQ_REPLICAS": bad}))
    with pytest.raises(ParameterInvalid, match="'a:4222'"):
        natsmq_settings(load_config(environ={**env, "MILVUSPY_MQ_NATSMQ_SERVERS": "a:4222"}))


def test_factory_builds_a_natsmq_client(server: EmbeddedNats) -> None:
    config = load_config(environ={"MILVUSPY_MQ_TYPE": "natsmq", "MILVUSPY_MQ_NATSMQ_SERVERS": server.endpoint})
    log = make_log(config, kv=None)  # type: ignore[arg-type]  # natsmq needs no etcd
    try:
        assert isinstance(log, NatsLog) and log.produce("f", [(1, b"x")]) == 0
    finally:
        log.close()


def test_unreachable_servers_are_retried_then_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    endpoint = f"nats://127.0.0.1:{port}"
    caplog.set_level(logging.WARNING, logger="milvuspy.natsmq")
    t0 = time.monotonic()
    with pytest.raises(MqFailed, match=f"cannot reach NATS at {endpoint} within 1.5s"):
        NatsLog([endpoint], connect_timeout_s=1.5)
    assert time.monotonic() - t0 < 8
    assert sum("retrying" in r.message for r in caplog.records) >= 2   # backoff, with a word each time

    # A server that comes up while the client retries is found. (The server is started by this
    # thread: its parent-death signal follows the thread that started it.)
    later = EmbeddedNats(tmp_path / "late", port=port)
    got: list[object] = []

    def connect() -> None:
        try:
            with NatsLog([endpoint], connect_timeout_s=20) as log:
                got.append(log.produce("late", [(1, b"x")]))
        except MqFailed as exc:
            got.append(exc)

    client = threading.Thread(target=connect)
    client.start()
    try:
        time.sleep(1.0)
        later.start()
        client.join(30)
        assert got == [0]
    finally:
        later.stop()


def test_replicas_a_single_server_cannot_keep_fail_at_start(server: EmbeddedNats) -> None:
    t0 = time.monotonic()
    with pytest.raises(MqFailed, match="cannot keep streams of 3 replica"):
        NatsLog([server.endpoint], replicas=3, connect_timeout_s=5)
    assert time.monotonic() - t0 < 5   # a definite answer is not retried
    with pytest.raises(MqFailed, match="must be 1-5"):
        NatsLog([server.endpoint], replicas=6)


def test_produce_not_acknowledged_raises_and_acknowledged_records_survive(server: EmbeddedNats) -> None:
    log = NatsLog([server.endpoint], timeout_s=1)
    try:
        assert log.produce("ack", [(1, b"one")]) == 0
        with pytest.raises(MqFailed, match="max_payload"):
            log.produce("ack", [(2, b"x" * (65 << 20))])
        server.stop()
        t0 = time.monotonic()
        with pytest.raises(MqFailed):
            log.produce("ack", [(3, b"lost"), (4, b"lost")])
        assert time.monotonic() - t0 < 6
        server.start()
        deadline = time.monotonic() + 15
        while True:   # the client reconnects by itself
            try:
                records = log.fetch("ack", 0)
                break
            except MqFailed:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert records[0].payload == b"one"
        # What the client did not send while disconnected never shows up later.
        assert records[1:] == [] and log.end_offset("ack") == 1
    finally:
        log.close()


def test_sequential_fetches_reuse_one_consumer_and_close_leaks_nothing(server: EmbeddedNats) -> None:
    before = Resources.now()
    log = NatsLog([server.endpoint])
    log.produce("r", [(i, b"x") for i in range(100)])
    offset = 0
    while offset < 100:
        offset = log.fetch("r", offset, max_records=9)[-1].offset + 1
    assert log.fetch("r", 100, wait_ms=50) == []
    with NatsLog([server.endpoint]) as other:
        assert other._run(other._api("STREAM.INFO.milvuspy-r"), 5)["state"]["consumer_count"] == 1
    log.close()
    with NatsLog([server.endpoint]) as other:
        assert other._run(other._api("STREAM.INFO.milvuspy-r"), 5)["state"]["consumer_count"] == 0
    assert_no_leaks(before)


def test_existing_stream_with_fewer_replicas_is_an_error(tmp_path: Path) -> None:
    nodes = nats_cluster(tmp_path)
    try:
        for n in nodes:
            n.start()
        servers = [n.endpoint for n in nodes]
        with NatsLog(servers, replicas=1, connect_timeout_s=30) as weak:
            weak.produce("weak-ch", [(1, b"x")])
        with pytest.raises(MqFailed, match=r"fewer replicas than mq.natsmq_replicas=3: weak-ch \(R1\)"):
            NatsLog(servers, replicas=3, connect_timeout_s=30)
    finally:
        for n in nodes:
            n.stop()


def test_r3_cluster_keeps_serving_when_a_server_dies(tmp_path: Path) -> None:
    """Kill the server the client is connected to under produce/fetch: produces go on (at most
    the in-flight ones fail), and every acknowledged record is there, once, in order."""
    nodes = nats_cluster(tmp_path)
    for n in nodes:
        n.start()
    log = None
    try:
        log = NatsLog([n.endpoint for n in nodes], replicas=3, timeout_s=5, connect_timeout_s=30)
        acked: dict[int, bytes] = {}
        failures = 0
        for i in range(150):
            if i == 50:
                connected = log._conn.connected_url.port if log._conn.connected_url else None
                victim = next(n for n in nodes if n.port == connected)
                victim.kill()
            payload = f"rec-{i}".encode()
            try:
                acked[log.produce("ha", [(i, payload)])] = payload
            except MqFailed:
                failures += 1
            if i % 25 == 0:   # a reader keeps up meanwhile
                assert log.fetch("ha", 0, max_records=10_000, wait_ms=100) or not acked
        assert failures <= 2 and len(acked) >= 148
        end = log.end_offset("ha")
        records: list[Record] = []
        while len(records) < end:   # a fetch may return part (read without a consumer)
            records += log.fetch("ha", len(records), max_records=10_000)
        assert [r.offset for r in records] == list(range(end))
        assert all(records[o].payload == p for o, p in acked.items())
        payloads = [r.payload for r in records]
        assert len(set(payloads)) == len(payloads)   # no record stored twice
    finally:
        if log is not None:
            log.close()
        for n in nodes:
            n.stop()


def test_embedded_server_dies_with_its_parent(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path; from launcher.embedded_nats import EmbeddedNats; "
            f"s = EmbeddedNats(Path({str(tmp_path)!r})).start(); print(s.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(child):
            assert time.monotonic() < deadline, "nats-server outlived its parent"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_close_fails_calls_in_flight_with_mqfailed(server: EmbeddedNats) -> None:
    log = NatsLog([server.endpoint])
    log.produce("inflight", [(1, b"x")])
    outcome: list[object] = []

    def poll() -> None:
        try:
            outcome.append(log.fetch("inflight", 1, wait_ms=5000))
        except Exception as exc:  # noqa: BLE001 - the test inspects the type
            outcome.append(exc)

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.3)
    log.close()
    waiter.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], MqFailed)


def test_fetch_reads_without_a_consumer_while_none_can_be_created(server: EmbeddedNats) -> None:
    """With no JetStream meta leader (5-10 s after a cluster loses it) no consumer can be
    created; fetch then reads record by record from the stream's leader."""
    with NatsLog([server.endpoint]) as log:
        log.produce("nc", [(i, bytes([i]) * 10) for i in range(100)])
        log.truncate("nc", 5)
        log._consumers_down_until = time.monotonic() + 60
        got = log.fetch("nc", 10, max_records=5)
        assert [(r.offset, r.ts, r.payload) for r in got] == [(o, o, bytes([o]) * 10) for o in range(10, 15)]
        assert len(log.fetch("nc", 0 + 20, max_records=1000)) == 64   # bounded per call
        assert [r.offset for r in log.fetch("nc", 90, max_bytes=1)] == [90]
        with pytest.raises(OffsetOutOfRange):
            log.fetch("nc", 2)
        t0 = time.monotonic()
        assert log.fetch("nc", 100, wait_ms=1000) == [] and time.monotonic() - t0 < 1
        assert log._run(log._api("STREAM.INFO.milvuspy-nc"), 5)["state"]["consumer_count"] == 0


def test_a_record_published_again_with_its_id_is_stored_once(server: EmbeddedNats) -> None:
    """What makes retrying an unacknowledged produce safe: JetStream stores a Nats-Msg-Id once
    and answers a repeat with the first position."""
    from common.mq.natsmq import TS, _subject

    log = NatsLog([server.endpoint])
    try:
        log.produce("dedup", [(1, b"first")])
        data = TS.pack(2) + b"again"
        headers = {"Nats-Msg-Id": "one-record"}
        first, _ = log._run(log._ask(_subject("dedup"), data, 2.0, headers), 5)
        repeat, _ = log._run(log._ask(_subject("dedup"), data, 2.0, headers), 5)
        assert first is not None and repeat is not None
        assert repeat["seq"] == first["seq"] == 2 and repeat.get("duplicate") is True
        assert log.end_offset("dedup") == 2
        assert [r.payload for r in log.fetch("dedup", 0)] == [b"first", b"again"]
    finally:
        log.close()
