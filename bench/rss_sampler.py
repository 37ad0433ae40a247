"""Peak resident memory of each role of a standalone cluster, per benchmark phase.

``RssSampler(root_pid)`` runs a daemon thread that every ``interval_s`` walks the descendants of
``root_pid`` (the ``milvus-py run standalone`` process), names each one by its command line
(``milvus-py run <role>`` -> ``<role>``; the etcd child -> ``etcd``; the root itself ->
``standalone``) and records, per role, the largest resident set size seen (the sum over the
role's processes, e.g. several querynodes) during the current phase and over the whole run.
``phase(name)`` starts a phase (taking one sample at the boundary, so a phase never reports
less than what was resident when it started); ``stop()`` ends sampling and ``report()`` gives
``{"interval_s", "peak_rss_mb": {role: {phase: MB, ..., "overall": MB}}}``.

Imports no server code (the benchmark process holds pymilvus's protos): only psutil.
"""
from __future__ import annotations

import threading
from typing import Any

import psutil

MB = 1 << 20


def role_of(process: psutil.Process, root_pid: int) -> str | None:
    """The role a process of the cluster runs, or None for a process that is not one."""
    if process.pid == root_pid:
        return "standalone"
    try:
        cmdline = process.cmdline()
    except psutil.Error:
        return None
    if "run" in cmdline:
        after = cmdline[cmdline.index("run") + 1:cmdline.index("run") + 2]
        if after and after[0] != "standalone":  # a child not yet exec'd still shows its parent's
            return after[0]
    if cmdline and "etcd" in cmdline[0].rsplit("/", 1)[-1]:
        return "etcd"
    return None


class RssSampler:
    """Samples the cluster's processes' RSS in a background thread (see the module doc)."""

    def __init__(self, root_pid: int, interval_s: float = 0.2) -> None:
        self.root_pid = root_pid
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._phase = "start"
        self._peaks: dict[str, dict[str, int]] = {}  # role -> phase -> bytes
        self._processes: dict[int, tuple[psutil.Process, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def phase(self, name: str) -> None:
        """From now on, samples count towards phase ``name``."""
        with self._lock:
            self._phase = name
        self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> dict[str, Any]:
        with self._lock:
            peaks = {role: {phase: round(value / MB, 1) for phase, value in phases.items()}
                     for role, phases in sorted(self._peaks.items())}
        for phases in peaks.values():
            phases["overall"] = max(phases.values())
        return {"interval_s": self.interval_s, "peak_rss_mb": peaks}

    def sample(self) -> None:
        """One sample of every role's RSS (summed over its processes)."""
        totals: dict[str, int] = {}
        for process, role in self._current_processes():
            try:
                rss = process.memory_info().rss
            except psutil.Error:
                continue
            totals[role] = totals.get(role, 0) + rss
        with self._lock:
            for role, rss in totals.items():
                phases = self._peaks.setdefault(role, {})
                phases[self._phase] = max(phases.get(self._phase, 0), rss)

    def _current_processes(self) -> list[tuple[psutil.Process, str]]:
        """The cluster's live processes with their roles; a process's role is read once."""
        try:
            root = psutil.Process(self.root_pid)
            alive = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        known = {}
        for process in alive:
            entry = self._processes.get(process.pid)
            if entry is None:
                role = role_of(process, self.root_pid)
                if role is None:
                    continue
                entry = (process, role)
            known[process.pid] = entry
        self._processes = known
        return list(known.values())

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()
