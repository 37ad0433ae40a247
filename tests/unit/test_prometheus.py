"""Prometheus metrics: the registry's text format (Milvus's names, no ``_total``), and every
role's /metrics and /healthz in a running MiniCluster, checked against what was done to it."""
from __future__ import annotations

import math
import urllib.error
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.metrics import LATENCY_BUCKETS_MS, MetricsRegistry
from proto.milvus import milvus_pb2
from tests.support.mini_requests import DIM, count_rows, create_collection, insert, ok, search_ids, wait_until
from tests.support.minicluster import MiniCluster


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) -> value, parsed by prometheus_client's own parser (so the text
    must be valid exposition format)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none). The parser
    names a counter's samples ``<name>_total`` whatever the text says."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples(text).items() if n in (name, f"{name}_total") and wanted <= set(ls))


def test_counter_is_exposed_under_its_milvus_name_with_node_id() -> None:
    registry = MetricsRegistry(7)
    count = registry.counter("milvus_proxy_req_count", "count of operation executed", ("function_name", "status"))
    count.inc("Search", "success")
    count.inc("Search", "success", amount=2)
    count.inc('we"ird\\name\n', "fail")
    text = registry.render().decode()
    assert "# TYPE milvus_proxy_req_count counter" in text
    assert 'milvus_proxy_req_count{node_id="7",function_name="Search",status="success"} 3.0' in text
    assert "milvus_proxy_req_count_total" not in text
    assert value(text, "milvus_proxy_req_count", function_name='we"ird\\name\n', status="fail") == 1
    with pytest.raises(ValueError):
        count.inc("Search")  # one label short
    with pytest.raises(ValueError):
        count.inc("Search", "success", amount=-1)
    with pytest.raises(ValueError):
        registry.counter("milvus_proxy_req_count", "again")


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    registry = MetricsRegistry(1)
    latency = registry.histogram("milvus_proxy_req_latency", "latency of each request", ("function_name",))
    for ms in (0.5, 1.0, 3.0, 200_000.0):
        latency.observe(ms, "Insert")
    text = registry.render().decode()
    assert value(text, "milvus_proxy_req_latency_bucket", function_name="Insert", le="1.0") == 2
    assert value(text, "milvus_proxy_req_latency_bucket", function_name="Insert", le="4.0") == 3
    assert value(text, "milvus_proxy_req_latency_bucket", function_name="Insert", le=str(LATENCY_BUCKETS_MS[-1])) == 3
    assert value(text, "milvus_proxy_req_latency_bucket", function_name="Insert", le="+Inf") == 4
    assert value(text, "milvus_proxy_req_latency_count", function_name="Insert") == 4
    assert math.isclose(value(text, "milvus_proxy_req_latency_sum", function_name="Insert"), 200_004.5)
    assert latency.count("Insert") == 4


def test_gauge_source_is_read_at_scrape_and_a_failing_one_is_left_out() -> None:
    registry = MetricsRegistry(3)
    rows = [5]
    registry.gauge_source("milvus_querynode_entity_num", "entities", ("collection_id",),
                          lambda: [(("42",), rows[0])])

    def broken() -> list[tuple[tuple[str, ...], float]]:
        raise RuntimeError("source failed")

    registry.gauge_source("milvus_querynode_segment_num", "segments", ("collection_id",), broken)
    assert value(registry.render().decode(), "milvus_querynode_entity_num", collection_id="42") == 5
    rows[0] = 9
    text = registry.render().decode()
    assert value(text, "milvus_querynode_entity_num", collection_id="42", node_id="3") == 9
    assert "milvus_querynode_segment_num{" not in text
    assert value(text, "process_resident_memory_bytes") > 0


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def mini(tmp_path):  # type: ignore[no-untyped-def]
    cluster = MiniCluster(tmp_path).start()
    yield cluster
    cluster.stop()


