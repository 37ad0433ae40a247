"""Static checks of the deployment files (docker-compose.yml, deploy/k8s/, deploy/): no Docker.

The schema validation is scripts/check_deploy.sh (the real Compose binary, kubernetes-validate
--strict, yamllint; run here once by ``test_check_deploy_script``); these tests check what a schema
cannot know: that the services run our roles as the cluster the project promises (etcd x3, NATS x3,
two of each coordinator, ...), and that every ``MILVUSPY_*`` variable names a real key of
common/config.yaml. scripts/netns_cluster.py runs docker-compose.yml for real (tests/netns/).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from common.config import load_config
from launcher.roles import ROLE_MODULES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
EXAMPLE_CONFIG = ROOT / "deploy" / "milvus-py.yaml"
CONFIG_DEFAULTS = ROOT / "common" / "config.yaml"
K8S_DIR = ROOT / "deploy" / "k8s"
NATS_CONFIG = ROOT / "deploy" / "nats" / "nats.conf"
ETCD_MEMBERS = "etcd-0:2379,etcd-1:2379,etcd-2:2379"
# How many services of each role the production cluster runs (the profile-less services).
ROLE_COUNTS = {"rootcoord": 2, "datacoord": 2, "querycoord": 2, "proxy": 2, "datanode": 2, "querynode": 2,
               "indexnode": 1}

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def _config_keys() -> set[str]:
    defaults = yaml.safe_load(CONFIG_DEFAULTS.read_text())
    return {f"MILVUSPY_{section}_{key}".upper() for section, keys in defaults.items() for key in keys}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _services() -> dict[str, dict]:
    return _compose()["services"]


def _environment(service: dict) -> dict[str, str]:
    """The service's environment as a mapping, ${VAR:-default} replaced by its default."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): _INTERPOLATION.sub(lambda m: m.group(2) or "", "" if v is None else str(v))
            for k, v in env.items()}


def _role_services(*, with_profiles: bool = True) -> dict[str, list[str]]:
    """role -> names of the services running ``milvus-py run <role>`` (only the services without a
    profile when ``with_profiles`` is false)."""
    found: dict[str, list[str]] = {}
    for name, service in _services().items():
        command = service.get("command")
        if not with_profiles and service.get("profiles"):
            continue
        if isinstance(command, list) and len(command) >= 2 and command[0] == "run":
            found.setdefault(command[1], []).append(name)
    return found


