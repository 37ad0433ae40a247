"""Static checks of the deployment files (docker-compose.yml, deploy/): no Docker, no network.

The full schema validation of docker-compose.yml is scripts/check_deploy.sh (the real Compose
binary); these tests check what Compose cannot know: that the services run our roles and that
every ``MILVUSPY_*`` variable names a real key of common/config.yaml.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from common.config import load_config
from launcher.roles import ROLE_MODULES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
EXAMPLE_CONFIG = ROOT / "deploy" / "milvus-py.yaml"
CONFIG_DEFAULTS = ROOT / "common" / "config.yaml"

# Variables docker-compose.yml may set before their config key is in common/config.yaml:
# containers must bind 0.0.0.0 and register a reachable address in etcd. A listed name whose
# key exists is checked like every other one, so an entry can be dropped once its key is
# committed.
# Roles that may run as several replicas (`docker compose up --scale querynode=3`).
SCALABLE_ROLES = {"datanode", "querynode", "indexnode"}

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


def _role_services() -> dict[str, list[str]]:
    """role -> names of the services running ``milvus-py run <role>``."""
    found: dict[str, list[str]] = {}
    for name, service in _services().items():
        command = service.get("command")
        if isinstance(command, list) and len(command) >= 2 and command[0] == "run":
            found.setdefault(command[1], []).append(name)
    return found


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
            assert _environment(service).get("MILVUSPY_ETCD_ENDPOINTS") == "etcd:2379", name
            assert _environment(service).get("MILVUSPY_STORAGE_TYPE") == "minio", name


def test_milvuspy_variables_name_real_config_keys():
    keys = _config_keys()
    text = COMPOSE_FILE.read_text() + DOCKERFILE.read_text()
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
            assert config.get("etcd", "endpoints") == "etcd:2379", name


def test_fixed_ports_and_broker():
    services = _services()
    broker_env = _environment(services["broker"])
    bind = broker_env["MILVUSPY_BROKER_BIND"]
    assert re.fullmatch(r"tcp://0\.0\.0\.0:[1-9][0-9]*", bind), "the broker needs a fixed port on all interfaces"
    data_dir = broker_env["MILVUSPY_BROKER_DATA_DIR"]
    targets = [v["target"] if isinstance(v, dict) else str(v).split(":")[1]
               for v in services["broker"].get("volumes", [])]
    assert data_dir in targets, \
        "the broker's data dir must be a volume"
    assert "broker-data" in (_compose().get("volumes") or {})


def test_proxy_publishes_api_and_health_ports():
    proxy_names = _role_services()["proxy"]
    assert len(proxy_names) == 1
    proxy = _services()[proxy_names[0]]
    assert {19530, 9091} <= _container_ports(proxy)
    assert "/healthz" in " ".join(map(str, proxy["healthcheck"]["test"]))


def test_scalable_workers_have_no_fixed_names_or_host_ports():
    for role in SCALABLE_ROLES:
        for name in _role_services()[role]:
            service = _services()[name]
            assert "container_name" not in service, name
            assert not service.get("ports"), name
            assert "MILVUSPY_COMMON_ADVERTISE_HOST" not in _environment(service), \
                f"{name}: replicas share the service name, each must advertise its own address"


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
    assert services["etcd"]["image"].startswith("quay.io/coreos/etcd:v3.5.")
    assert "--max-txn-ops=10000" in services["etcd"]["command"]
    assert services["minio"]["image"].startswith("minio/minio:")
    assert "mc mb" in " ".join(services["createbuckets"]["command"])


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
    assert config.get("etcd", "endpoints") == "etcd:2379"