def test_every_role_serves_metrics_matching_what_was_done(mini: MiniCluster) -> None:
    stub = mini.milvus()
    create_collection(stub, "c1")
    rng = np.random.default_rng(1)
    vectors = rng.random((300, DIM), dtype=np.float32)
    insert(stub, "c1", np.arange(200, dtype=np.int64), vectors[:200])
    flush = stub.Flush(milvus_pb2.FlushRequest(collection_names=["c1"]))
    ok(flush.status)
    wait_until(lambda: stub.GetFlushState(milvus_pb2.GetFlushStateRequest(
        collection_name="c1", flush_ts=flush.coll_flush_ts["c1"])).flushed)
    insert(stub, "c1", np.arange(200, 300, dtype=np.int64), vectors[200:])
    for i in range(3):
        search_ids(stub, "c1", vectors[i], 5)
    assert count_rows(stub, "c1") == 300
    bad = stub.Search(milvus_pb2.SearchRequest(collection_name="missing"))
    assert bad.status.code != 0

    servers = {s.role: s for s in mini.servers}
    for server in mini.servers:
        assert _get(server.http_port, "/healthz") == (200, "OK"), server.role

    proxy = _get(servers["proxy"].http_port, "/metrics")[1]
    assert value(proxy, "milvus_proxy_req_count", function_name="Search", status="success") == 3
    assert value(proxy, "milvus_proxy_req_count", function_name="Search", status="fail") == 1
    assert value(proxy, "milvus_proxy_req_count", function_name="Search", status="total") == 4
    assert value(proxy, "milvus_proxy_insert_vectors_count") == 300
    assert value(proxy, "milvus_proxy_search_vectors_count") == 3
    assert value(proxy, "milvus_proxy_sq_latency_count", query_type="search") == 3
    assert value(proxy, "milvus_proxy_sq_latency_count", query_type="query") == 1
    assert value(proxy, "milvus_proxy_mutation_latency_count", msg_type="insert") == 2

    def querynode_rows() -> tuple[float, float]:  # the flushed segment replaces its growing rows once loaded
        text = _get(servers["querynode"].http_port, "/metrics")[1]
        return (value(text, "milvus_querynode_entity_num", segment_state="Sealed"),
                value(text, "milvus_querynode_entity_num", segment_state="Growing"))

    wait_until(lambda: querynode_rows() == (200, 100))
    querynode = _get(servers["querynode"].http_port, "/metrics")[1]
    assert value(querynode, "milvus_querynode_segment_num", segment_state="Sealed") >= 1
    assert value(querynode, "milvus_querynode_entity_size", segment_state="Sealed") >= 200 * DIM * 4
    assert value(querynode, "milvus_querynode_sq_req_count", query_type="search", status="success") == 3
    assert value(querynode, "milvus_querynode_consume_backlog") == 0

    datacoord = _get(servers["datacoord"].http_port, "/metrics")[1]
    assert value(datacoord, "milvus_datacoord_segment_num", segment_state="Flushed") >= 1
    assert value(datacoord, "milvus_datacoord_stored_rows_num") == 200
    wait_until(lambda: value(_get(servers["datanode"].http_port, "/metrics")[1],
                             "milvus_datanode_consume_backlog") == 0)
    datanode = _get(servers["datanode"].http_port, "/metrics")[1]
    assert value(datanode, "milvus_datanode_flowgraph_num") == 1
    assert value(_get(servers["rootcoord"].http_port, "/metrics")[1], "milvus_rootcoord_collection_num") == 1
    querycoord = _get(servers["querycoord"].http_port, "/metrics")[1]
    assert value(querycoord, "milvus_querycoord_collection_num") == 1
    assert value(querycoord, "milvus_querycoord_querynode_num") == 1


