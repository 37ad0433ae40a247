"""Coordinators HA (common/election.py, common/elected.py) on a real etcd: two in-process
instances of each coordinator; one is active, the other stands by and takes over when the
active one dies (its lease expires: takeover waits for the TTL), with the metadata intact and
one scheduler at a time; an active instance that lost its lease is fenced."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.config import Config, load_config
from common.elected import STANDBY_STATE
from common.election import active_instance, standby_instances
from common.errors import ServiceNotReady
from common.kv.base import Fenced, Guard, MetaKV
from common.kv.etcd import EtcdKV
from common.runtime import RoleContext, RoleServer, allocate_node_id
from common.session import list_sessions
from coordinators.datacoord.client import DataCoordClient
from coordinators.querycoord.client import QueryCoordClient
from coordinators.rootcoord.client import RootCoordClient
from launcher.peers import GrpcPeers
from proto.internal import datacoord_pb2, meta_pb2, querycoord_pb2, rootcoord_pb2
from proto.milvus import milvus_pb2, schema_pb2
from tests.support.leaks import Resources, assert_no_leaks

TTL_S = 3
ROOT = Path(__file__).resolve().parents[2]
CLIENTS: dict[str, Callable[[str], Any]] = {"rootcoord": RootCoordClient, "datacoord": DataCoordClient,
                                            "querycoord": QueryCoordClient}


class Coordinators:
    """Coordinator RoleServers of one test cluster on a real etcd (own root path)."""

    def __init__(self, etcd_endpoint: str, tmp_path: Path) -> None:
        self.before = Resources.now()
        self.kv = EtcdKV([etcd_endpoint], root_path=f"ha-{uuid.uuid4().hex[:8]}")
        self.config: Config = load_config(environ={}).with_overrides({
            "etcd": {"coordinator_session_ttl_s": TTL_S},
            "common": {"heartbeat_interval_s": 0.05, "data_dir": str(tmp_path)},
            "storage": {"local_dir": str(tmp_path / "storage")},
        })
        self.servers: list[RoleServer] = []
        self.peers = GrpcPeers(self.kv)

    def start(self, role: str) -> RoleServer:
        from launcher.roles import build_role

        server = build_role(role, RoleContext(self.config, self.kv, allocate_node_id(self.kv), GrpcPeers(self.kv)))
        server.start()
        self.servers.append(server)
        return server

    def kill(self, server: RoleServer) -> None:
        """Die as a killed process does: stop without giving the lease back."""
        server.election.stop(revoke=False)  # type: ignore[attr-defined]
        server.stop()
        self.servers.remove(server)

    def close(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.peers.close()
        self.kv.delete_prefix("")
        self.kv.close()
        assert_no_leaks(self.before)


@pytest.fixture()
def cluster(etcd_endpoint: str, tmp_path: Path) -> Iterator[Coordinators]:
    c = Coordinators(etcd_endpoint, tmp_path)
    yield c
    c.close()


def _wait(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _collection_request(name: str) -> milvus_pb2.CreateCollectionRequest:
    schema = schema_pb2.CollectionSchema(name=name)
    schema.fields.add(name="id", data_type=schema_pb2.Int64, is_primary_key=True)
    vec = schema.fields.add(name="vec", data_type=schema_pb2.FloatVector)
    vec.type_params.add(key="dim", value="4")
    return milvus_pb2.CreateCollectionRequest(collection_name=name, schema=schema.SerializeToString())


def _names(peers: GrpcPeers) -> list[str]:
    return [c.name for c in peers.rootcoord().show_collections(rootcoord_pb2.ShowCollectionsRequest()).collections]


def _describe(peers: GrpcPeers, name: str) -> meta_pb2.CollectionInfo:
    request = rootcoord_pb2.DescribeCollectionRequest(collection_name=name)
    return peers.rootcoord().describe_collection(request).collection


def _threads(name: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name == name and t.is_alive())


def _write_metadata(role: str, cluster: Coordinators) -> None:
    """Metadata only the active instance of ``role`` keeps."""
    peers = cluster.peers
    for name in ("c1", "c2"):
        peers.rootcoord().create_collection(_collection_request(name))
    info = _describe(peers, "c1")
    if role == "datacoord":
        index = meta_pb2.IndexInfo(collection_id=info.collection_id, index_name="vec_idx", field_name="vec",
                                   index_type="FLAT", metric_type="L2", params_json="{}")
        index.user_params.add(key="index_type", value="FLAT")
        peers.datacoord().create_index(datacoord_pb2.CreateIndexRequest(collection=info, index=index))
    elif role == "querycoord":
        peers.querycoord().load_collection(datacoord_pb2.CollectionRequest(collection=info,
                                                                           collection_id=info.collection_id))


def _check_metadata(role: str, cluster: Coordinators) -> None:
    peers = cluster.peers
    assert _names(peers) == ["c1", "c2"]
    info = _describe(peers, "c1")
    if role == "datacoord":
        indexes = peers.datacoord().describe_index(datacoord_pb2.DescribeIndexRequest(collection_id=info.collection_id))
        assert [i.index.index_name for i in indexes.indexes] == ["vec_idx"]
    elif role == "querycoord":
        loaded = peers.querycoord().show_loaded(querycoord_pb2.ShowLoadedRequest())
        assert [c.collection_id for c in loaded.collections] == [info.collection_id]


# The loop that schedules work in each coordinator's core (one thread per active core).
SCHEDULER = {"datacoord": "datacoord-maintain", "querycoord": "querycoord-target-loop"}


@pytest.mark.parametrize("role", ["rootcoord", "datacoord", "querycoord"])
def test_standby_takes_over_after_the_ttl_with_the_metadata(role: str, cluster: Coordinators) -> None:
    for needed in {"rootcoord": [], "datacoord": ["rootcoord"], "querycoord": ["rootcoord", "datacoord"]}[role]:
        cluster.start(needed)
    first, second = cluster.start(role), cluster.start(role)
    kv = cluster.kv
    assert first.logic.active and not second.logic.active  # type: ignore[attr-defined]
    assert [s.server_id for s in list_sessions(kv, role)] == [first.context.node_id]
    assert [s.server_id for s in standby_instances(kv, role)] == [second.context.node_id]
    active = active_instance(kv, role)
    assert active is not None and active.server_id == first.context.node_id

    # what a standby answers: its state, and ServiceNotReady to everything else
    standby = CLIENTS[role](second.address)
    try:
        state = standby.get_component_state(meta_pb2.Empty())
        assert (state.role, state.server_id, state.state) == (role, second.context.node_id, STANDBY_STATE)
        with pytest.raises(ServiceNotReady):
            if role == "rootcoord":
                standby.show_collections(rootcoord_pb2.ShowCollectionsRequest())
            else:
                standby.get_segment_info(datacoord_pb2.CollectionRequest(collection_id=1))
    finally:
        standby.close()

    _write_metadata(role, cluster)
    ts_before = cluster.peers.rootcoord().alloc_timestamp(rootcoord_pb2.AllocRequest(count=1)).timestamp
    id_before = cluster.peers.rootcoord().alloc_id(rootcoord_pb2.AllocRequest(count=1)).begin
    if role in SCHEDULER:
        assert _threads(SCHEDULER[role]) == 1

    killed_at = time.monotonic()
    cluster.kill(first)
    time.sleep(1.0)
    assert not second.logic.active, "the standby must wait for the dead active's lease to expire"  # type: ignore[attr-defined]
    _wait(lambda: [s.server_id for s in list_sessions(kv, role)] == [second.context.node_id])
    takeover_s = time.monotonic() - killed_at
    assert TTL_S - 1.0 <= takeover_s <= TTL_S + 5.0, takeover_s
    assert second.logic.active  # type: ignore[attr-defined]
    assert standby_instances(kv, role) == []

    _check_metadata(role, cluster)  # the clients found the new active instance by themselves
    assert cluster.peers.rootcoord().alloc_timestamp(rootcoord_pb2.AllocRequest(count=1)).timestamp > ts_before
    assert cluster.peers.rootcoord().alloc_id(rootcoord_pb2.AllocRequest(count=1)).begin > id_before
    if role in SCHEDULER:
        _wait(lambda: _threads(SCHEDULER[role]) == 1, timeout_s=5.0)


def test_a_clean_stop_hands_over_at_once(cluster: Coordinators) -> None:
    first, second = cluster.start("rootcoord"), cluster.start("rootcoord")
    cluster.peers.rootcoord().create_collection(_collection_request("kept"))
    stopped_at = time.monotonic()
    first.stop()
    cluster.servers.remove(first)
    _wait(lambda: bool(second.logic.active), timeout_s=TTL_S - 1.0)  # type: ignore[attr-defined]
    assert time.monotonic() - stopped_at < TTL_S
    assert _names(cluster.peers) == ["kept"]


def test_an_active_that_lost_its_lease_is_fenced(cluster: Coordinators) -> None:
    """The lease of the active rootcoord expires while it does not know it yet (a long pause):
    whatever it writes afterwards is refused by etcd, the standby takes over, and the old one
    stands down to a standby that answers ServiceNotReady."""
    first, second = cluster.start("rootcoord"), cluster.start("rootcoord")
    old = first.logic
    ts_old = old.alloc_timestamp(rootcoord_pb2.AllocRequest(count=1)).timestamp  # type: ignore[attr-defined]
    stale_kv: MetaKV = old._context.kv  # type: ignore[attr-defined]
    assert isinstance(stale_kv.guard, Guard)

    cluster.kv.revoke_lease(first.election.lease_id)  # type: ignore[attr-defined]
    with pytest.raises(Fenced):  # the old core still runs, but etcd refuses its catalog write
        stale_kv.put("meta/fenced-probe", b"x")
    _wait(lambda: bool(second.logic.active))  # type: ignore[attr-defined]
    _wait(lambda: not first.logic.active)  # type: ignore[attr-defined]
    assert cluster.kv.get("meta/fenced-probe") is None

    with pytest.raises(Fenced):  # even after it campaigned again under a new lease
        stale_kv.put("meta/fenced-probe", b"x")
    with pytest.raises(ServiceNotReady):
        first.logic.create_collection(_collection_request("from_old"))  # type: ignore[attr-defined]
    cluster.peers.rootcoord().create_collection(_collection_request("from_new"))
    assert _names(cluster.peers) == ["from_new"]
    assert cluster.peers.rootcoord().alloc_timestamp(rootcoord_pb2.AllocRequest(count=1)).timestamp > ts_old
    assert [s.server_id for s in standby_instances(cluster.kv, "rootcoord")] == [first.context.node_id]
    active = active_instance(cluster.kv, "rootcoord")
    assert active is not None and active.server_id == second.context.node_id
    assert json.loads(cluster.kv.get("coordinator/active/rootcoord") or b"{}")["server_id"] == second.context.node_id


def test_a_lone_instance_is_active_when_started(cluster: Coordinators) -> None:
    server = cluster.start("rootcoord")
    assert server.logic.active  # type: ignore[attr-defined]
    state = cluster.peers.rootcoord().get_component_state(meta_pb2.Empty())
    assert state.state == "healthy" and state.server_id == server.context.node_id


def _rootcoord_process(etcd_endpoint: str, root: str, tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MILVUSPY_ETCD_ENDPOINTS": etcd_endpoint, "MILVUSPY_ETCD_ROOT_PATH": root,
           "MILVUSPY_ETCD_COORDINATOR_SESSION_TTL_S": str(TTL_S), "MILVUSPY_COMMON_DATA_DIR": str(tmp_path)}
    with open(tmp_path / f"{name}.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "launcher.cli", "run", "rootcoord"], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)


def test_a_frozen_active_process_is_fenced_when_it_wakes_up(etcd_endpoint: str, tmp_path: Path) -> None:
    """Two ``milvus-py run rootcoord`` processes; the active one is frozen (SIGSTOP) past its
    TTL: the standby takes over; woken up (SIGCONT), the old one refuses every RPC at once and
    stands by."""
    root = f"ha-{uuid.uuid4().hex[:8]}"
    kv = EtcdKV([etcd_endpoint], root_path=root)
    peers = GrpcPeers(kv)
    processes = [_rootcoord_process(etcd_endpoint, root, tmp_path, f"rootcoord-{i}") for i in range(2)]
    old_client: RootCoordClient | None = None
    try:
        _wait(lambda: active_instance(kv, "rootcoord") is not None and len(standby_instances(kv, "rootcoord")) == 1,
              timeout_s=60)
        old = active_instance(kv, "rootcoord")
        assert old is not None
        peers.rootcoord().create_collection(_collection_request("before"))
        ts_before = peers.rootcoord().alloc_timestamp(rootcoord_pb2.AllocRequest(count=1)).timestamp
        old_client = RootCoordClient(old.address)

        os.kill(old.pid, signal.SIGSTOP)
        try:
            _wait(lambda: (active_instance(kv, "rootcoord") or old).pid != old.pid)
            peers.rootcoord().create_collection(_collection_request("during"))
        finally:
            os.kill(old.pid, signal.SIGCONT)
        with pytest.raises(ServiceNotReady):  # its lease is over: refused before anything else runs
            old_client.create_collection(_collection_request("from_old"))
        _wait(lambda: [s.server_id for s in standby_instances(kv, "rootcoord")] == [old.server_id])
        assert old_client.get_component_state(meta_pb2.Empty()).state == STANDBY_STATE
        assert _names(peers) == ["before", "during"]
        assert peers.rootcoord().alloc_timestamp(rootcoord_pb2.AllocRequest(count=1)).timestamp > ts_before
    finally:
        if old_client is not None:
            old_client.close()
        peers.close()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        kv.delete_prefix("")
        kv.close()


def test_standalone_gives_each_instance_its_own_port() -> None:
    from launcher.standalone import instance_env

    env = {"MILVUSPY_PROXY_PORT": "19600", "MILVUSPY_ROOTCOORD_PORT": "53100"}
    assert instance_env(env, "rootcoord", 0) is env and instance_env(env, "datanode", 1) is env
    second = instance_env(env, "rootcoord", 1)
    assert second["MILVUSPY_ROOTCOORD_PORT"] not in ("", "53100")
    assert instance_env(env, "proxy", 2)["MILVUSPY_PROXY_PORT"] == "19602"
    assert instance_env(env, "proxy", 1)["MILVUSPY_PROXY_HTTP_PORT"] == "0"


def test_cli_refuses_zero_instances(capsys: pytest.CaptureFixture[str]) -> None:
    from launcher.cli import main

    with pytest.raises(SystemExit):
        main(["run", "standalone", "--coordinators", "0"])
    assert "--coordinators must be at least 1" in capsys.readouterr().err
