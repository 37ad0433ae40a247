"""The object-storage key layout (common/storage/layout.py): every key a writer builds is a
valid key and falls under exactly the garbage-collection prefixes that must remove it, and a
prefix of one collection, partition or build never covers another's files."""
from __future__ import annotations

from pathlib import Path

from common.storage import LocalStorage, check_key
from common.storage.layout import (
    delta_log_path,
    delta_log_prefix,
    index_file_path,
    index_file_prefix,
    insert_log_path,
    insert_log_prefix,
    partition_insert_log_prefix,
)

CHANNEL = "by-dev-dml-1-0"


def test_the_documented_keys() -> None:
    assert insert_log_path(1, 2, 3) == "insert_log/1/2/3/3.parquet"
    assert delta_log_path(1, CHANNEL, 42) == f"delta_log/1/{CHANNEL}/42.parquet"
    assert index_file_path(7) == "index_files/7/index"


def test_writers_keys_fall_under_the_prefixes_that_remove_them() -> None:
    for coll, part, seg in [(1, 2, 3), (10, 20, 30), (449, 450, 451)]:
        key = check_key(insert_log_path(coll, part, seg))
        assert key.startswith(insert_log_prefix(coll))  # DropCollection
        assert key.startswith(partition_insert_log_prefix(coll, part))  # DropPartition
        assert not key.startswith(delta_log_prefix(coll))
        delta = check_key(delta_log_path(coll, CHANNEL, seg))
        assert delta.startswith(delta_log_prefix(coll))
        assert not delta.startswith(insert_log_prefix(coll))
    assert check_key(index_file_path(5)).startswith(index_file_prefix(5))


def test_a_prefix_never_covers_another_ids_files() -> None:
    """Collection 1's prefixes must not reach collection 10 or 11 (ids are decimal strings)."""
    for other in (10, 11, 100):
        assert not insert_log_path(other, 2, 3).startswith(insert_log_prefix(1))
        assert not delta_log_path(other, CHANNEL, 3).startswith(delta_log_prefix(1))
        assert not insert_log_path(1, other, 3).startswith(partition_insert_log_prefix(1, 2))
        assert not index_file_path(other).startswith(index_file_prefix(1))


def test_garbage_collection_removes_exactly_its_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    keys = [insert_log_path(1, 2, 3), insert_log_path(1, 4, 5), insert_log_path(10, 2, 3),
            delta_log_path(1, CHANNEL, 9), delta_log_path(10, CHANNEL, 9), index_file_path(1), index_file_path(10)]
    for key in keys:
        storage.put(key, b"x")
    storage.remove_prefix(partition_insert_log_prefix(1, 2))
    assert sorted(storage.list()) == sorted(k for k in keys if k != insert_log_path(1, 2, 3))
    storage.remove_prefix(insert_log_prefix(1))
    storage.remove_prefix(delta_log_prefix(1))
    storage.remove_prefix(index_file_prefix(1))
    assert sorted(storage.list()) == sorted([insert_log_path(10, 2, 3), delta_log_path(10, CHANNEL, 9),
                                            index_file_path(10)])
