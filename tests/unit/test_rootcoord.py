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
from proto.internal import meta_pb2, rootcoord_pb2
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


def _create(coord: RootCoord, name: str) -> meta_pb2.CollectionInfo:
    coord.create_collection(_request(name))
    return _describe_collection(coord, name)


def _describe_collection(coord: RootCoord, name: str) -> meta_pb2.CollectionInfo:
    return coord.describe_collection(rootcoord_pb2.DescribeCollectionRequest(collection_name=name)).collection


def _has_collection(coord: RootCoord, name: str, ts: int = 0) -> bool:
    return coord.has_collection(milvus_pb2.HasCollectionRequest(collection_name=name, time_stamp=ts)).value


def _drop_collection(coord: RootCoord, name: str) -> None:
    coord.drop_collection(milvus_pb2.DropCollectionRequest(collection_name=name))


def _alloc_timestamp(coord: RootCoord) -> int:
    return coord.alloc_timestamp(rootcoord_pb2.AllocRequest(count=1)).timestamp


def _create_partition(coord: RootCoord, collection: str, partition: str
                      ) -> tuple[meta_pb2.CollectionInfo, meta_pb2.PartitionInfo]:
    answer = coord.create_partition(milvus_pb2.CreatePartitionRequest(collection_name=collection,
                                                                      partition_name=partition))
    return answer.collection, answer.partition


def _drop_partition(coord: RootCoord, collection: str, partition: str
                    ) -> tuple[meta_pb2.CollectionInfo, meta_pb2.PartitionInfo]:
    answer = coord.drop_partition(milvus_pb2.DropPartitionRequest(collection_name=collection,
                                                                  partition_name=partition))
    return answer.collection, answer.partition


def _create_alias(coord: RootCoord, alias: str, collection: str) -> None:
    coord.create_alias(milvus_pb2.CreateAliasRequest(alias=alias, collection_name=collection))


def _drop_alias(coord: RootCoord, alias: str) -> None:
    coord.drop_alias(milvus_pb2.DropAliasRequest(alias=alias))


def _alter_alias(coord: RootCoord, alias: str, collection: str) -> None:
    coord.alter_alias(milvus_pb2.AlterAliasRequest(alias=alias, collection_name=collection))


def _describe_alias(coord: RootCoord, alias: str) -> str:
    """The name of the collection ``alias`` points to."""
    return coord.describe_alias(milvus_pb2.DescribeAliasRequest(alias=alias)).collection


def _list_aliases(coord: RootCoord, collection: str = "") -> list[str]:
    return list(coord.list_aliases(milvus_pb2.ListAliasesRequest(collection_name=collection)).aliases)


def test_partitions(kv: MemoryKV) -> None:
    coord = _coord(kv, max_partition_num=3)
    coord.create_collection(_request("c"))
    info, p1 = _create_partition(coord, "c", "p1")
    assert [p.name for p in info.partitions] == ["_default", "p1"] and p1.partition_id > 0
    _refused(kv, ParameterInvalid, lambda: _create_partition(coord, "c", "p1"))  # duplicate
    for bad in ("", "1p", "p-1", "p 1", "x" * 256):
        _refused(kv, ParameterInvalid, lambda bad=bad: _create_partition(coord, "c", bad))
    _refused(kv, CollectionNotFound, lambda: _create_partition(coord, "nope", "p2"))
    _create_partition(coord, "c", "p2")
    _refused(kv, ParameterInvalid, lambda: _create_partition(coord, "c", "p3"))  # max 3 incl. _default
    _refused(kv, ParameterInvalid, lambda: _drop_partition(coord, "c", "_default"))
    _refused(kv, PartitionNotFound, lambda: _drop_partition(coord, "c", "p9"))
    info, dropped = _drop_partition(coord, "c", "p1")
    assert dropped.partition_id == p1.partition_id
    assert [p.name for p in info.partitions] == ["_default", "p2"]
    _create_partition(coord, "c", "p3")  # room again
    coord.stop()
    again = _coord(kv, max_partition_num=3)
    assert [p.name for p in _describe_collection(again, "c").partitions] == ["_default", "p2", "p3"]
    again.stop()


