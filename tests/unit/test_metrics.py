"""GetMetrics system_info over the whole MiniCluster: every role reports itself."""
from __future__ import annotations

import json

import pytest

from launcher.roles import START_ORDER
from proto.milvus import milvus_pb2
from tests.support.minicluster import MiniCluster


@pytest.fixture(scope="module")
def mini(tmp_path_factory):  # type: ignore[no-untyped-def]
    cluster = MiniCluster(tmp_path_factory.mktemp("metrics")).start()
    yield cluster
    cluster.stop()


def test_system_info_lists_every_node(mini: MiniCluster) -> None:
    response = mini.milvus().GetMetrics(milvus_pb2.GetMetricsRequest(request='{"metric_type": "system_info"}'))
    assert response.status.code == 0, response.status.reason
    answer = json.loads(response.response)
    infos = [node["infos"] for node in answer["nodes_info"]]
    assert sorted(i["type"] for i in infos) == sorted(START_ORDER)
    for info in infos:
        assert not info["has_error"], info
        hardware = info["hardware_infos"]
        assert hardware["cpu_core_count"] >= 1 and hardware["memory"] > hardware["memory_usage"] > 0
        assert info["quota_metrics"]["process_memory_rss_bytes"] > 0
        assert info["name"] == f"{info['type']}{info['id']}"
    proxy = next(n for n in answer["nodes_info"] if n["infos"]["type"] == "proxy")
    assert response.component_name == proxy["infos"]["name"]
    assert {c["type"] for c in proxy["connected"]} == set(START_ORDER) - {"proxy"}


@pytest.mark.parametrize("request_text", ['{"metric_type": "system_statistics"}', "not json", "{}", "[1]"])
def test_bad_requests_are_1100(mini: MiniCluster, request_text: str) -> None:
    response = mini.milvus().GetMetrics(milvus_pb2.GetMetricsRequest(request=request_text))
    assert response.status.code == 1100 and response.response == ""


def test_a_superseded_session_is_left_out() -> None:
    from common.session import SessionInfo
    from proxy.metrics import _current

    old = SessionInfo("rootcoord", 2, "127.0.0.1:5000", start_time_ms=100)
    new = SessionInfo("rootcoord", 9, "127.0.0.1:5000", start_time_ms=200)
    broker = SessionInfo("broker", 1, "tcp://127.0.0.1:6000", start_time_ms=50, grpc_address="127.0.0.1:6001")
    other = SessionInfo("querynode", 3, "127.0.0.1:7000", start_time_ms=10)
    assert _current([old, other, new, broker]) == [broker, other, new]
