"""``NetnsCluster``: docker-compose.yml brought up by scripts/netns_cluster.py, every service in
its own network namespace, driven from a test the way an operator would (the script's CLI).
Imports no server code (the tests that use it import pymilvus)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "netns_cluster.py"


def namespaces_unavailable() -> str | None:
    """Why this machine cannot create network namespaces, or None when it can (checked by
    creating and deleting one)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"mpyprobe{uuid.uuid4().hex[:6]}"
    try:
        created = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    except FileNotFoundError:
        return "no `ip` command (iproute2)"
    if created.returncode != 0:
        return f"`ip netns add` failed: {created.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


class NetnsCluster:
    """One run of scripts/netns_cluster.py in ``run_dir``: ``up`` with the given compose profiles,
    extra environment (for Compose's interpolation) and services; ``down`` removes everything."""

    def __init__(self, run_dir: Path, *, prefix: str, subnet: str, profiles: list[str], env: dict[str, str],
                 services: list[str]) -> None:
        self.run_dir = run_dir
        self.prefix = prefix
        self.subnet = subnet
        self.profiles = profiles
        self.env = {**os.environ, **env}
        self.services = services
        self.info: dict[str, dict[str, Any]] = {}

    def _run(self, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, str(SCRIPT), "--run-dir", str(self.run_dir)]
        for profile in self.profiles:
            argv += ["--profile", profile]
        return subprocess.run([*argv, *args], capture_output=True, text=True, env=self.env, timeout=timeout_s)

    def _check(self, *args: str, timeout_s: float = 120.0) -> str:
        result = self._run(*args, timeout_s=timeout_s)
        if result.returncode != 0:
            raise RuntimeError(f"netns_cluster.py {' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}")
        return result.stdout

    def up(self, timeout_s: float = 240.0) -> NetnsCluster:
        self._check("up", "--prefix", self.prefix, "--subnet", self.subnet, "--timeout", str(timeout_s),
                    *self.services, timeout_s=timeout_s + 60)
        self.refresh()
        return self

    def refresh(self) -> dict[str, dict[str, Any]]:
        self.info = json.loads(self._check("status", "--json"))
        return self.info

    def ip(self, service: str) -> str:
        return str(self.info[service]["ip"])

    def uri(self, service: str, port: int = 19530) -> str:
        return f"http://{self.ip(service)}:{port}"

    def kill(self, service: str) -> None:
        self._check("kill", service)

    def start(self, service: str, timeout_s: float = 120.0) -> None:
        self._check("start", "--timeout", str(timeout_s), service, timeout_s=timeout_s + 30)

    def down(self) -> str:
        result = self._run("down", timeout_s=120)
        return result.stdout + result.stderr

    def log(self, service: str) -> str:
        return Path(self.info[service]["log"]).read_text(errors="replace")
