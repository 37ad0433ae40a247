"""A standalone cluster on one machine: an embedded etcd (unless one is configured), with
``mq.type: natsmq`` and no ``mq.natsmq_servers`` an embedded nats-server (instead of the broker
role), and every role as its own OS process (``milvus-py run ROLE``), supervised: a role that dies is restarted
on the same port. Ctrl-C (SIGINT) or SIGTERM stops them all.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from common.config import Config
from common.errors import MilvusError, ParameterInvalid, ServiceNotReady
from common.kv.base import MetaKV
from common.mq.factory import mq_type, natsmq_settings
from common.net import stable_free_port
from common.runtime import EXIT_NO_ETCD, connect_kv
from launcher.roles import START_ORDER

log = logging.getLogger("milvuspy.standalone")
RESTART_DELAY_S = 1.0


def role_command(role: str, config_path: str | None) -> list[str]:
    """The command line of one role's process; it shows ``milvus-py run ROLE``."""
    script = Path(sys.executable).with_name("milvus-py")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "launcher.cli"]
    command = [*base, "run", role]
    if config_path:
        command += ["--config", str(Path(config_path).resolve())]
    return command


@dataclass
class Child:
    role: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
                                            start_new_session=True)


def cluster_env(config: Config, data_dir: Path, port: int | None, etcd_endpoint: str) -> dict[str, str]:
    """Environment overrides shared by every role of this cluster: etcd, data dir, and a fixed
    free port per internal role (so a restarted role comes back at the same address)."""
    env = dict(os.environ)
    env["MILVUSPY_ETCD_ENDPOINTS"] = etcd_endpoint
    env["MILVUSPY_COMMON_DATA_DIR"] = str(data_dir)
    env["MILVUSPY_BROKER_BIND"] = f"tcp://127.0.0.1:{stable_free_port()}"
    for role in ("rootcoord", "datacoord", "querycoord"):
        if not config.get(role, "port"):
            env[f"MILVUSPY_{role.upper()}_PORT"] = str(stable_free_port())
    api_port = port if port is not None else config.get("proxy", "port")
    env["MILVUSPY_PROXY_PORT"] = str(api_port)
    if api_port != 19530 and config.get("proxy", "http_port") == 9091:
        env["MILVUSPY_PROXY_HTTP_PORT"] = "0"  # a second cluster must not fight over 9091
    return env


COORDINATORS = ("rootcoord", "datacoord", "querycoord")


def instance_env(env: dict[str, str], role: str, index: int) -> dict[str, str]:
    """The environment of instance ``index`` of ``role``: the cluster's, except that a second
    or later coordinator gets a port of its own, and proxy ``index`` serves the API on the
    cluster's port + ``index``."""
    if index == 0:
        return env
    if role in COORDINATORS:
        return {**env, f"MILVUSPY_{role.upper()}_PORT": str(stable_free_port())}
    if role == "proxy":
        return {**env, "MILVUSPY_PROXY_PORT": str(int(env["MILVUSPY_PROXY_PORT"]) + index),
                "MILVUSPY_PROXY_HTTP_PORT": "0"}
    return env


def run_standalone(config: Config, config_path: str | None, *, data_dir: str | None, port: int | None,
                   querynodes: int = 1, datanodes: int = 1, coordinators: int = 1, proxies: int = 1) -> int:
    """Start and supervise the cluster until a signal arrives. Returns the exit code.

    ``coordinators`` instances of each coordinator run (one active, the others standing by:
    common/election.py); ``proxies`` proxies serve the API on ports PORT, PORT+1, ...
    """
    root = Path(data_dir or config.get("common", "data_dir")).resolve()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    etcd = None
    endpoint = config.get("etcd", "endpoints")
    if not endpoint.strip():
        from launcher.embedded_etcd import EmbeddedEtcd

        etcd = EmbeddedEtcd(root / "etcd", fast_raft=False).start()
        endpoint = etcd.endpoint
        config = config.with_overrides({"etcd": {"endpoints": endpoint}})
        log.info("embedded etcd at %s (data in %s)", endpoint, root / "etcd")
    try:
        kv = connect_kv(config, stop)
    except (ServiceNotReady, ParameterInvalid) as exc:
        log.error("standalone cannot start: %s", exc)
        if etcd is not None:
            etcd.stop()
        return EXIT_NO_ETCD
    nats = None
    roles = START_ORDER
    try:
        if mq_type(config) == "natsmq":
            roles = [r for r in START_ORDER if r != "broker"]   # the log is NATS JetStream
            servers, _ = natsmq_settings(config)
            if not servers:
                from launcher.embedded_nats import EmbeddedNats

                nats = EmbeddedNats(root / "nats", port=stable_free_port(), monitor_port=stable_free_port()).start()
                log.info("embedded nats-server at %s (data in %s)", nats.endpoint, root / "nats")
        _clear_sessions(kv)
    except BaseException:
        kv.close()
        if etcd is not None:
            etcd.stop()
        raise
    env = cluster_env(config, root, port, endpoint)
    if nats is not None:
        env["MILVUSPY_MQ_NATSMQ_SERVERS"] = nats.endpoint
    counts = {"querynode": querynodes, "datanode": datanodes, "proxy": proxies,
              **{role: coordinators for role in COORDINATORS}}
    children: list[Child] = []
    for role in roles:
        for i in range(counts.get(role, 1)):
            name = role if counts.get(role, 1) == 1 else f"{role}-{i}"
            child = Child(role, role_command(role, config_path), instance_env(env, role, i),
                          root / "logs" / f"{name}.log")
            child.start()
            children.append(child)
    log.info("cluster starting: API on port %s, logs in %s", env["MILVUSPY_PROXY_PORT"], root / "logs")
    ready = _ReadyReporter(kv, int(env["MILVUSPY_PROXY_PORT"]))
    try:
        while not stop.wait(0.5):
            ready.check()
            for child in children:
                assert child.process is not None
                if child.process.poll() is not None and not stop.is_set():
                    log.warning("%s exited with %s; restarting", child.role, child.process.returncode)
                    time.sleep(RESTART_DELAY_S)
                    child.restarts += 1
                    child.start()
    finally:
        kv.close()
        _stop_all(children)
        if nats is not None:
            nats.stop()
        if etcd is not None:
            etcd.stop()
    return 0


def _clear_sessions(kv: MetaKV) -> None:
    """Forget sessions and coordinator elections of a previous run (a killed cluster's leases
    outlive it for a while)."""
    from common.election import ACTIVE_PREFIX, STANDBY_PREFIX

    for prefix in ("session/", ACTIVE_PREFIX, STANDBY_PREFIX):
        kv.delete_prefix(prefix)


class _ReadyReporter:
    """Logs once that the cluster serves, when the proxy's session appears in etcd."""

    def __init__(self, kv: MetaKV, port: int) -> None:
        self._kv = kv
        self._port = port
        self._done = False

    def check(self) -> None:
        from common.session import list_sessions

        if self._done:
            return
        try:
            sessions = list_sessions(self._kv, "proxy")
        except MilvusError:  # etcd busy: ask again next round
            return
        if sessions:
            self._done = True
            log.info("ready: connect pymilvus to http://127.0.0.1:%d (Ctrl-C stops the cluster)", self._port)


def _stop_all(children: list[Child], timeout_s: float = 15.0) -> None:
    for child in reversed(children):
        if child.process is not None and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for child in reversed(children):
        if child.process is None:
            continue
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


