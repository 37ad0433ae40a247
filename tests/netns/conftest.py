"""The cluster of docker-compose.yml on this machine, every service in its own network namespace
(scripts/netns_cluster.py), shared by the tests of this package: every service without a
profile, as in production: 3 etcd members, 3 NATS servers (the log, streams with R3), MinIO
(SeaweedFS), 2 instances of each coordinator (active-standby), 2 proxies, 2 datanodes,
2 querynodes, an indexnode.
"""
from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import NetnsCluster, namespaces_unavailable


@pytest.fixture(scope="session")
def netns_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsCluster]:
    reason = namespaces_unavailable()
    if reason:
        pytest.skip(f"cannot create network namespaces here ({reason}): the netns cluster tests need root and "
                    "iproute2")
    prefix = f"mpt{random.randrange(16**3):03x}"
    subnet = f"10.77.{random.randrange(100, 250)}.0/24"
    cluster = NetnsCluster(tmp_path_factory.mktemp("netns"), prefix=prefix, subnet=subnet, profiles=[], env={},
                           services=[])
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
