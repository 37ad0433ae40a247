"""docker-compose.yml run for real, every service on its own "host" (a network namespace with its
own address; tests/netns/conftest.py): the wiring (etcd and NATS clusters, the addresses roles
publish), the pymilvus flow through both proxies, and the loss of a whole host of each kind under
insert + search load: no acknowledged row lost, none duplicated, reads and writes back within 10 s.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pymilvus import DataType, MilvusClient

from tests.support.netns import NetnsCluster

DIM = 8
RECOVERY_S = 10.0   # reads and writes must be back within this after a host is lost
LOAD_BEFORE_S = 3.0
LOAD_AFTER_S = 14.0
CALL_TIMEOUT_S = 3.0
ROLE_SERVICES = ["rootcoord-1", "rootcoord-2", "datacoord-1", "datacoord-2", "querycoord-1", "querycoord-2",
                 "datanode-1", "datanode-2", "querynode-1", "querynode-2", "indexnode-1", "proxy-1", "proxy-2"]
ETCD = ("etcd-0", "etcd-1", "etcd-2")
NATS = ("nats-0", "nats-1", "nats-2")


def _http_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _clients(cluster: NetnsCluster, wait_s: float = 30.0) -> list[MilvusClient]:
    """A client per proxy, each once it answers: after a proxy restarts, gRPC in this process may
    still hold back reconnecting to its address (reconnect backoff) for a few seconds."""
    clients = []
    for proxy in ("proxy-1", "proxy-2"):
        deadline = time.monotonic() + wait_s
        while True:
            try:
                client = MilvusClient(uri=cluster.uri(proxy), timeout=5)
                client.list_collections(timeout=3)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        clients.append(client)
    return clients


def _vectors(n: int, rng: random.Random) -> list[list[float]]:
    return [[rng.random() for _ in range(DIM)] for _ in range(n)]


# ------------------------------------------------------------------------------------------
# Wiring


def test_etcd_members_form_one_cluster(netns_cluster: NetnsCluster):
    for member in ("etcd-0", "etcd-1", "etcd-2"):
        assert _http_json(f"http://{netns_cluster.ip(member)}:2379/health")["health"] == "true", member
    etcdctl = Path(sys.executable).with_name("etcdctl")
    members = subprocess.run([str(etcdctl), f"--endpoints={netns_cluster.ip('etcd-0')}:2379", "member", "list"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    assert sorted(line.split(", ")[2] for line in members.splitlines()) == ["etcd-0", "etcd-1", "etcd-2"]


def test_nats_servers_form_one_jetstream_cluster(netns_cluster: NetnsCluster):
    meta = _http_json(f"http://{netns_cluster.ip('nats-0')}:8222/jsz")["meta_cluster"]
    assert meta["cluster_size"] == 3 and meta["leader"] in ("nats-0", "nats-1", "nats-2")
    for server in ("nats-1", "nats-2"):
        assert _http_json(f"http://{netns_cluster.ip(server)}:8222/healthz?js-enabled-only=true")["status"] == "ok"


def test_roles_publish_their_service_names(netns_cluster: NetnsCluster):
    """Each role registered in etcd under the address its compose service advertises (its own
    name, resolved through /etc/netns/<ns>/hosts by the others): a session, or for a standby
    coordinator its standby key."""
    published = "".join(_etcdctl(netns_cluster, "get", "--prefix", f"by-dev/{prefix}", "--print-value-only")
                        for prefix in ("session/", "coordinator/standby/"))
    for service in ROLE_SERVICES:
        assert f"{service}:" in published, f"{service} published nothing in etcd:\n{published}"


# ------------------------------------------------------------------------------------------
# The pymilvus flow through both proxies


def test_pymilvus_flow_through_both_proxies(netns_cluster: NetnsCluster):
    one, two = _clients(netns_cluster)
    rng = random.Random(7)
    name = "flow"
    schema = one.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tag", DataType.VARCHAR, max_length=16)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    index = one.prepare_index_params()
    index.add_index("vec", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32})
    try:
        one.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        assert name in two.list_collections()
        vectors = _vectors(400, rng)
        for lo, client in ((0, one), (200, two)):
            rows = [{"id": i, "tag": f"t{i % 4}", "vec": vectors[i]} for i in range(lo, lo + 200)]
            assert client.insert(name, rows)["insert_count"] == 200
        one.flush(name)
        for client in (one, two):
            assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 400
            hits = client.search(name, [vectors[123]], limit=3, anns_field="vec", search_params={"ef": 64})
            assert hits[0][0]["id"] == 123
        assert two.delete(name, filter="tag == 't1'")["delete_count"] == 100
        assert one.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 300
        assert one.query(name, filter="id in [1, 2]", output_fields=["tag"]) == [{"id": 2, "tag": "t2"}]
    finally:
        two.drop_collection(name)
        assert name not in one.list_collections()
        for client in (one, two):
            client.close()


# ------------------------------------------------------------------------------------------
# Losing a host under load


@dataclass
class LoadRecord:
    acked: set[int] = field(default_factory=set)       # ids of inserts the server acknowledged
    maybe: set[int] = field(default_factory=set)       # ids of inserts that failed (may or may not be there)
    write_ok: list[float] = field(default_factory=list)  # monotonic times of successful inserts
    read_ok: list[float] = field(default_factory=list)   # ... of successful searches
    errors: list[str] = field(default_factory=list)


class Load:
    """An insert loop and a search loop over both proxies, each call failing over to the other
    proxy (what a client behind a load balancer sees). Bounded: stops at ``stop()`` or after
    ``max_s``."""

    def __init__(self, cluster: NetnsCluster, collection: str, max_s: float = 60.0) -> None:
        self.clients = _clients(cluster)
        self.collection = collection
        self.record = LoadRecord()
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_s
        self._next_id = 1_000_000
        self._threads = [threading.Thread(target=self._writer, daemon=True),
                         threading.Thread(target=self._reader, daemon=True)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2 * CALL_TIMEOUT_S + 5)

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def _call(self, turn: int, fn_name: str, *args: object, **kwargs: object) -> object:
        last: Exception | None = None
        for k in range(2):
            client = self.clients[(turn + k) % 2]
            try:
                return getattr(client, fn_name)(*args, timeout=CALL_TIMEOUT_S, **kwargs)
            except Exception as exc:  # noqa: BLE001 - any failure counts, then the other proxy
                last = exc
        assert last is not None
        raise last

    def _writer(self) -> None:
        rng = random.Random(1)
        turn = 0
        while self._running():
            ids = list(range(self._next_id, self._next_id + 20))
            self._next_id += 20  # an id is never sent twice: a failed batch is not retried
            rows = [{"id": i, "vec": v} for i, v in zip(ids, _vectors(len(ids), rng))]
            try:
                self._call(turn, "insert", self.collection, rows)
                self.record.acked.update(ids)
                self.record.write_ok.append(time.monotonic())
            except Exception as exc:  # noqa: BLE001
                self.record.maybe.update(ids)
                self.record.errors.append(f"insert: {type(exc).__name__}: {exc}"[:300])
            turn += 1
            time.sleep(0.05)

    def _reader(self) -> None:
        rng = random.Random(2)
        turn = 0
        while self._running():
            try:
                self._call(turn, "search", self.collection, _vectors(1, rng), limit=5, anns_field="vec")
                self.record.read_ok.append(time.monotonic())
            except Exception as exc:  # noqa: BLE001
                self.record.errors.append(f"search: {type(exc).__name__}: {exc}"[:300])
            turn += 1
            time.sleep(0.05)


def _longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest time in [start, end] without a success (from ``start`` to the first one, between
    two, and from the last one to ``end``)."""
    points = [start, *[t for t in times if start <= t <= end], end]
    return max(b - a for a, b in zip(points, points[1:]))


