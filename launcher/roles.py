"""The roles a process can run, and how to build each one's RoleServer."""
from __future__ import annotations

import importlib

from common.runtime import RoleContext, RoleServer

# role -> module exposing create_server(context, host, port)
ROLE_MODULES = {
    "broker": "common.mq.role_server",
    "rootcoord": "coordinators.rootcoord.server",
    "datacoord": "coordinators.datacoord.server",
    "querycoord": "coordinators.querycoord.server",
    "datanode": "nodes.datanode.server",
    "querynode": "nodes.querynode.server",
    "indexnode": "nodes.indexnode.server",
    "proxy": "proxy.server",
}
# Start order of a standalone cluster: each role finds the ones before it through etcd.
START_ORDER = ["broker", "rootcoord", "datacoord", "querycoord", "datanode", "indexnode", "querynode", "proxy"]


def build_role(role: str, context: RoleContext) -> RoleServer:
    """The RoleServer of ``role`` on the port its config section names (0 = a free port).

    Raises KeyError for an unknown role.
    """
    module = importlib.import_module(ROLE_MODULES[role])
    server: RoleServer
    if role == "proxy":
        server = module.create_server(context)
    else:
        host = context.config.get("common", "bind_host")
        port = context.config.get(role, "port") if role != "broker" else 0
        server = module.create_server(context, host=host, port=port)
    return server
