"""What one node reports for GetMetrics ``system_info``: an entry of Milvus's ``nodes_info``
(identifier, name, type, hardware_infos, system_info, quota_metrics, timestamps), served by
the ``NodeMetrics`` service that every RoleServer adds next to its own service.

A role's logic may define ``metrics() -> dict`` (e.g. a querynode's loaded segments and
rows); it is reported under ``quota_metrics``.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import time
from datetime import datetime, timezone
from typing import Any

import psutil

from common.compute.backend import gpu_count
from common.rpc import DEFAULT_TIMEOUT_S, RpcClient
from common.status import success
from proto.internal import meta_pb2, metrics_pb2, metrics_pb2_grpc


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


def _gpu_infos() -> list[dict[str, Any]]:
    """Each usable GPU's name and memory (empty without one; never raises)."""
    if gpu_count() == 0:
        return []
    try:
        import cupy  # noqa: PLC0415 - only on GPU machines

        out = []
        for device in range(gpu_count()):
            props = cupy.cuda.runtime.getDeviceProperties(device)
            with cupy.cuda.Device(device):
                free, total = cupy.cuda.runtime.memGetInfo()
            out.append({"id": device, "name": props["name"].decode(errors="replace"),
                        "memory": int(total), "memory_usage": int(total - free)})
        return out
    except Exception:  # noqa: BLE001 - metrics must not fail for a driver hiccup
        return []


def node_info(process: psutil.Process, role: str, node_id: int, address: str, started_ms: int, data_dir: str,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ``nodes_info`` entry for ``process`` (this one), with Milvus's field names. CPU
    usage figures cover the time since the previous call with the same ``process``."""
    memory = psutil.virtual_memory()
    try:
        disk = shutil.disk_usage(data_dir)
        disk_total, disk_used = disk.total, disk.used
    except OSError:
        disk_total = disk_used = 0
    name = f"{role}{node_id}"
    quota: dict[str, Any] = {"process_memory_rss_bytes": process.memory_info().rss,
                             "process_cpu_percent": process.cpu_percent(interval=None),
                             "threads": process.num_threads()}
    quota.update(extra or {})
    return {
        "identifier": node_id,
        "connected": [],
        "infos": {
            "has_error": False,
            "error_reason": "",
            "name": name,
            "type": role,
            "id": node_id,
            "address": address,
            "hardware_infos": {
                "ip": address.rsplit(":", 1)[0].split("://")[-1],
                "cpu_core_count": psutil.cpu_count(logical=True) or 0,
                "cpu_core_usage": psutil.cpu_percent(interval=None),
                "memory": memory.total,
                "memory_usage": memory.total - memory.available,
                "disk": disk_total,
                "disk_usage": disk_used,
                "gpus": _gpu_infos(),
            },
            "system_info": {
                "system_version": platform.platform(),
                "python_version": platform.python_version(),
                "hostname": platform.node(),
                "pid": os.getpid(),
                "deploy_mode": "CLUSTER",
            },
            "created_time": _iso(started_ms),
            "updated_time": _iso(time.time() * 1000),
            "system_configurations": {},
            "quota_metrics": quota,
        },
    }


def error_info(role: str, node_id: int, address: str, reason: str) -> dict[str, Any]:
    """The ``nodes_info`` entry of a node that could not be asked."""
    return {"identifier": node_id, "connected": [],
            "infos": {"has_error": True, "error_reason": reason, "name": f"{role}{node_id}", "type": role,
                      "id": node_id, "address": address}}


SERVICE = metrics_pb2.DESCRIPTOR.services_by_name["NodeMetrics"]


class NodeMetricsService:
    """Answers GetNodeMetrics for the role ``server`` runs (a RoleServer); served by
    ``common.rpc.ProtocolService(SERVICE, ...)``."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._started_ms = int(time.time() * 1000)
        self._process = psutil.Process()
        self._process.cpu_percent(interval=None)  # the first reading only starts the measurement
        psutil.cpu_percent(interval=None)

    def get_node_metrics(self, request: meta_pb2.Empty) -> metrics_pb2.NodeMetricsResponse:
        server = self._server
        metrics = getattr(server.logic, "metrics", None)
        info = node_info(self._process, server.role, server.context.node_id, server.session_address(), self._started_ms,
                         str(server.context.config.data_dir()), metrics() if callable(metrics) else None)
        return metrics_pb2.NodeMetricsResponse(status=success(), info_json=json.dumps(info))


class NodeMetricsClient(RpcClient):
    """GetNodeMetrics of the node at ``address`` over gRPC (see ``RpcClient``)."""

    def __init__(self, address: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(metrics_pb2_grpc.NodeMetricsStub, address, timeout_s)

    def get_node_metrics(self, request: meta_pb2.Empty) -> metrics_pb2.NodeMetricsResponse:
        response: metrics_pb2.NodeMetricsResponse = self._call(lambda s: s.GetNodeMetrics, request)
        return response
