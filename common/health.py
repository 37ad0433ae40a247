"""What a role's ``/healthz`` answers: healthy when its core is running, etcd accepted its session
keepalive within the session TTL, and, for a role that uses the log, the log answered recently.

The log is probed by reading the end offset of a channel nobody writes (cheap on every backend),
at most once per ``LOG_PROBE_INTERVAL_S`` however often /healthz is asked (a health check polled
every second must not load the log), and never making /healthz wait for the answer.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from common.errors import MilvusError
from common.interfaces.log import Log

LOG_PROBE_INTERVAL_S = 2.0
LOG_PROBE_CHANNEL = "__healthz__"


class LogProbe:
    """Whether ``log`` answers, re-checked at most every ``interval_s``. The check runs on a
    short-lived daemon thread, so asking never waits for a log that does not answer: a check
    outstanding for ``interval_s`` or longer is itself the problem reported."""

    def __init__(self, log: Log, interval_s: float = LOG_PROBE_INTERVAL_S) -> None:
        self._log = log
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._checked_at: float | None = None   # monotonic time the last check ended
        self._pending_since: float | None = None  # monotonic time the running check began
        self._problem: str | None = None

    def problem(self) -> str | None:
        """None when the log answered at the last check (or the first is still young), else why
        it is considered unreachable."""
        with self._lock:
            now = time.monotonic()
            due = self._checked_at is None or now - self._checked_at >= self._interval_s
            if self._pending_since is None and due:
                self._pending_since = now
                threading.Thread(target=self._check, name="log-probe", daemon=True).start()
            if self._pending_since is not None and now - self._pending_since >= self._interval_s:
                return f"the log has not answered for {now - self._pending_since:.1f} s"
            return self._problem

    def _check(self) -> None:
        try:
            self._log.end_offset(LOG_PROBE_CHANNEL)
            problem = None
        except MilvusError as exc:
            problem = f"the log is unreachable: {exc}"
        with self._lock:
            self._problem = problem
            self._checked_at = time.monotonic()
            self._pending_since = None


def role_health(component_healthy: Callable[[], bool], etcd_alive: Callable[[], bool],
                log_probe: Callable[[], LogProbe | None]) -> str | None:
    """None when the role is healthy, else the first reason it is not (see the module docstring).
    ``etcd_alive`` says whether etcd renewed the role's session (or election lease) within its
    TTL; ``log_probe`` returns None when the role does not use the log."""
    if not component_healthy():
        return "the role is not running"
    if not etcd_alive():
        return "etcd has not renewed this role's session within its TTL"
    probe = log_probe()
    return probe.problem() if probe is not None else None
