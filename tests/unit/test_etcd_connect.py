"""Unreachable etcd at start: a role (or standalone with external endpoints) retries with backoff
for ``etcd.connect_timeout_s``, then exits with one clear line naming the endpoints (exit code
EXIT_NO_ETCD, no traceback); an etcd that comes up meanwhile is used."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from common.config import load_config
from common.errors import ParameterInvalid, ServiceNotReady
from common.net import free_port
from common.runtime import EXIT_NO_ETCD, connect_kv
from launcher.embedded_etcd import EmbeddedEtcd

ROOT = Path(__file__).resolve().parents[2]


def _unreachable() -> str:
    return f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"


def test_connect_gives_up_naming_the_endpoints() -> None:
    endpoints = _unreachable()
    config = load_config(environ={"MILVUSPY_ETCD_ENDPOINTS": endpoints,
                                  "MILVUSPY_ETCD_CONNECT_TIMEOUT_S": "1"})
    start = time.monotonic()
    with pytest.raises(ServiceNotReady, match=f"etcd unreachable at {endpoints} after 1 s"):
        connect_kv(config)
    assert time.monotonic() - start < 6


def test_connect_stops_when_asked() -> None:
    config = load_config(environ={"MILVUSPY_ETCD_ENDPOINTS": _unreachable()})
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    start = time.monotonic()
    with pytest.raises(ServiceNotReady):
        connect_kv(config, stop)
    assert time.monotonic() - start < 5


def test_malformed_endpoints_are_a_parameter_error() -> None:
    config = load_config(environ={"MILVUSPY_ETCD_ENDPOINTS": "127.0.0.1:1,nohost"})
    with pytest.raises(ParameterInvalid, match="nohost"):
        connect_kv(config)


def test_connect_waits_for_an_etcd_that_comes_up(tmp_path: Path) -> None:
    etcd = EmbeddedEtcd(tmp_path, unsafe_no_fsync=True)
    config = load_config(environ={"MILVUSPY_ETCD_ENDPOINTS": etcd.endpoint,
                                  "MILVUSPY_ETCD_CONNECT_TIMEOUT_S": "30"})
    starter = threading.Timer(1.0, etcd.start)
    starter.start()
    try:
        kv = connect_kv(config)
        kv.put("a", b"1")
        assert kv.get("a") == b"1"
        kv.close()
    finally:
        starter.join()
        etcd.stop()


@pytest.mark.parametrize("role", ["datanode", "standalone"])
def test_process_exits_cleanly_without_etcd(tmp_path: Path, role: str) -> None:
    endpoints = _unreachable()
    env = {**os.environ, "MILVUSPY_ETCD_ENDPOINTS": endpoints, "MILVUSPY_ETCD_CONNECT_TIMEOUT_S": "1.5",
           "MILVUSPY_COMMON_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "launcher.cli", "run", role]
    if role == "standalone":
        command += ["--data-dir", str(tmp_path), "--port", str(free_port())]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_NO_ETCD, done.stderr
    assert f"cannot start: etcd unreachable at {endpoints}" in done.stderr
    assert "not reachable yet" in done.stderr  # it retried before giving up
    assert "Traceback" not in done.stderr