def _all_ids(client: MilvusClient, collection: str, top: int) -> list[int]:
    """Every id in the collection (Strong), in ranges of 10,000 (the query limit)."""
    found: list[int] = []
    for lo in range(0, top + 1, 10_000):
        rows = client.query(collection, filter=f"id >= {lo} and id < {lo + 10_000}", output_fields=["id"],
                            limit=16_384, consistency_level="Strong")
        found.extend(int(r["id"]) for r in rows)
    return found


def _etcdctl(cluster: NetnsCluster, *args: str) -> str:
    """etcdctl against every member (the ones alive answer)."""
    etcdctl = Path(sys.executable).with_name("etcdctl")
    endpoints = ",".join(f"{cluster.ip(m)}:2379" for m in ETCD)
    return subprocess.run([str(etcdctl), f"--endpoints={endpoints}", *args], capture_output=True, text=True,
                          timeout=10, check=True).stdout


def _etcd_leader(cluster: NetnsCluster) -> str:
    status = json.loads(_etcdctl(cluster, "endpoint", "status", "-w", "json"))
    (leader,) = [s["Endpoint"] for s in status if s["Status"]["header"]["member_id"] == s["Status"]["leader"]]
    return next(m for m in ETCD if leader.startswith(cluster.ip(m) + ":"))


def _active_coordinator(cluster: NetnsCluster, role: str) -> str:
    """The compose service of ``role``'s active instance: the host of the address in its
    election key (each instance advertises its own service name)."""
    value = _etcdctl(cluster, "get", f"by-dev/coordinator/active/{role}", "--print-value-only").strip()
    assert value, f"no active {role}"
    host = str(json.loads(value)["address"]).rpartition(":")[0]
    assert host in (f"{role}-1", f"{role}-2"), f"active {role} advertises {host!r}"
    return host


