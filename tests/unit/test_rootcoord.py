"""RootCoord's catalog: partitions (names, duplicates, the configurable maximum, _default),
aliases (clashes with collection names, alias of alias, alter, drop rules), HasCollection with
a timestamp, and that everything survives a restart on the same KV. Every refused change is
checked to leave the KV as it was."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from common.config import load_config
from common.errors import (
    AliasAlreadyExists,
    AliasCollectionNameConflict,
    AliasNotFound,
    CollectionNotFound,
    MilvusError,
    ParameterInvalid,
    PartitionNotFound,
)
from common.kv.memory import MemoryKV
from coordinators.rootcoord.catalog import EtcdRootCoordCatalog, MemoryRootCoordCatalog
from coordinators.rootcoord.catalog_watch import watch_catalog
from coordinators.rootcoord.core import RootCoord
from proto.milvus import milvus_pb2, schema_pb2
from proto.milvus.schema_pb2 import DataType


def _request(name: str) -> milvus_pb2.CreateCollectionRequest:
    schema = schema_pb2.CollectionSchema(name=name, fields=[
        schema_pb2.FieldSchema(name="id", data_type=DataType.Int64, is_primary_key=True),
        schema_pb2.FieldSchema(name="vec", data_type=DataType.FloatVector,
                               type_params=[{"key": "dim", "value": "4"}]),
    ])
    return milvus_pb2.CreateCollectionRequest(collection_name=name, schema=schema.SerializeToString())


@pytest.fixture()
def kv() -> Iterator[MemoryKV]:
    store = MemoryKV("rc")
    yield store
    store.close()


def _coord(kv: MemoryKV, **rootcoord: object) -> RootCoord:
    config = load_config(environ={}).with_overrides({"rootcoord": dict(rootcoord)})
    coord = RootCoord(config, kv, EtcdRootCoordCatalog(kv))
    coord.start()
    return coord


def _refused(kv: MemoryKV, error: type[MilvusError], call: Callable[[], object]) -> None:
    """``call`` raises ``error`` and leaves every record as it was (the TSO aside)."""
    before = {k: v for k, v in kv.get_prefix("meta/")}
    with pytest.raises(error):
        call()
    assert {k: v for k, v in kv.get_prefix("meta/")} == before


def test_partitions(kv: MemoryKV) -> None:
    coord = _coord(kv, max_partition_num=3)
    coord.create_collection(_request("c"))
    info, p1 = coord.create_partition("c", "p1")
    assert [p.name for p in info.partitions] == ["_default", "p1"] and p1.partition_id > 0
    _refused(kv, ParameterInvalid, lambda: coord.create_partition("c", "p1"))  # duplicate
    for bad in ("", "1p", "p-1", "p 1", "x" * 256):
        _refused(kv, ParameterInvalid, lambda: coord.create_partition("c", bad))
    _refused(kv, CollectionNotFound, lambda: coord.create_partition("nope", "p2"))
    coord.create_partition("c", "p2")
    _refused(kv, ParameterInvalid, lambda: coord.create_partition("c", "p3"))  # max 3 incl. _default
    _refused(kv, ParameterInvalid, lambda: coord.drop_partition("c", "_default"))
    _refused(kv, PartitionNotFound, lambda: coord.drop_partition("c", "p9"))
    info, dropped = coord.drop_partition("c", "p1")
    assert dropped.partition_id == p1.partition_id
    assert [p.name for p in info.partitions] == ["_default", "p2"]
    coord.create_partition("c", "p3")  # room again
    coord.stop()
    again = _coord(kv, max_partition_num=3)
    assert [p.name for p in again.describe_collection("c").partitions] == ["_default", "p2", "p3"]
    again.stop()


def test_aliases(kv: MemoryKV) -> None:
    coord = _coord(kv)
    a = coord.create_collection(_request("a"))
    b = coord.create_collection(_request("b"))
    coord.create_alias("al", "a")
    coord.create_alias("al", "a")  # the same again is fine
    assert coord.describe_collection("al").collection_id == a.collection_id
    assert coord.describe_alias("al").name == "a"
    assert list(coord.describe_collection("a").aliases) == ["al"]
    assert coord.has_collection("al")

    _refused(kv, AliasAlreadyExists, lambda: coord.create_alias("al", "b"))
    _refused(kv, AliasCollectionNameConflict, lambda: coord.create_alias("b", "a"))
    _refused(kv, CollectionNotFound, lambda: coord.create_alias("al2", "al"))  # alias of an alias
    _refused(kv, CollectionNotFound, lambda: coord.create_alias("al2", "nope"))
    _refused(kv, ParameterInvalid, lambda: coord.create_alias("bad-alias", "a"))
    _refused(kv, AliasCollectionNameConflict, lambda: coord.create_collection(_request("al")))
    _refused(kv, ParameterInvalid, lambda: coord.drop_collection("al"))  # via an alias
    _refused(kv, ParameterInvalid, lambda: coord.drop_collection("a"))  # has an alias
    _refused(kv, AliasNotFound, lambda: coord.drop_alias("nope"))
    _refused(kv, AliasNotFound, lambda: coord.alter_alias("nope", "a"))
    _refused(kv, AliasNotFound, lambda: coord.describe_alias("nope"))
    _refused(kv, AliasCollectionNameConflict, lambda: coord.alter_alias("a", "b"))

    coord.alter_alias("al", "b")
    assert coord.describe_collection("al").collection_id == b.collection_id
    assert list(coord.describe_collection("a").aliases) == []
    assert coord.list_aliases("b") == ["al"] and coord.list_aliases("al") == ["al"]
    coord.create_alias("al3", "a")
    assert coord.list_aliases() == ["al", "al3"]
    coord.stop()

    again = _coord(kv)  # persisted
    assert again.describe_alias("al").name == "b" and again.describe_alias("al3").name == "a"
    again.drop_alias("al3")
    again.drop_collection("a")
    with pytest.raises(AliasNotFound):
        again.describe_alias("al3")
    assert not again.has_collection("a")
    again.stop()


def test_has_collection_at_a_timestamp(kv: MemoryKV) -> None:
    coord = _coord(kv)
    before = coord.alloc_timestamp()
    info = coord.create_collection(_request("t"))
    during = coord.alloc_timestamp()
    assert not coord.has_collection("t", before)
    assert coord.has_collection("t", info.created_ts) and coord.has_collection("t", during)
    coord.drop_collection("t")
    after = coord.alloc_timestamp()
    assert coord.has_collection("t", during) and not coord.has_collection("t", after)
    assert not coord.has_collection("t")
    coord.create_collection(_request("t"))  # a new one of the same name
    assert coord.has_collection("t", during) and not coord.has_collection("t", after)
    coord.stop()
    again = _coord(kv)  # the tombstone is in the KV
    assert again.has_collection("t", during)
    again.stop()


def test_dropped_collections_are_forgotten_after_the_retention(kv: MemoryKV) -> None:
    coord = _coord(kv, history_retention_s=0)
    coord.create_collection(_request("gone"))
    during = coord.alloc_timestamp()
    coord.drop_collection("gone")
    assert coord.has_collection("gone", during)  # the newest tombstone is kept until the next drop
    time.sleep(0.01)  # a later millisecond: the retention (0 s) has passed for "gone"
    coord.create_collection(_request("other"))
    coord.drop_collection("other")  # prunes what is older than the retention
    assert not coord.has_collection("gone", during)
    assert len(kv.get_prefix("meta/collection_history/")) == 1  # "other" only
    coord.stop()


def test_catalog_watch_reports_every_change_until_cancelled(kv: MemoryKV) -> None:
    """The contract other roles rely on (the proxy's meta cache): every kind of catalog change
    calls the callback, a refused change and a lookup do not, and a cancelled watch is silent."""
    coord = _coord(kv)
    coord.create_collection(_request("before"))  # before the watch: not reported
    calls: list[int] = []
    cancel = watch_catalog(kv, lambda: calls.append(1))

    def changed(change: Callable[[], object]) -> None:
        seen = len(calls)
        change()
        deadline = time.monotonic() + 5
        while len(calls) == seen and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(calls) > seen, "a catalog change was not reported"

    time.sleep(0.05)
    assert calls == []
    changed(lambda: coord.create_collection(_request("c")))
    changed(lambda: coord.create_partition("c", "p1"))
    changed(lambda: coord.drop_partition("c", "p1"))
    changed(lambda: coord.create_alias("a", "c"))
    changed(lambda: coord.alter_alias("a", "before"))
    changed(lambda: coord.drop_alias("a"))
    changed(lambda: coord.drop_collection("c"))
    time.sleep(0.05)
    seen = len(calls)
    with pytest.raises(CollectionNotFound):
        coord.create_partition("nope", "p")
    coord.describe_collection("before")
    cancel()
    cancel()  # idempotent
    coord.create_collection(_request("after"))
    time.sleep(0.1)
    assert len(calls) == seen


def test_rootcoord_over_the_in_memory_catalog(kv: MemoryKV) -> None:
    """The logic runs over any RootCoordCatalog: records saved through the in-memory one are
    what a restart on it finds."""
    catalog = MemoryRootCoordCatalog()
    config = load_config(environ={})
    coord = RootCoord(config, kv, catalog)
    coord.start()
    coord.create_collection(_request("a"))
    coord.create_alias("al", "a")
    coord.create_collection(_request("b"))
    coord.drop_collection("b")
    coord.stop()
    assert [(c.name, list(c.aliases)) for c in catalog.collections.values()] == [("a", ["al"])]
    assert [s.name for s in catalog.tombstones.values()] == ["b"]
    assert kv.get_prefix("meta/") == []  # nothing went around the catalog
    again = RootCoord(config, kv, catalog)
    again.start()
    assert again.describe_alias("al").name == "a" and not again.has_collection("b")
    again.stop()
