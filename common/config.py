"""Typed configuration: the documented defaults in ``config.yaml``, then a YAML file, then
environment variables ``MILVUSPY_<SECTION>_<KEY>``.

``load_config`` returns a ``Config`` that is passed explicitly to every component (no global).
Values keep the type of their default; an unknown section or key is an error, so a typo in a
config file never passes silently.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from common.errors import ParameterInvalid

_DEFAULTS_FILE = Path(__file__).with_name("config.yaml")
ENV_PREFIX = "MILVUSPY_"


class Config:
    """Read-only view of the merged configuration: ``cfg.get("proxy", "port")``."""

    def __init__(self, values: Mapping[str, Mapping[str, Any]]) -> None:
        self._values = {section: dict(keys) for section, keys in values.items()}

    def get(self, section: str, key: str) -> Any:
        """The value of ``section.key``. Raises KeyError for a key that is not documented."""
        return self._values[section][key]

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> "Config":
        """A copy with ``overrides`` applied (same checks and coercion as a config file)."""
        merged = copy.deepcopy(self._values)
        _apply(merged, overrides, "override")
        return Config(merged)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self._values)

    def data_dir(self) -> Path:
        """The absolute directory for local state (``common.data_dir``)."""
        return Path(self.get("common", "data_dir")).resolve()


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Defaults, then the YAML file at ``path`` (if any), then ``MILVUSPY_*`` variables.

    Raises ParameterInvalid for an unknown section/key or a value of the wrong type.
    """
    values: dict[str, dict[str, Any]] = yaml.safe_load(_DEFAULTS_FILE.read_text())
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, Mapping):
            raise ParameterInvalid(f"config file {path}: expected a mapping of sections")
        _apply(values, loaded, f"config file {path}")
    env = os.environ if environ is None else environ
    for section, keys in values.items():
        for key in keys:
            name = f"{ENV_PREFIX}{section}_{key}".upper()
            if name in env:
                keys[key] = _coerce(env[name], keys[key], name)
    return Config(values)


def _coerce(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ParameterInvalid(f"config {where}: expected a boolean, got {value!r}")
    if isinstance(default, (int, float)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParameterInvalid(f"config {where}: expected a number, got {value!r}") from None
        if isinstance(default, int):
            if number != int(number):
                raise ParameterInvalid(f"config {where}: expected an integer, got {value!r}")
            return int(number)
        return number
    if isinstance(value, list):  # a YAML list for a comma-separated key (etcd.endpoints: [a:1, b:2])
        return ",".join(str(item) for item in value)
    return "" if value is None else str(value)


def _apply(target: dict[str, dict[str, Any]], updates: Mapping[str, Any], origin: str) -> None:
    for section, keys in updates.items():
        if section not in target:
            raise ParameterInvalid(f"{origin}: unknown config section {section!r}")
        if not isinstance(keys, Mapping):
            raise ParameterInvalid(f"{origin}: section {section!r} must be a mapping")
        for key, value in keys.items():
            if key not in target[section]:
                raise ParameterInvalid(f"{origin}: unknown config key {section}.{key}")
            target[section][key] = _coerce(value, target[section][key], f"{section}.{key}")
