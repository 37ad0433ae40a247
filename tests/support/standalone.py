"""Runs ``milvus-py run standalone`` as a child process for end-to-end tests, the way a user
would, and finds or kills its role processes. Imports no server code (the e2e test process
imports pymilvus, whose protos would clash with ours)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from common.net import free_port

ROOT = Path(__file__).resolve().parents[2]


class StandaloneCluster:
    """A standalone cluster in ``data_dir`` serving the Milvus API on a free port, with
    ``querynodes`` query nodes."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, querynodes: int = 1,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.data_dir = Path(data_dir)
        self.querynodes = querynodes
        self.extra_args = extra_args
        self.port = free_port()
        self.env = {**os.environ, "MILVUSPY_PROXY_HTTP_PORT": "0", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "standalone.log"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0) -> "StandaloneCluster":
        """Start the cluster and wait until the API answers ListCollections. A cluster that
        does not get ready is stopped before the error is raised (no orphaned processes)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        script = Path(sys.executable).with_name("milvus-py")
        command = [str(script), "run", "standalone", "--data-dir", str(self.data_dir), "--port", str(self.port),
                   "--querynodes", str(self.querynodes), *self.extra_args]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        from pymilvus import MilvusClient

        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"standalone exited with {self.process.returncode}:\n{self.logs()}")
            try:
                client = MilvusClient(self.uri, timeout=3)
                client.list_collections()
                client.close()
                return
            except Exception as exc:  # noqa: BLE001 - not up yet
                last_error = exc
                time.sleep(0.5)
        raise TimeoutError(f"cluster not ready after {timeout_s} s: {last_error}\n{self.logs()}")

    def role_processes(self, role: str) -> list[psutil.Process]:
        """Live child processes whose command line is ``... run ROLE``."""
        if self.process is None:
            return []
        found = []
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                cmdline = child.cmdline()
            except psutil.Error:
                continue
            if "run" in cmdline and cmdline[cmdline.index("run") + 1:cmdline.index("run") + 2] == [role]:
                found.append(child)
        return found

    def kill_role(self, role: str) -> int:
        """kill -9 every process of ``role``; returns how many were killed."""
        victims = self.role_processes(role)
        for process in victims:
            process.send_signal(signal.SIGKILL)
        return len(victims)

    def stop(self, timeout_s: float = 40.0) -> None:
        """Ctrl-C the cluster and wait for every process to end."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                child.kill()
            self.process.kill()
            self.process.wait()

    def logs(self, tail: int = 4000) -> str:
        parts = []
        for path in [self.log_path, *sorted((self.data_dir / "logs").glob("*.log"))]:
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)
