"""Configuration: documented defaults, a YAML file, then MILVUSPY_* environment variables."""
from __future__ import annotations

import pytest

from common.config import load_config
from common.errors import ParameterInvalid


def test_defaults_file_then_env(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert load_config(environ={}).get("proxy", "port") == 19530
    path = tmp_path / "c.yaml"
    path.write_text("proxy:\n  port: 19600\nstorage:\n  minio_secure: true\n")
    config = load_config(path, environ={"MILVUSPY_PROXY_PORT": "19700", "MILVUSPY_COMMON_HEARTBEAT_INTERVAL_S": "0.5"})
    assert config.get("proxy", "port") == 19700
    assert config.get("storage", "minio_secure") is True
    assert config.get("common", "heartbeat_interval_s") == 0.5


@pytest.mark.parametrize("text", ["proxy:\n  portt: 1\n", "nosuch:\n  a: 1\n", "proxy:\n  port: abc\n",
                                  "storage:\n  minio_secure: maybe\n"])
def test_unknown_keys_and_bad_types_are_rejected(tmp_path, text: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ParameterInvalid):
        load_config(path, environ={})


def test_overrides_are_checked_too() -> None:
    config = load_config(environ={})
    assert config.with_overrides({"etcd": {"endpoints": "a:1"}}).get("etcd", "endpoints") == "a:1"
    with pytest.raises(ParameterInvalid):
        config.with_overrides({"etcd": {"nope": 1}})
