"""``ChildServer``: a server binary run as a child process on 127.0.0.1 (the embedded etcd and
nats-server of a standalone cluster, and the tests' clusters of them).

``launch()`` starts it with its output appended to a log file in its data directory,
``wait_healthy()`` polls the subclass's ``healthy()`` until it serves (``start()`` does both),
``stop()`` sends SIGTERM then SIGKILL, ``kill()`` SIGKILL at once. Subclasses say how to run it
(``command``, after ``prepare`` has written what it needs) and how to tell that it serves.

Every child runs in a session of its own (a terminal's Ctrl-C reaches only the supervisor, which
stops it in order). With ``die_with_parent`` it also gets SIGTERM when the thread that started it
ends (Linux ``PR_SET_PDEATHSIG``: started from the supervisor's main thread, it never outlives a
killed supervisor); start such a child from a thread that lives as long as the server should.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

from common.errors import ServiceNotReady

_PR_SET_PDEATHSIG = 1
_S = TypeVar("_S", bound="ChildServer")


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a child before exec: a new session, and ``sig`` when the parent dies (Linux)."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):
        pass   # not Linux: stop() in the parent's finally is all there is


def http_ok(url: str, check: Callable[[int, bytes], bool]) -> bool:
    """Whether ``GET url`` answers within 1 s and ``check(status, body)`` holds."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return check(int(resp.status), resp.read())
    except OSError:
        return False


class ChildServer:
    """One server child process (see the module docstring). ``label`` names it in errors."""

    label = "server"

    def __init__(self, data_dir: Path | str, log_name: str, *, start_timeout_s: float = 20.0,
                 die_with_parent: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.log_path = self.data_dir / log_name
        self.start_timeout_s = start_timeout_s
        self._die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """Where clients reach it."""
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def command(self) -> list[str]:
        """The command line that runs the server."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Write what the server needs before it is launched (a config file); nothing by default."""

    def healthy(self) -> bool:
        """Whether the running server serves."""
        raise NotImplementedError

    def start(self: _S) -> _S:
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
        self.prepare()
        self._log = open(self.log_path, "ab")
        preexec = die_with_parent if self._die_with_parent else os.setsid
        self._proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, preexec_fn=preexec)

    def wait_healthy(self: _S) -> _S:
        """Wait until a launched server reports healthy; return self.

        Raises ``ServiceNotReady`` (with the log's tail) when it exits or is not healthy in time.
        """
        assert self._proc is not None, "launch() first"
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._cleanup()
                raise ServiceNotReady(f"{self.label} exited at start[endpoint={self.endpoint}]: {self._log_tail()}")
            if self.healthy():
                return self
            time.sleep(0.02)
        self.stop()
        raise ServiceNotReady(f"{self.label} not serving after {self.start_timeout_s}s"
                              f"[endpoint={self.endpoint}]: {self._log_tail()}")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

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

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
