"""``milvus-py``: run one role, or a whole standalone cluster.

    milvus-py run standalone [--data-dir DIR] [--port PORT] [--config FILE] [--querynodes N] [--datanodes N]
                             [--coordinators N] [--proxies N]
    milvus-py run ROLE [--config FILE]      # ROLE: proxy, rootcoord, datacoord, querycoord,
                                            #       datanode, querynode, indexnode, broker
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from common.config import load_config
from common.errors import ParameterInvalid, ServiceNotReady
from launcher.roles import ROLE_MODULES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="milvus-py", description="A Milvus-compatible vector database.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a role or a standalone cluster")
    run.add_argument("role", choices=["standalone", *ROLE_MODULES])
    run.add_argument("--config", help="YAML config file (see common/config.yaml for every key)")
    run.add_argument("--data-dir", help="standalone: directory for all local state (default ./var)")
    run.add_argument("--port", type=int, help="standalone: the public API port (default 19530)")
    run.add_argument("--querynodes", type=int, default=1, help="standalone: number of query nodes")
    run.add_argument("--datanodes", type=int, default=1, help="standalone: number of data nodes")
    run.add_argument("--coordinators", type=int, default=1,
                     help="standalone: instances of each coordinator (one active, the others standing by)")
    run.add_argument("--proxies", type=int, default=1, help="standalone: proxies, on ports PORT, PORT+1, ...")
    return parser


def _setup_logging(level: str, role: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format=f"%(asctime)s %(levelname)s [{role}] %(name)s: %(message)s", stream=sys.stderr)


def run_role(role: str, config_path: str | None) -> int:
    """Run one role until SIGINT/SIGTERM. Returns the process exit code."""
    from common.runtime import EXIT_NO_ETCD, RoleContext, allocate_node_id, connect_kv
    from launcher.peers import GrpcPeers
    from launcher.roles import build_role

    config = load_config(config_path)
    _setup_logging(config.get("common", "log_level"), role)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        kv = connect_kv(config, stop)
    except (ServiceNotReady, ParameterInvalid) as exc:
        logging.getLogger("milvuspy").error("%s cannot start: %s", role, exc)
        return EXIT_NO_ETCD
    context = RoleContext(config, kv, allocate_node_id(kv), GrpcPeers(kv))
    server = build_role(role, context)
    server.start()
    logging.getLogger("milvuspy").info("%s %d serving at %s", role, context.node_id, server.session_address())
    stop.wait()
    server.stop()
    kv.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    for option in ("querynodes", "datanodes", "coordinators", "proxies"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1, got {getattr(args, option)}")
    if args.role == "standalone":
        from launcher.standalone import run_standalone

        config = load_config(args.config)
        _setup_logging(config.get("common", "log_level"), "standalone")
        return run_standalone(config, args.config, data_dir=args.data_dir, port=args.port,
                              querynodes=args.querynodes, datanodes=args.datanodes,
                              coordinators=args.coordinators, proxies=args.proxies)
    return run_role(args.role, args.config)


if __name__ == "__main__":
    sys.exit(main())
