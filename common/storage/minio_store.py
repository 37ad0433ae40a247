"""``MinioStorage``: ``ObjectStorage`` on S3-compatible servers (MinIO, SeaweedFS, AWS) via the
``minio`` SDK. Objects live at ``{bucket}/{root_path}/{key}``; the bucket is created if missing.
S3 PUT is atomic, so readers never see partial objects.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from typing import TypeVar

import certifi
import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from common.errors import IoFailed, IoKeyNotFound, ParameterInvalid
from common.storage.base import ObjectStorage, check_key

T = TypeVar("T")
_MISSING = ("NoSuchKey", "NoSuchObject", "NotFound")
_ERRORS = (MinioException, urllib3.exceptions.HTTPError, OSError)


class MinioStorage(ObjectStorage):
    """S3 objects under ``bucket``/``root_path``. The constructor checks/creates the bucket."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str,
                 root_path: str = "files", secure: bool = False, *,
                 connect_timeout_s: float = 5.0, read_timeout_s: float = 120.0) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.root_path = root_path.strip("/")
        self._root_prefix = f"{self.root_path}/" if self.root_path else ""
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
            maxsize=16, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
            retries=urllib3.Retry(total=3, backoff_factor=0.2,
                                  status_forcelist=[500, 502, 503, 504]))
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key,
                            secure=secure, http_client=http)
        self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        try:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise IoFailed(self._message("make_bucket", self.bucket, exc)) from exc
        except ValueError as exc:  # the SDK's bucket-name check
            raise ParameterInvalid(f"invalid bucket name[bucket={self.bucket!r}]: {exc}") from exc
        except _ERRORS as exc:
            raise IoFailed(self._message("make_bucket", self.bucket, exc)) from exc

    def _name(self, key: str) -> str:
        return self._root_prefix + check_key(key)

    def _message(self, what: str, key: str, exc: BaseException) -> str:
        detail = f"{exc.code}: {exc.message}" if isinstance(exc, S3Error) else str(exc)
        return f"s3 {what} failed[key={key}, bucket={self.bucket}, endpoint={self.endpoint}]: {detail}"

    def _call(self, what: str, key: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except S3Error as exc:
            if exc.code in _MISSING:
                raise IoKeyNotFound(f"object not found[key={key}, bucket={self.bucket}]") from exc
            raise IoFailed(self._message(what, key, exc)) from exc
        except _ERRORS as exc:
            raise IoFailed(self._message(what, key, exc)) from exc

    def put(self, key: str, data: bytes) -> None:
        name = self._name(key)
        self._call("put", key, lambda: self.client.put_object(
            self.bucket, name, io.BytesIO(data), len(data)))

    def get(self, key: str) -> bytes:
        name = self._name(key)

        def read() -> bytes:
            resp = self.client.get_object(self.bucket, name)
            try:
                return resp.read()
            finally:
                resp.close()
                resp.release_conn()

        return self._call("get", key, read)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
            return True
        except IoKeyNotFound:
            return False

    def size(self, key: str) -> int:
        name = self._name(key)
        stat = self._call("stat", key, lambda: self.client.stat_object(self.bucket, name))
        return int(stat.size or 0)

    def list(self, prefix: str = "") -> list[str]:
        full = self._root_prefix + prefix

        def names() -> list[str]:
            objects = self.client.list_objects(self.bucket, prefix=full, recursive=True)
            return [o.object_name for o in objects if o.object_name and not o.is_dir]

        cut = len(self._root_prefix)
        return sorted(name[cut:] for name in self._call("list", prefix, names))

    def remove(self, key: str) -> None:
        name = self._name(key)
        try:
            self._call("remove", key, lambda: self.client.remove_object(self.bucket, name))
        except IoKeyNotFound:
            pass

    def remove_prefix(self, prefix: str) -> None:
        keys = self.list(prefix)
        if not keys:
            return

        def remove_all() -> list[str]:
            objects = (DeleteObject(self._root_prefix + k) for k in keys)
            return [f"{e.name}: {e.code}" for e in self.client.remove_objects(self.bucket, objects)]

        errors = self._call("remove_prefix", prefix, remove_all)
        if errors:
            raise IoFailed(f"s3 remove_prefix failed[prefix={prefix}, bucket={self.bucket}]: "
                           f"{'; '.join(errors[:5])}")
