"""The cluster of docker-compose.yml on this machine, every service in its own network namespace
(scripts/netns_cluster.py), shared by the tests of this package.

``MPY_NETNS_CLUSTER`` chooses what runs:

- ``today`` (default): what this branch can run. The log is the ZeroMQ broker (profile ``zmq``,
  ``MPY_MQ_TYPE=zmq``): the natsmq backend is not merged yet. One instance of each coordinator:
  coordinator active-standby is not merged yet either, and two active ones would both schedule.
  Everything else as docker-compose.yml declares it: 3 etcd members, 3 NATS servers (their
  JetStream cluster is checked, nothing writes to it yet), MinIO (SeaweedFS), 2 proxies,
  2 datanodes, 2 querynodes, an indexnode.
- ``full``: every service of docker-compose.yml without a profile, as in production (NATS R3,
  2 of each coordinator). For when the natsmq backend and coordinator HA are merged.
"""
from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import NetnsCluster, namespaces_unavailable

TODAY_SERVICES = ["etcd-0", "etcd-1", "etcd-2", "nats-0", "nats-1", "nats-2", "minio", "broker",
                  "rootcoord-1", "datacoord-1", "querycoord-1", "datanode-1", "datanode-2",
                  "querynode-1", "querynode-2", "indexnode-1", "proxy-1", "proxy-2"]
MODES = {
    "today": {"profiles": ["zmq"], "env": {"MPY_MQ_TYPE": "zmq"}, "services": TODAY_SERVICES},
    "full": {"profiles": [], "env": {}, "services": []},
}


def cluster_mode() -> str:
    mode = os.environ.get("MPY_NETNS_CLUSTER", "today")
    if mode not in MODES:
        raise ValueError(f"MPY_NETNS_CLUSTER={mode!r}: expected one of {sorted(MODES)}")
    return mode


@pytest.fixture(scope="session")
def netns_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsCluster]:
    reason = namespaces_unavailable()
    if reason:
        pytest.skip(f"cannot create network namespaces here ({reason}): the netns cluster tests need root and "
                    "iproute2")
    prefix = f"mpt{random.randrange(16**3):03x}"
    subnet = f"10.77.{random.randrange(100, 250)}.0/24"
    mode = MODES[cluster_mode()]
    cluster = NetnsCluster(tmp_path_factory.mktemp("netns"), prefix=prefix, subnet=subnet,
                           profiles=list(mode["profiles"]), env=dict(mode["env"]), services=list(mode["services"]))
    try:
        cluster.up()
        yield cluster
    finally:
        pids = set()
        if cluster.info:
            pids = {pid for svc in cluster.refresh().values() for pid in svc["pids"]}
        cluster.down()
        _assert_nothing_left(prefix, cluster.run_dir, pids)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _assert_nothing_left(prefix: str, run_dir: Path, pids: set[int]) -> None:
    """``down`` removed every namespace, interface, /etc/netns entry and process of the run
    (``pids``: the processes in its namespaces just before ``down``)."""
    namespaces = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                  if n.startswith(prefix)]
    links = [line for line in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines()
             if f" {prefix}" in line]
    etc = [p.name for p in Path("/etc/netns").glob(f"{prefix}-*")] if Path("/etc/netns").exists() else []
    processes = [str(pid) for pid in pids if _running(pid)]
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(run_dir).encode() in (proc / "cmdline").read_bytes():
                processes.append(proc.name)
        except OSError:
            continue
    assert not (namespaces or links or etc or processes), \
        f"left after down: namespaces {namespaces}, links {links}, /etc/netns {etc}, processes {processes}"