def _stream_leader(cluster: NetnsCluster, collection_id: int) -> str:
    """The NATS server that leads the stream of the collection's first channel (monitoring
    port's /jsz of any server that answers)."""
    for server in NATS:
        try:
            jsz = _http_json(f"http://{cluster.ip(server)}:8222/jsz?accounts=true&streams=true")
        except OSError:
            continue
        streams = sorted((s for account in jsz.get("account_details") or [] for s in account.get("stream_detail") or []
                          if f"{collection_id}" in s["name"]), key=lambda s: s["name"])
        if streams:
            leader = str(streams[0]["cluster"]["leader"])
            assert leader in NATS, f"stream {streams[0]['name']} led by {leader!r}"
            return leader
    raise AssertionError(f"no NATS stream of collection {collection_id}")


HOSTS = ["etcd-leader",  # the Raft leader at the time of the kill
         "nats-stream-leader",  # the NATS server that leads the stream of the collection's first channel
         "minio", "rootcoord-active", "datacoord-active", "querycoord-active",  # the elected instance
         "proxy-1", "datanode-1", "querynode-1", "indexnode-1"]


def _resolve(cluster: NetnsCluster, host: str, collection_id: int) -> str:
    """The compose service that a HOSTS entry names at this moment."""
    if host == "etcd-leader":
        return _etcd_leader(cluster)
    if host == "nats-stream-leader":
        return _stream_leader(cluster, collection_id)
    if host.endswith("-active"):
        return _active_coordinator(cluster, host.removesuffix("-active"))
    return host


@pytest.mark.parametrize("host", HOSTS)
def test_losing_a_host_under_load(netns_cluster: NetnsCluster, host: str):
    """Kill -9 everything on one host while inserts and searches run through both proxies: every
    acknowledged row is there afterwards, exactly once, and both reads and writes succeed again
    within RECOVERY_S of the kill. The host is started again afterwards (its restart policy), so
    the next test finds the whole cluster."""
    one, two = _clients(netns_cluster)
    name = f"kill_{host.replace('-', '_')}"
    rng = random.Random(3)
    schema = one.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    index = one.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    # Two shards (each datanode consumes one channel), two replicas (one on each querynode):
    # losing either worker host loses a part of this collection, and losing a querynode is no
    # read outage.
    one.create_collection(name, schema=schema, index_params=index, consistency_level="Strong", num_shards=2)
    killed = ""
    try:
        one.release_collection(name)
        one.load_collection(name, replica_number=2)
        base = [{"id": i, "vec": v} for i, v in enumerate(_vectors(500, rng))]
        one.insert(name, base)
        collection_id = int(one.describe_collection(name)["collection_id"])
        target = _resolve(netns_cluster, host, collection_id)
        if target.startswith(("datanode", "querynode")):
            channel = f"by-dev-dml-{collection_id}-"
            assert channel in netns_cluster.log(target), f"{target} serves no channel of the collection: a vacuous test"
        with Load(netns_cluster, name) as load:
            time.sleep(LOAD_BEFORE_S)
            killed_at = time.monotonic()
            netns_cluster.kill(target)
            killed = target
            time.sleep(LOAD_AFTER_S)
        record = load.record
        end = killed_at + LOAD_AFTER_S
        write_gap = _longest_gap(record.write_ok, killed_at, end)
        read_gap = _longest_gap(record.read_ok, killed_at, end)
        errors = "\n".join(record.errors[-5:])
        print(f"lost {host} ({target}): longest write gap {write_gap:.1f} s, read gap {read_gap:.1f} s, "
              f"{len(record.acked)} rows acknowledged, {len(record.maybe)} failed")
        assert write_gap <= RECOVERY_S, f"writes out for {write_gap:.1f} s after {target} died; last errors:\n{errors}"
        assert read_gap <= RECOVERY_S, f"reads out for {read_gap:.1f} s after {target} died; last errors:\n{errors}"
        survivor = two if target == "proxy-1" else one
        ids = _all_ids(survivor, name, max(record.acked | record.maybe | {500}))
        duplicated = len(ids) - len(set(ids))
        lost = record.acked - set(ids)
        unknown = set(ids) - record.acked - record.maybe - set(range(500))
        assert not lost, f"{len(lost)} acknowledged rows lost (of {len(record.acked)}), e.g. {sorted(lost)[:5]}"
        assert duplicated == 0, f"{duplicated} rows duplicated"
        assert not unknown, f"rows never inserted: {sorted(unknown)[:5]}"
        assert set(range(500)) <= set(ids)
    finally:
        if killed:
            netns_cluster.start(killed)
        for client in (one, two):  # through whichever proxy answers (the cluster may still be recovering)
            try:
                client.drop_collection(name)
                break
            except Exception:  # noqa: BLE001 - collections are named per test: a leftover harms no other
                continue
        for client in (one, two):
            client.close()
