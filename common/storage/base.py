"""The ``ObjectStorage`` interface: a flat key -> bytes store (local disk or S3/MinIO).

Keys are ``/``-separated relative paths such as ``insert_log/1/2/3/4.parquet``, relative to the
storage root (a directory, or a bucket plus root path). A put replaces the whole object, and a
reader never sees a partial object. Errors raise ``IoKeyNotFound`` (missing key) or
``IoFailed`` (anything else), never a raw OS or SDK error.
"""
from __future__ import annotations

import abc

from common.errors import ParameterInvalid


def check_key(key: str) -> str:
    """Return ``key`` when it is a valid object key, else raise ``ParameterInvalid``.

    Valid: non-empty, no leading ``/``, no empty, ``.`` or ``..`` segment, no NUL.
    """
    parts = key.split("/")
    if not key or key.startswith("/") or "\0" in key or any(p in ("", ".", "..") for p in parts):
        raise ParameterInvalid(f"invalid object key[key={key!r}]")
    return key


class ObjectStorage(abc.ABC):
    """Abstract object store; see the module docstring for the shared guarantees."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key``, replacing any previous object atomically."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """Return the object's bytes. Raises ``IoKeyNotFound`` when it does not exist."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """True when an object is stored at ``key``."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Return every key that starts with ``prefix`` (a plain string prefix, recursive), sorted."""

    @abc.abstractmethod
    def remove(self, key: str) -> None:
        """Delete the object; no error when it does not exist."""

    def remove_prefix(self, prefix: str) -> None:
        """Delete every object whose key starts with ``prefix``."""
        for key in self.list(prefix):
            self.remove(key)

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """Return the object's size in bytes. Raises ``IoKeyNotFound`` when it does not exist."""