def test_healthz_reports_a_role_that_lost_the_log(mini: MiniCluster) -> None:
    stub = mini.milvus()
    create_collection(stub, "c1")
    insert(stub, "c1", np.arange(3, dtype=np.int64), np.zeros((3, DIM), dtype=np.float32))
    proxy = next(s for s in mini.servers if s.role == "proxy")
    assert _get(proxy.http_port, "/healthz") == (200, "OK")
    next(s for s in mini.servers if s.role == "broker").stop()

    answers: list[tuple[int, str]] = []

    def proxy_says_log_unreachable() -> bool:  # first "has not answered", then the log's error
        answers.append(_get(proxy.http_port, "/healthz"))
        return answers[-1][0] == 503 and "the log is unreachable" in answers[-1][1]

    wait_until(proxy_says_log_unreachable, timeout_s=30)
    assert any(code == 503 and "has not answered" in body for code, body in answers)
    rootcoord = next(s for s in mini.servers if s.role == "rootcoord")
    assert _get(rootcoord.http_port, "/healthz") == (200, "OK")  # it does not use the log


class _Log:
    """A stand-in log whose end_offset blocks until released, then raises or answers."""

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()
        self.fail = False
        self.calls = 0

    def end_offset(self, channel: str) -> int:
        from common.errors import MqFailed

        self.calls += 1
        self.release.wait(5)
        if self.fail:
            raise MqFailed("broker down")
        return 0


def test_log_probe_never_blocks_and_checks_at_most_once_per_interval() -> None:
    import time

    from common.health import LogProbe

    log = _Log()
    probe = LogProbe(log, interval_s=0.3)  # type: ignore[arg-type]
    started = time.monotonic()
    assert probe.problem() is None  # the first check is young
    assert time.monotonic() - started < 0.2
    wait_until(lambda: probe.problem() is not None, timeout_s=3)
    assert "has not answered" in str(probe.problem())
    log.fail = True
    log.release.set()
    wait_until(lambda: "unreachable: broker down" in str(probe.problem()), timeout_s=3)
    log.fail = False
    wait_until(lambda: probe.problem() is None, timeout_s=3)
    calls = log.calls
    for _ in range(50):
        probe.problem()
    assert log.calls <= calls + 1


def test_role_health_reports_a_session_etcd_stopped_renewing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from common.health import role_health
    from common.kv.etcd import EtcdKV
    from common.session import Session
    from launcher.embedded_etcd import EmbeddedEtcd

    etcd = EmbeddedEtcd(tmp_path / "etcd", unsafe_no_fsync=True).start()
    kv = EtcdKV(etcd.endpoint, root_path="health", timeout_s=1.0, retry_window_s=0.5)
    session = Session(kv, "querynode", 5, "127.0.0.1:1", ttl_s=2)
    try:
        assert role_health(lambda: True, lambda: session.alive, lambda: None) is not None  # not registered yet
        session.register()
        assert role_health(lambda: True, lambda: session.alive, lambda: None) is None
        assert role_health(lambda: False, lambda: session.alive, lambda: None) == "the role is not running"
        etcd.kill()
        wait_until(lambda: not session.alive, timeout_s=10)
        assert "etcd has not renewed" in str(role_health(lambda: True, lambda: session.alive, lambda: None))
    finally:
        session.stop(revoke=False)
        kv.close()
        etcd.stop()


def test_grafana_dashboard_queries_only_metrics_the_roles_define() -> None:
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    dashboard = json.loads((root / "deploy/grafana/milvus-py-dashboard.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\bmilvus_[a-z_]+", target["expr"])}
    defined: set[str] = set()
    for source in root.glob("[cnp]*/**/*.py"):
        defined.update(re.findall(r'"(milvus_[a-z_]+)"', source.read_text()))
    defined.update(f"milvus_proxy_{kind}_vectors_count" for kind in ("insert", "upsert", "delete"))
    suffixes = ("_bucket", "_sum", "_count")
    missing = {name for name in queried
               if name not in defined and not any(name.endswith(s) and name[:-len(s)] in defined for s in suffixes)}
    assert queried and not missing, missing
