"""Unit tests of the log broker: ChannelLog on disk, BrokerServer + BrokerClient in-process. The
Log contract both backends share is tested in test_log_contract.py."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import zmq

from common.errors import MqFailed
from common.interfaces.log import Record
from common.mq import (BrokerClient, BrokerServer, ChannelLog, OffsetOutOfRange)
from common.mq import protocol as p
from common.mq.log import HEADER


def _payload(i: int, n: int = 40) -> bytes:
    return (f"rec-{i}-".encode() * n)[:n]


# ---------------------------------------------------------------- ChannelLog


def test_log_append_and_read_across_file_rolls(tmp_path: Path) -> None:
    lg = ChannelLog(tmp_path / "ch", segment_bytes=500)
    assert (lg.start_offset, lg.end_offset) == (0, 0)
    assert lg.append([(i, _payload(i)) for i in range(10)]) == 0
    assert lg.append([(100 + i, _payload(10 + i)) for i in range(25)]) == 10
    assert lg.append([]) == 35
    lg.sync()
    files = sorted(os.listdir(tmp_path / "ch"))
    assert len(files) > 3 and files[0] == f"{0:020d}.log"
    assert all(os.path.getsize(tmp_path / "ch" / f) <= 500 for f in files)

    def expect(offset: int) -> Record:
        ts = offset if offset < 10 else 100 + offset - 10
        return Record(offset, ts, _payload(offset))

    assert lg.read(0, 1000, 1 << 30) == [expect(i) for i in range(35)]
    assert lg.read(7, 12, 1 << 30) == [expect(i) for i in range(7, 19)]   # spans files
    rec = HEADER.size + 40
    assert lg.read(3, 100, 3 * rec) == [expect(3), expect(4), expect(5)]
    assert lg.read(3, 100, 1) == [expect(3)]   # the first record is returned whole
    assert lg.read(35, 10, 1 << 30) == []
    big = b"B" * 2000   # bigger than a segment: gets a file of its own
    assert lg.append([(7, big), (8, b"")]) == 35
    assert lg.read(34, 10, 1 << 30)[1:] == [Record(35, 7, big), Record(36, 8, b"")]
    lg.sync()
    lg.close()
    lg = ChannelLog(tmp_path / "ch", segment_bytes=500)
    assert (lg.start_offset, lg.end_offset, lg.durable_offset) == (0, 37, 37)
    assert lg.read(0, 35, 1 << 30) == [expect(i) for i in range(35)]
    lg.close()


def test_log_truncate_before_keeps_records_at_or_above(tmp_path: Path) -> None:
    lg = ChannelLog(tmp_path / "ch", segment_bytes=300)
    lg.append([(i, _payload(i)) for i in range(30)])
    lg.sync()
    start = lg.truncate_before(17)
    assert 0 < start <= 17 and lg.start_offset == start
    assert [r.offset for r in lg.read(17, 100, 1 << 30)] == list(range(17, 30))
    with pytest.raises(OffsetOutOfRange, match="below the start"):
        lg.read(start - 1, 1, 1 << 20)
    lg.truncate_before(10_000)   # the last file (and the end offset) always survives
    assert lg.end_offset == 30 and lg.read(29, 1, 1 << 20)[0].payload == _payload(29)
    lg.close()
    lg = ChannelLog(tmp_path / "ch", segment_bytes=300)
    assert lg.end_offset == 30 and lg.append([(1, b"x")]) == 30
    lg.close()


def _last_file(directory: Path) -> Path:
    return directory / sorted(os.listdir(directory))[-1]


def test_log_torn_tail_is_dropped_and_appends_continue(tmp_path: Path) -> None:
    d = tmp_path / "ch"
    lg = ChannelLog(d, segment_bytes=400)
    lg.append([(i, _payload(i)) for i in range(12)])
    lg.sync()
    lg.close()
    whole = _last_file(d).stat().st_size
    with open(_last_file(d), "ab") as f:   # half a record: a crash in the middle of a write
        f.write(HEADER.pack(40, 0, 99) + b"only-half")
    lg = ChannelLog(d, segment_bytes=400)
    assert lg.end_offset == 12 and _last_file(d).stat().st_size == whole
    assert [r.payload for r in lg.read(0, 100, 1 << 30)] == [_payload(i) for i in range(12)]
    assert lg.append([(12, b"next")]) == 12
    lg.sync()
    lg.close()
    lg = ChannelLog(d, segment_bytes=400)
    assert lg.read(12, 1, 1 << 20) == [Record(12, 12, b"next")]
    lg.close()


def test_log_corrupt_last_record_is_dropped(tmp_path: Path) -> None:
    d = tmp_path / "ch"
    lg = ChannelLog(d)
    lg.append([(i, _payload(i)) for i in range(5)])
    lg.sync()
    lg.close()
    path = _last_file(d)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF   # a byte of the last record's payload
    path.write_bytes(bytes(data))
    lg = ChannelLog(d)
    assert lg.end_offset == 4
    assert [r.offset for r in lg.read(0, 100, 1 << 30)] == [0, 1, 2, 3]
    assert lg.append([(9, b"again")]) == 4
    assert lg.read(4, 1, 1 << 20) == [Record(4, 9, b"again")]
    lg.close()


def test_log_corruption_in_an_older_file_is_reported_on_read(tmp_path: Path) -> None:
    d = tmp_path / "ch"
    lg = ChannelLog(d, segment_bytes=300)
    lg.append([(i, _payload(i)) for i in range(20)])
    lg.sync()
    lg.close()
    first = d / sorted(os.listdir(d))[0]
    data = bytearray(first.read_bytes())
    data[HEADER.size + 1] ^= 0xFF   # payload of record 0
    first.write_bytes(bytes(data))
    lg = ChannelLog(d, segment_bytes=300)
    with pytest.raises(MqFailed, match="record 0 .* corrupt"):
        lg.read(0, 10, 1 << 20)
    assert lg.read(1, 1, 1 << 20)[0].payload == _payload(1)
    lg.close()


# ---------------------------------------------------------------- server + client


@pytest.fixture()
def broker(tmp_path: Path):
    server = BrokerServer(tmp_path / "mq", segment_bytes=4096)
    endpoint = server.start()
    client = BrokerClient(endpoint, timeout_s=5)
    yield server, client
    client.close()
    server.stop()


def test_durable_across_server_restart_including_torn_tail(tmp_path: Path) -> None:
    data = tmp_path / "mq"
    with BrokerServer(data) as server, BrokerClient(server.endpoint or "") as c:
        for i in range(5):
            c.produce("dml-1", [(i, _payload(i))])
    with open(_last_file(data / "dml-1"), "ab") as f:
        f.write(HEADER.pack(100, 0, 7) + b"torn")
    with BrokerServer(data) as server, BrokerClient(server.endpoint or "") as c:
        assert c.end_offset("dml-1") == 5
        assert [r.payload for r in c.fetch("dml-1", 0)] == [_payload(i) for i in range(5)]
        assert c.produce("dml-1", [(9, b"after")]) == 5
        assert c.fetch("dml-1", 5) == [Record(5, 9, b"after")]


def test_group_commit_and_nothing_visible_before_fsync(broker, monkeypatch) -> None:
    _, c = broker
    release = threading.Event()
    syncs: list[int] = []
    real_sync = ChannelLog.sync

    def slow_sync(self: ChannelLog) -> None:
        syncs.append(self.end_offset)
        release.wait(5)
        real_sync(self)

    monkeypatch.setattr(ChannelLog, "sync", slow_sync)
    offsets: list[int] = []
    workers = [threading.Thread(target=lambda i=i: offsets.append(c.produce("g", [(i, b"r")])))
               for i in range(12)]
    for w in workers:
        w.start()
    time.sleep(0.3)
    # The appended records are not durable yet: no consumer may see them.
    assert c.end_offset("g") == 0 and c.fetch("g", 0) == [] and offsets == []
    release.set()
    for w in workers:
        w.join(10)
    assert sorted(offsets) == list(range(12)) and c.end_offset("g") == 12
    assert len(syncs) < 12   # requests that queued up during an fsync shared the next one


def test_truncate_deletes_whole_files_and_drop_the_directory(broker) -> None:
    server, c = broker   # segment_bytes=4096
    c.produce("t", [(i, b"x" * 1000) for i in range(20)])
    assert 0 < c.truncate("t", 12) <= 12   # whole files only
    c.drop("t")
    assert not (server.data_dir / "t").exists()


def test_client_recovers_after_broker_restart_on_same_port(tmp_path: Path) -> None:
    server = BrokerServer(tmp_path / "mq")
    endpoint = server.start()
    c = BrokerClient(endpoint, timeout_s=5)
    try:
        assert c.produce("r", [(1, b"before")]) == 0
        server.stop()
        c.timeout_s = 0.5
        with pytest.raises(MqFailed, match="did not answer"):
            c.end_offset("r")
        server = BrokerServer(tmp_path / "mq", endpoint)
        assert server.start() == endpoint
        c.timeout_s = 5
        assert c.produce("r", [(2, b"after")]) == 1
        assert [r.payload for r in c.fetch("r", 0)] == [b"before", b"after"]
    finally:
        c.close()
        server.stop()


def test_bad_requests_get_error_replies(broker) -> None:
    server, c = broker
    for name in ["../etc", "a/b", "", ".hidden", "x" * 300, "sp ace"]:
        with pytest.raises(MqFailed, match="invalid channel name"):
            c.produce(name, [(1, b"x")])
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    raw = ctx.socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(server.endpoint)

    def ask(*frames: bytes) -> tuple[int, str]:
        raw.send_multipart(list(frames))
        assert raw.poll(3000)
        status, _, body = p.decode_reply(raw.recv_multipart()[0])
        return status, bytes(body).decode()

    try:
        table, frames = p.pack_records([(1, b"x")])
        assert ask(p.encode_request(p.OP_PRODUCE, 1, "../x", table), *frames)[1].startswith(
            "invalid channel name")
        assert ask(p.encode_request(p.OP_PRODUCE, 2, "ok", table))[0] == p.STATUS_ERROR
        assert "unknown broker operation" in ask(p.encode_request(99, 3, "ok"))[1]
        assert ask(b"\x01")[0] == p.STATUS_ERROR
        assert ask(p.encode_request(p.OP_FETCH, 4, "ok", b"\x00"))[0] == p.STATUS_ERROR
        raw.send_multipart([b"garbage", b"more"])
    finally:
        raw.close()
    assert c.produce("ok", [(1, b"fine")]) == 0 and c.list_channels() == ["ok"]


def test_broker_runs_as_a_process_and_stops_on_sigterm(tmp_path: Path) -> None:
    import re
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "common.mq.server", "--data-dir",
                             str(tmp_path / "mq")], cwd=root, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        endpoint = None
        assert proc.stderr is not None
        for line in proc.stderr:
            m = re.search(r"broker serving (tcp://\S+)", line)
            if m:
                endpoint = m.group(1)
                break
        assert endpoint
        with BrokerClient(endpoint, timeout_s=5) as c:
            assert c.produce("p", [(1, b"x")]) == 0 and c.end_offset("p") == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
