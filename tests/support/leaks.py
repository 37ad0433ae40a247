"""Leak checks for whole-cluster tests: the threads, sockets and child processes a test leaves
behind once everything it started has been stopped.

``Resources.now()`` takes a snapshot; ``assert_no_leaks(before)`` waits a moment for what is
shutting down to go (threads that are joining, sockets in close), then fails naming every
thread, socket and child process that was not there in ``before``.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

# How long stopped components get to let their threads, sockets and processes go.
SETTLE_S = 5.0
# Threads a library starts once per process and keeps by design, not per component:
# pyzmq's garbage collector of zero-copy sends.
PROCESS_WIDE_THREADS = ("zmq.utils.garbage.GarbageCollectorThread",)


@dataclass(frozen=True)
class Resources:
    """What this process holds at one moment."""

    threads: frozenset[tuple[int, str]]  # (ident, name and target) of live Python threads
    sockets: frozenset[int]              # file descriptors that are sockets
    children: frozenset[int]             # pids of live child processes (recursively)

    @classmethod
    def now(cls) -> Resources:
        threads = frozenset((t.ident or 0, _thread_info(t)) for t in threading.enumerate()
                            if t.is_alive() and _class_name(t) not in PROCESS_WIDE_THREADS)
        return cls(threads, frozenset(_socket_fds()), frozenset(_children()))

    def minus(self, before: Resources) -> Resources:
        """What is held now and was not in ``before``."""
        return Resources(self.threads - before.threads, self.sockets - before.sockets,
                         self.children - before.children)

    def empty(self) -> bool:
        return not (self.threads or self.sockets or self.children)

    def describe(self) -> str:
        parts = []
        if self.threads:
            parts.append("threads: " + ", ".join(sorted(name for _, name in self.threads)))
        if self.sockets:
            parts.append("sockets: " + ", ".join(_socket_info(fd) for fd in sorted(self.sockets)))
        if self.children:
            parts.append("processes: " + ", ".join(_process_info(pid) for pid in sorted(self.children)))
        return "; ".join(parts)


def assert_no_leaks(before: Resources, settle_s: float = SETTLE_S, keep_children: Iterable[int] = ()) -> None:
    """Fail unless, within ``settle_s``, everything acquired since ``before`` is gone, except
    the child processes ``keep_children`` (started by the test itself meanwhile)."""
    deadline = time.monotonic() + settle_s
    kept = Resources(frozenset(), frozenset(), frozenset(keep_children))
    while True:
        leaked = Resources.now().minus(before).minus(kept)
        if leaked.empty():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left behind after the cluster stopped: {leaked.describe()}")
        time.sleep(0.05)


def _class_name(thread: threading.Thread) -> str:
    return f"{type(thread).__module__}.{type(thread).__qualname__}"


def _thread_info(thread: threading.Thread) -> str:
    """The thread's name, with the function it runs when it has one of its own."""
    target = getattr(thread, "_target", None)  # set by Thread(target=...), gone once it ended
    where = getattr(target, "__qualname__", "")
    return f"{thread.name} ({where})" if where else thread.name


def _socket_fds() -> list[int]:
    out = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                out.append(int(name))
        except OSError:  # closed while we looked
            continue
    return out


def _socket_info(fd: int) -> str:
    for conn in psutil.Process().net_connections(kind="all"):
        if conn.fd == fd:
            return f"{fd} ({conn.laddr} -> {conn.raddr or '-'}, {conn.status})"
    return str(fd)


def _children() -> list[int]:
    return [p.pid for p in psutil.Process().children(recursive=True) if p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE]


def _process_info(pid: int) -> str:
    try:
        return f"{pid} ({' '.join(psutil.Process(pid).cmdline()[:4])})"
    except psutil.Error:
        return str(pid)
