"""ObjectStorage contract tests, run against LocalStorage and MinioStorage on SeaweedFS."""
from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from common.errors import IoFailed, IoKeyNotFound, ParameterInvalid
from common.net import free_port
from common.storage import LocalStorage, ObjectStorage
from common.storage.minio_store import MinioStorage

BUCKET = "unit-tests"
StorageFactory = Callable[[str], ObjectStorage]


@pytest.fixture(params=["local", "minio"])
def storage_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StorageFactory:
    """make(root) -> a storage with that root on one backend (one directory / one bucket)."""
    if request.param == "local":
        return lambda root: LocalStorage(tmp_path / root)
    server = request.getfixturevalue("s3_server")
    base = f"t-{uuid.uuid4().hex[:8]}"
    return lambda root: MinioStorage(server.endpoint, server.access_key, server.secret_key,
                                     BUCKET, root_path=f"{base}/{root}")


@pytest.fixture
def storage(storage_factory: StorageFactory) -> ObjectStorage:
    return storage_factory("files")


def test_put_get_exists_size(storage: ObjectStorage) -> None:
    assert not storage.exists("a/b.bin")
    storage.put("a/b.bin", b"hello")
    assert storage.exists("a/b.bin")
    assert storage.get("a/b.bin") == b"hello"
    assert storage.size("a/b.bin") == 5
    assert not storage.exists("a")  # a "directory" is not an object


def test_missing_key(storage: ObjectStorage) -> None:
    with pytest.raises(IoKeyNotFound, match="missing/key"):
        storage.get("missing/key")
    with pytest.raises(IoKeyNotFound):
        storage.size("missing/key")
    storage.remove("missing/key")  # no error
    storage.remove_prefix("missing/")


def test_overwrite(storage: ObjectStorage) -> None:
    storage.put("k", b"first version, long")
    storage.put("k", b"second")
    assert storage.get("k") == b"second"
    assert storage.size("k") == 6
    assert storage.list("") == ["k"]


def test_empty_and_large_objects(storage: ObjectStorage) -> None:
    storage.put("empty", b"")
    assert storage.get("empty") == b"" and storage.size("empty") == 0
    assert storage.exists("empty")
    big = os.urandom(8 * 1024 * 1024)
    storage.put("big/blob", big)
    assert storage.size("big/blob") == len(big)
    assert storage.get("big/blob") == big


def test_list_prefix_recursive_sorted(storage: ObjectStorage) -> None:
    keys = ["insert_log/1/2/10.parquet", "insert_log/1/2/9.parquet", "insert_log/1/3/1.parquet",
            "insert_log/12/1/1.parquet", "delta_log/1/x", "top"]
    for key in reversed(keys):
        storage.put(key, key.encode())
    assert storage.list("") == sorted(keys)
    assert storage.list("insert_log/1/") == ["insert_log/1/2/10.parquet",
                                             "insert_log/1/2/9.parquet", "insert_log/1/3/1.parquet"]
    assert storage.list("insert_log/1") == sorted(k for k in keys if k.startswith("insert_log/1"))
    assert storage.list("insert_log/1/2/1") == ["insert_log/1/2/10.parquet"]
    assert storage.list("nothing/") == []


def test_remove_and_remove_prefix(storage: ObjectStorage) -> None:
    for key in ["a/1", "a/2", "a/b/3", "ab/4", "c"]:
        storage.put(key, b"x")
    storage.remove("c")
    assert not storage.exists("c")
    storage.remove_prefix("a/")
    assert storage.list("") == ["ab/4"]
    storage.put("a/1", b"again")  # the pruned "directory" can be written again
    assert storage.get("a/1") == b"again"


def test_root_isolation(storage_factory: StorageFactory) -> None:
    one, two = storage_factory("one"), storage_factory("one2")
    one.put("k", b"1")
    two.put("k", b"2")
    assert one.list("") == ["k"] and one.get("k") == b"1"
    two.remove_prefix("")
    assert one.get("k") == b"1" and two.list("") == []


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "./a", "a/"])
def test_invalid_keys(storage: ObjectStorage, key: str) -> None:
    with pytest.raises(ParameterInvalid):
        storage.put(key, b"x")


def test_local_atomic_writes_never_partial(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    blobs = [b"a" * (1 << 20), b"b" * (1 << 19)]
    storage.put("obj", blobs[0])
    stop = threading.Event()
    bad: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            data = storage.get("obj")
            if data not in blobs:
                bad.append(len(data))

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(30):
        storage.put("obj", blobs[i % 2])
    stop.set()
    thread.join()
    assert bad == []
    assert storage.list("") == ["obj"]  # temp files are never listed
    assert list((tmp_path / ".tmp").iterdir()) == []
    with pytest.raises(ParameterInvalid):
        storage.put(".tmp/x", b"reserved")


def test_local_remove_prunes_empty_dirs(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("x/y/z", b"1")
    storage.remove("x/y/z")
    assert not (tmp_path / "x").exists()


def test_minio_bad_credentials_and_unreachable(s3_server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IoFailed, match="SignatureDoesNotMatch"):
        MinioStorage(s3_server.endpoint, s3_server.access_key, "wrong", BUCKET)
    with pytest.raises(IoFailed, match="make_bucket"):
        MinioStorage(f"127.0.0.1:{free_port()}", "a", "b", BUCKET, connect_timeout_s=0.5)