def _k8s_documents() -> list[dict]:
    return [doc for path in sorted(K8S_DIR.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def _k8s(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in _k8s_documents() if doc["kind"] == kind}


def _container_ports(service: dict) -> set[int]:
    ports = set()
    for entry in service.get("ports") or []:
        target = entry.get("target") if isinstance(entry, dict) else str(entry).split(":")[-1].split("/")[0]
        ports.add(int(target))
    return ports


def test_every_role_has_a_service():
    roles = _role_services()
    missing = sorted(set(ROLE_MODULES) - set(roles))
    assert not missing, f"no service runs `run <role>` for: {missing}"
    unknown = sorted(set(roles) - set(ROLE_MODULES))
    assert not unknown, f"services run unknown roles: {unknown}"


def test_roles_share_one_image_built_from_the_dockerfile():
    for names in _role_services().values():
        for name in names:
            service = _services()[name]
            build = service.get("build")
            assert isinstance(build, dict) and build.get("dockerfile") == "deploy/Dockerfile", name
            assert build.get("args", {}).get("EXTRA") in ("cpu", "gpu"), name
            assert _environment(service).get("MILVUSPY_ETCD_ENDPOINTS") == ETCD_MEMBERS, name
            assert _environment(service).get("MILVUSPY_STORAGE_TYPE") == "minio", name


def test_milvuspy_variables_name_real_config_keys():
    keys = _config_keys()
    text = COMPOSE_FILE.read_text() + DOCKERFILE.read_text() + "".join(p.read_text() for p in K8S_DIR.glob("*.yaml"))
    used = set(re.findall(r"\bMILVUSPY_[A-Z0-9_]+\b", text))
    unknown = sorted(used - keys)
    assert not unknown, f"MILVUSPY_* variables that are not keys of common/config.yaml: {unknown}"


def test_service_environments_load_as_config():
    """Each role service's MILVUSPY_* values have the type of their key (e.g. ports are ints)."""
    for names in _role_services().values():
        for name in names:
            env = {k: v for k, v in _environment(_services()[name]).items()
                   if k.startswith("MILVUSPY_")}
            config = load_config(environ=env)
            assert config.get("etcd", "endpoints") == ETCD_MEMBERS, name
            assert config.get("mq", "natsmq_servers").count("nats://") == 3, name


def test_fixed_ports_and_broker():
    services = _services()
    assert services["broker"].get("profiles") == ["zmq"], "the ZeroMQ broker is the `zmq` profile's"
    broker_env = _environment(services["broker"])
    bind = broker_env["MILVUSPY_BROKER_BIND"]
    assert re.fullmatch(r"tcp://0\.0\.0\.0:[1-9][0-9]*", bind), "the broker needs a fixed port on all interfaces"
    data_dir = broker_env["MILVUSPY_BROKER_DATA_DIR"]
    targets = [v["target"] if isinstance(v, dict) else str(v).split(":")[1]
               for v in services["broker"].get("volumes", [])]
    assert data_dir in targets, \
        "the broker's data dir must be a volume"
    assert "broker-data" in (_compose().get("volumes") or {})


def test_production_cluster_shape():
    """Two of each coordinator and proxy, two data and query nodes, an indexnode (no profile)."""
    counts = {role: len(names) for role, names in _role_services(with_profiles=False).items()}
    assert counts == ROLE_COUNTS


def test_proxies_publish_api_and_health_ports():
    host_ports = set()
    for name in _role_services(with_profiles=False)["proxy"]:
        proxy = _services()[name]
        assert {19530, 9091} <= _container_ports(proxy), name
        assert _environment(proxy)["MILVUSPY_PROXY_HTTP_PORT"] == "9091", name
        host_ports |= {str(p).split(":")[0] for p in proxy["ports"]}
    assert len(host_ports) == 4, "each proxy needs its own host ports"


def test_every_role_is_health_checked_on_healthz():
    """Every role serves /healthz on 9091 (common.http_port; the proxies' proxy.http_port), and its
    compose health check asks that."""
    for names in _role_services().values():
        for name in names:
            service = _services()[name]
            assert _environment(service)["MILVUSPY_COMMON_HTTP_PORT"] == "9091", name
            assert "http://127.0.0.1:9091/healthz" in " ".join(map(str, service["healthcheck"]["test"])), name


def test_every_role_service_is_its_own_host():
    """Each service publishes its own name in etcd (services are separate machines), binds all
    interfaces, and has no container_name (Compose names it)."""
    for names in _role_services().values():
        for name in names:
            service = _services()[name]
            env = _environment(service)
            assert env["MILVUSPY_COMMON_ADVERTISE_HOST"] == name, name
            assert env["MILVUSPY_COMMON_BIND_HOST"] == "0.0.0.0", name
            assert "container_name" not in service, name


def test_etcd_is_a_three_member_cluster():
    services = _services()
    members = [f"etcd-{i}" for i in range(3)]
    for name in members:
        env = _environment(services[name])
        assert env["ETCD_NAME"] == name
        assert env["ETCD_INITIAL_CLUSTER"] == ",".join(f"{m}=http://{m}:2380" for m in members)
        assert env["ETCD_ADVERTISE_CLIENT_URLS"] == f"http://{name}:2379"
        assert env["ETCD_DATA_DIR"] in [v["target"] if isinstance(v, dict) else v.split(":")[1]
                                        for v in services[name]["volumes"]], "etcd data must be a volume"
        assert "etcdctl" in services[name]["healthcheck"]["test"]
    for names in _role_services().values():
        depends = _services()[names[0]]["depends_on"]
        assert all(depends[m]["condition"] == "service_healthy" for m in members)


def test_nats_is_a_three_server_jetstream_cluster():
    services = _services()
    routes = "nats://nats-0:6222,nats://nats-1:6222,nats://nats-2:6222"
    for i in range(3):
        command = services[f"nats-{i}"]["command"]
        assert command[0] == "nats-server" and "--jetstream" in command
        assert command[command.index("--routes") + 1] == routes
        assert command[command.index("--server_name") + 1] == f"nats-{i}"
        assert command[command.index("--store_dir") + 1] == "/data"
        assert command[command.index("--config") + 1] == "/etc/nats/nats.conf"
        assert services[f"nats-{i}"]["volumes"] == [f"nats-{i}-data:/data",
                                                    "./deploy/nats/nats.conf:/etc/nats/nats.conf:ro"]
        assert "js-enabled-only" in " ".join(services[f"nats-{i}"]["healthcheck"]["test"])
    assert _environment(_services()["proxy-1"])["MILVUSPY_MQ_NATSMQ_REPLICAS"] == "3"


def test_nats_config_file():
    """Payloads up to 64 MiB (the default, 1 MiB, fails large inserts), fsync before every ack;
    the k8s ConfigMap carries the same file."""
    text = NATS_CONFIG.read_text()
    assert re.search(r"^max_payload: 67108864$", text, re.M)
    assert re.search(r"^jetstream \{[^}]*sync_interval: always", text, re.M)
    assert _k8s("ConfigMap")["nats-config"]["data"]["nats.conf"] == text
    container = _k8s("StatefulSet")["nats"]["spec"]["template"]["spec"]["containers"][0]
    assert "--config=/etc/nats/nats.conf" in container["command"]
    assert {"name": "config", "mountPath": "/etc/nats", "readOnly": True} in container["volumeMounts"]


def test_gpu_querynode_is_a_profile_with_an_nvidia_device():
    gpu = [n for n in _role_services()["querynode"] if "gpu" in (_services()[n].get("profiles") or [])]
    assert gpu, "no querynode service under the `gpu` profile"
    service = _services()[gpu[0]]
    assert service["build"]["args"]["EXTRA"] == "gpu"
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    for name in _role_services()["querynode"]:
        if name not in gpu:
            assert not _services()[name].get("profiles"), "the CPU querynode must run without a profile"


def test_etcd_and_minio():
    services = _services()
    assert services["etcd-0"]["image"].startswith("quay.io/coreos/etcd:v3.5.")
    assert "--max-txn-ops=10000" in services["etcd-0"]["command"]
    assert services["minio"]["image"].startswith("minio/minio:")
    assert services["minio"]["volumes"] == ["minio-data:/data"]


def test_dockerfile():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.M)
    assert re.search(r"^ARG EXTRA=cpu$", text, re.M)
    assert 'pip install ".[${EXTRA}]"' in text
    assert 'ENTRYPOINT ["milvus-py"]' in text
    assert 'CMD ["run", "standalone"]' in text
    assert re.search(r"^EXPOSE 19530 9091$", text, re.M)


def test_example_config_loads():
    config = load_config(EXAMPLE_CONFIG, environ={})
    assert config.get("storage", "type") == "minio"
    assert config.get("etcd", "endpoints") == ETCD_MEMBERS
    assert config.get("mq", "type") == "natsmq"


def test_k8s_stateful_parts_and_roles():
    """StatefulSets for etcd (3), NATS (3), MinIO; a Deployment per role with the compose file's
    replica counts; probes and resource requests on every container; a querynode HPA."""
    statefulsets = _k8s("StatefulSet")
    assert {name: s["spec"]["replicas"] for name, s in statefulsets.items()} == {"etcd": 3, "nats": 3, "minio": 1}
    deployments = _k8s("Deployment")
    assert {name.removeprefix("milvus-py-"): d["spec"]["replicas"] for name, d in deployments.items()} == ROLE_COUNTS
    for name, workload in {**statefulsets, **deployments}.items():
        assert workload["spec"]["selector"]["matchLabels"].items() <= workload["spec"]["template"]["metadata"][
            "labels"].items(), name
        for container in workload["spec"]["template"]["spec"]["containers"]:
            assert "readinessProbe" in container and "livenessProbe" in container, name
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["run", name.removeprefix("milvus-py-")]
        advertise = [e for e in container["env"] if e["name"] == "MILVUSPY_COMMON_ADVERTISE_HOST"]
        assert advertise[0]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP", name
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, (name, probe)
        assert {"name": "http", "containerPort": 9091} in container["ports"], name
    hpa = _k8s("HorizontalPodAutoscaler")["milvus-py-querynode"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "milvus-py-querynode"
    services = _k8s("Service")
    assert services["milvus-py"]["spec"]["selector"] == {"app.kubernetes.io/name": "milvus-py-proxy"}
    assert services["etcd-headless"]["spec"]["clusterIP"] == "None"


def test_k8s_env_loads_as_config():
    env = dict(_k8s("ConfigMap")["milvus-py-env"]["data"])
    config = load_config(environ=env)
    assert config.get("etcd", "endpoints").count(",") == 2
    assert config.get("mq", "natsmq_replicas") == 3
    assert config.get("common", "http_port") == 9091


def test_kubernetes_validate_rejects_a_bad_manifest(tmp_path):
    """The validator check_deploy.sh runs is live: a misspelt field fails it."""
    deployment = _k8s("Deployment")["milvus-py-proxy"]
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPrt"] = 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(deployment))
    validator = Path(sys.executable).with_name("kubernetes-validate")
    good = subprocess.run([str(validator), "--quiet", "--strict", "-k", "1.30.0", *sorted(K8S_DIR.glob("*.yaml"))],
                          capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    result = subprocess.run([str(validator), "--quiet", "--strict", "-k", "1.30.0", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "containerPrt" in result.stdout + result.stderr


def test_check_deploy_script():
    """Compose config -q (three profile sets), kubernetes-validate --strict and yamllint, offline
    (the tools' venv is created on the first run, from the package index)."""
    result = subprocess.run([str(ROOT / "scripts" / "check_deploy.sh")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
