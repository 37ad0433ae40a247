"""GetMetrics: ``{"metric_type": "system_info"}`` answered with every live node of the cluster
(found through etcd sessions; a session a restarted process superseded is left out) and what
each reports about itself (common/node_metrics.py)."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common.errors import MilvusError, ParameterInvalid
from common.node_metrics import NodeMetricsClient, error_info
from common.session import SessionInfo, list_sessions
from common.status import success
from proto.internal import meta_pb2
from proto.milvus import milvus_pb2
from proxy.env import ProxyEnv

SYSTEM_INFO = "system_info"
NODE_TIMEOUT_S = 3.0


class MetricsTasks:
    def __init__(self, env: ProxyEnv) -> None:
        self._env = env

    def get_metrics(self, request: milvus_pb2.GetMetricsRequest) -> milvus_pb2.GetMetricsResponse:
        """The system_info topology; raises ParameterInvalid for another or a malformed request."""
        try:
            asked = json.loads(request.request or "{}")
        except ValueError:
            raise ParameterInvalid(f"GetMetrics request is not JSON: {request.request!r}") from None
        metric_type = str(asked.get("metric_type", "")) if isinstance(asked, dict) else ""
        if metric_type.lower() != SYSTEM_INFO:
            raise ParameterInvalid(f"unsupported metric type {metric_type!r}: only {SYSTEM_INFO!r} is served")
        sessions = _current(list_sessions(self._env.context.kv))
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(sessions)))) as pool:
            nodes = list(pool.map(_ask, sessions))
        me = self._env.context.node_id
        connected = [{"connected_identifier": s.server_id, "type": s.role, "target_type": s.role}
                     for s in sessions if not (s.role == "proxy" and s.server_id == me)]
        name = f"proxy{me}"
        for node in nodes:
            if node["identifier"] == me and node["infos"].get("type") == "proxy":
                node["connected"] = connected
        answer = {"nodes_info": nodes, "connections": {"name": name, "connected": connected}}
        return milvus_pb2.GetMetricsResponse(status=success(), response=json.dumps(answer), component_name=name)


def _current(sessions: list[SessionInfo]) -> list[SessionInfo]:
    """The sessions sorted by role and id, without those a restarted process superseded (same
    role and address, older start) whose lease has not expired yet."""
    newest: dict[tuple[str, str], SessionInfo] = {}
    for s in sessions:
        key = (s.role, s.grpc_address or s.address)
        if key not in newest or s.start_time_ms > newest[key].start_time_ms:
            newest[key] = s
    return sorted(newest.values(), key=lambda s: (s.role, s.server_id))


def _ask(session: SessionInfo) -> dict[str, Any]:
    address = session.grpc_address or session.address
    client = NodeMetricsClient(address, timeout_s=NODE_TIMEOUT_S)
    try:
        info: dict[str, Any] = json.loads(client.get_node_metrics(meta_pb2.Empty()).info_json)
        return info
    except (MilvusError, ValueError) as exc:
        return error_info(session.role, session.server_id, address, str(exc))
    finally:
        client.close()
