"""scripts/netns_cluster.py without namespaces: how it reads docker-compose.yml (through the real
Compose binary) and what each service becomes on this machine. The cluster itself runs in
tests/netns/."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("netns_cluster", ROOT / "scripts" / "netns_cluster.py")
assert _spec and _spec.loader
nc = importlib.util.module_from_spec(_spec)
sys.modules["netns_cluster"] = nc
_spec.loader.exec_module(nc)

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def model() -> dict:
    return nc.load_model([ROOT / "docker-compose.yml"], ["zmq"])


def test_selection_pulls_in_dependencies_in_start_order(model):
    order = nc.select_services(model, ["proxy-1"])
    assert order == ["etcd-0", "etcd-1", "etcd-2", "minio", "proxy-1"]
    everything = nc.select_services(model, [])
    assert everything.index("broker") > everything.index("etcd-2")
    assert set(everything) == set(model["services"])
    with pytest.raises(nc.ClusterError, match="querynode-gpu-1"):
        nc.select_services(model, ["querynode-gpu-1"])  # its profile is off


def test_etcd_runs_the_compose_command_with_local_binaries(model, tmp_path):
    program = nc.Translator(tmp_path, ROOT).program("etcd-1", model["services"]["etcd-1"])
    assert program.argv == [str(VENV_BIN / "etcd"), "--max-txn-ops=10000"]
    assert program.env["ETCD_DATA_DIR"] == str(tmp_path / "volumes" / "etcd-1-data")
    assert program.env["ETCD_ADVERTISE_CLIENT_URLS"] == "http://etcd-1:2379"
    assert program.health == [str(VENV_BIN / "etcdctl"), "endpoint", "health"]
    assert program.dirs == [tmp_path / "volumes" / "etcd-1-data"]


def test_nats_store_dir_is_its_volume(model, tmp_path):
    program = nc.Translator(tmp_path, ROOT).program("nats-2", model["services"]["nats-2"])
    assert program.argv[0] == str(VENV_BIN / "nats-server")
    assert program.argv[program.argv.index("--store_dir") + 1] == str(tmp_path / "volumes" / "nats-2-data")
    assert program.health[-1] == "http://127.0.0.1:8222/healthz?js-enabled-only=true"
    assert "/dev/null" in program.health  # host paths stay


def test_minio_becomes_weed_mini_with_the_compose_credentials(model, tmp_path):
    service = {**model["services"]["minio"], "environment": {"MINIO_ROOT_USER": "u1", "MINIO_ROOT_PASSWORD": "p1"}}
    program = nc.Translator(tmp_path, ROOT).program("minio", service)
    assert program.argv[:3] == [str(VENV_BIN / "weed"), "mini", f"-dir={tmp_path / 'volumes' / 'minio-data'}"]
    assert "-s3.port=9000" in program.argv and "-ip=minio" in program.argv
    (config,) = program.files.values()
    assert json.loads(config)["identities"][0]["credentials"] == [{"accessKey": "u1", "secretKey": "p1"}]


def test_roles_run_this_checkout_with_the_image_env(model, tmp_path):
    translator = nc.Translator(tmp_path, ROOT)
    proxy = translator.program("proxy-2", model["services"]["proxy-2"])
    assert proxy.argv == [str(VENV_BIN / "milvus-py"), "run", "proxy"]
    assert proxy.env["MILVUSPY_COMMON_ADVERTISE_HOST"] == "proxy-2"
    assert proxy.env["MILVUSPY_COMMON_DATA_DIR"] == str(tmp_path / "services" / "proxy-2" / "fs" / "var/lib/milvus-py")
    assert proxy.cwd == tmp_path / "services" / "proxy-2" / "fs" / "var/lib/milvus-py"
    assert proxy.health[:2] == [str(VENV_BIN / "python"), "-c"]
    broker = translator.program("broker", model["services"]["broker"])
    assert broker.env["MILVUSPY_BROKER_DATA_DIR"] == str(tmp_path / "volumes" / "broker-data")


def test_an_image_without_translation_is_an_error(tmp_path):
    with pytest.raises(nc.ClusterError, match="redis"):
        nc.Translator(tmp_path, ROOT).program("cache", {"image": "redis:7", "command": ["redis-server"]})
