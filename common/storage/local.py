"""``LocalStorage``: ``ObjectStorage`` on a local directory.

A put writes a temp file under ``{root}/.tmp``, fsyncs it, renames it over the target and fsyncs
the directory, so a reader sees the old object or the new one, never a partial one, and a crash
leaves at most an orphan temp file. Keys map to paths under the root, so a key cannot also be
a "directory" of other keys (``a`` and ``a/b``) as it can on S3; that raises ``IoFailed``.
Keys whose first segment is ``.tmp`` are reserved.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from common.errors import IoFailed, IoKeyNotFound, ParameterInvalid
from common.storage.base import ObjectStorage, check_key

_TMP = ".tmp"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage(ObjectStorage):
    """Objects as files under ``root_dir`` (created if missing)."""

    def __init__(self, root_dir: Path | str) -> None:
        self.root = Path(root_dir).resolve()
        self._tmp_dir = self.root / _TMP
        try:
            self._tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IoFailed(f"cannot create storage root[root={self.root}]: {exc}") from exc

    def _path(self, key: str) -> Path:
        check_key(key)
        if key.split("/", 1)[0] == _TMP:
            raise ParameterInvalid(f"reserved object key[key={key!r}]")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        for attempt in range(3):
            tmp = None
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self._tmp_dir, prefix=path.name[:50] + ".")
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
                tmp = None
                _fsync_dir(path.parent)
                return
            except FileNotFoundError as exc:  # a concurrent remove pruned the parent: retry
                if attempt == 2:
                    raise IoFailed(f"put failed[key={key}]: {exc}") from exc
            except OSError as exc:
                raise IoFailed(f"put failed[key={key}, root={self.root}]: {exc}") from exc
            finally:
                if tmp is not None:
                    try:
                        os.unlink(tmp)
                    except OSError:
                        pass

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise IoKeyNotFound(f"object not found[key={key}]") from exc
        except OSError as exc:
            raise IoFailed(f"get failed[key={key}, root={self.root}]: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            if not path.is_file():
                raise IoKeyNotFound(f"object not found[key={key}]")
            return path.stat().st_size
        except FileNotFoundError as exc:
            raise IoKeyNotFound(f"object not found[key={key}]") from exc
        except OSError as exc:
            raise IoFailed(f"stat failed[key={key}, root={self.root}]: {exc}") from exc

    def list(self, prefix: str = "") -> list[str]:
        if prefix.startswith("/") or ".." in prefix.split("/"):
            raise ParameterInvalid(f"invalid object prefix[prefix={prefix!r}]")
        base = prefix.rpartition("/")[0]
        start = self.root / base if base else self.root
        keys = []
        try:
            for dirpath, dirnames, filenames in os.walk(start):
                rel_dir = os.path.relpath(dirpath, self.root)
                if rel_dir == ".":
                    dirnames[:] = [d for d in dirnames if d != _TMP]
                    rel_dir = ""
                for name in filenames:
                    key = f"{rel_dir}/{name}" if rel_dir else name
                    if key.startswith(prefix):
                        keys.append(key)
        except OSError as exc:
            raise IoFailed(f"list failed[prefix={prefix}, root={self.root}]: {exc}") from exc
        return sorted(keys)

    def remove(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise IoFailed(f"remove failed[key={key}, root={self.root}]: {exc}") from exc
        parent = path.parent
        while parent != self.root:  # prune empty directories, like S3 "folders"
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