def test_aliases(kv: MemoryKV) -> None:
    coord = _coord(kv)
    a = _create(coord, "a")
    b = _create(coord, "b")
    _create_alias(coord, "al", "a")
    _create_alias(coord, "al", "a")  # the same again is fine
    assert _describe_collection(coord, "al").collection_id == a.collection_id
    assert _describe_alias(coord, "al") == "a"
    assert list(_describe_collection(coord, "a").aliases) == ["al"]
    assert _has_collection(coord, "al")

    _refused(kv, AliasAlreadyExists, lambda: _create_alias(coord, "al", "b"))
    _refused(kv, AliasCollectionNameConflict, lambda: _create_alias(coord, "b", "a"))
    _refused(kv, CollectionNotFound, lambda: _create_alias(coord, "al2", "al"))  # alias of an alias
    _refused(kv, CollectionNotFound, lambda: _create_alias(coord, "al2", "nope"))
    _refused(kv, ParameterInvalid, lambda: _create_alias(coord, "bad-alias", "a"))
    _refused(kv, AliasCollectionNameConflict, lambda: coord.create_collection(_request("al")))
    _refused(kv, ParameterInvalid, lambda: _drop_collection(coord, "al"))  # via an alias
    _refused(kv, ParameterInvalid, lambda: _drop_collection(coord, "a"))  # has an alias
    _refused(kv, AliasNotFound, lambda: _drop_alias(coord, "nope"))
    _refused(kv, AliasNotFound, lambda: _alter_alias(coord, "nope", "a"))
    _refused(kv, AliasNotFound, lambda: _describe_alias(coord, "nope"))
    _refused(kv, AliasCollectionNameConflict, lambda: _alter_alias(coord, "a", "b"))

    _alter_alias(coord, "al", "b")
    assert _describe_collection(coord, "al").collection_id == b.collection_id
    assert list(_describe_collection(coord, "a").aliases) == []
    assert _list_aliases(coord, "b") == ["al"] and _list_aliases(coord, "al") == ["al"]
    _create_alias(coord, "al3", "a")
    assert _list_aliases(coord) == ["al", "al3"]
    coord.stop()

    again = _coord(kv)  # persisted
    assert _describe_alias(again, "al") == "b" and _describe_alias(again, "al3") == "a"
    _drop_alias(again, "al3")
    _drop_collection(again, "a")
    with pytest.raises(AliasNotFound):
        _describe_alias(again, "al3")
    assert not _has_collection(again, "a")
    again.stop()


def test_has_collection_at_a_timestamp(kv: MemoryKV) -> None:
    coord = _coord(kv)
    before = _alloc_timestamp(coord)
    info = _create(coord, "t")
    during = _alloc_timestamp(coord)
    assert not _has_collection(coord, "t", before)
    assert _has_collection(coord, "t", info.created_ts) and _has_collection(coord, "t", during)
    _drop_collection(coord, "t")
    after = _alloc_timestamp(coord)
    assert _has_collection(coord, "t", during) and not _has_collection(coord, "t", after)
    assert not _has_collection(coord, "t")
    coord.create_collection(_request("t"))  # a new one of the same name
    assert _has_collection(coord, "t", during) and not _has_collection(coord, "t", after)
    coord.stop()
    again = _coord(kv)  # the tombstone is in the KV
    assert _has_collection(again, "t", during)
    again.stop()


def test_dropped_collections_are_forgotten_after_the_retention(kv: MemoryKV) -> None:
    coord = _coord(kv, history_retention_s=0)
    coord.create_collection(_request("gone"))
    during = _alloc_timestamp(coord)
    _drop_collection(coord, "gone")
    assert _has_collection(coord, "gone", during)  # the newest tombstone is kept until the next drop
    time.sleep(0.01)  # a later millisecond: the retention (0 s) has passed for "gone"
    coord.create_collection(_request("other"))
    _drop_collection(coord, "other")  # prunes what is older than the retention
    assert not _has_collection(coord, "gone", during)
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
    changed(lambda: _create_partition(coord, "c", "p1"))
    changed(lambda: _drop_partition(coord, "c", "p1"))
    changed(lambda: _create_alias(coord, "a", "c"))
    changed(lambda: _alter_alias(coord, "a", "before"))
    changed(lambda: _drop_alias(coord, "a"))
    changed(lambda: _drop_collection(coord, "c"))
    time.sleep(0.05)
    seen = len(calls)
    with pytest.raises(CollectionNotFound):
        _create_partition(coord, "nope", "p")
    _describe_collection(coord, "before")
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
    _create_alias(coord, "al", "a")
    coord.create_collection(_request("b"))
    _drop_collection(coord, "b")
    coord.stop()
    assert [(c.name, list(c.aliases)) for c in catalog.collections.values()] == [("a", ["al"])]
    assert [s.name for s in catalog.tombstones.values()] == ["b"]
    assert kv.get_prefix("meta/") == []  # nothing went around the catalog
    again = RootCoord(config, kv, catalog)
    again.start()
    assert _describe_alias(again, "al") == "a" and not _has_collection(again, "b")
    again.stop()
