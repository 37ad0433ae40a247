"""RootCoord logic: the collection catalog (persisted in etcd), timestamps and ids."""
from __future__ import annotations

import threading

from common.component import Component
from common.config import Config
from common.errors import CollectionAlreadyExists, CollectionNotFound, ParameterInvalid
from common.kv.base import MetaKV
from common.schema_proto import complete_schema
from common.tso import IDAllocator, TimestampOracle
from proto.internal import meta_pb2
from proto.milvus import milvus_pb2, schema_pb2

COLLECTION_PREFIX = "meta/collection/"
DEFAULT_PARTITION = "_default"
MAX_SHARDS = 16


def channel_name(cluster: str, collection_id: int, shard: int) -> str:
    """The broker channel of one shard of a collection."""
    return f"{cluster}-dml-{collection_id}-{shard}"


class RootCoord(Component):
    """Owns collections and schemas; hands out timestamps and ids. Thread-safe."""

    role = "rootcoord"

    def __init__(self, config: Config, kv: MetaKV) -> None:
        super().__init__()
        self._config = config
        self._kv = kv
        self._lock = threading.Lock()
        self._by_id: dict[int, meta_pb2.CollectionInfo] = {}
        self._tso = TimestampOracle(kv, key="tso")
        self._ids = IDAllocator(kv, key="idalloc")

    def _start(self) -> None:
        for _, raw in self._kv.get_prefix(COLLECTION_PREFIX):
            info = meta_pb2.CollectionInfo.FromString(raw)
            self._by_id[info.collection_id] = info

    def alloc_timestamp(self, count: int = 1) -> int:
        """The first of ``count`` strictly increasing hybrid timestamps."""
        return self._tso.alloc(max(count, 1))

    def alloc_id(self, count: int = 1) -> int:
        """The first of ``count`` unique ids."""
        start, _ = self._ids.alloc(max(count, 1))
        return start

    def create_collection(self, request: milvus_pb2.CreateCollectionRequest) -> meta_pb2.CollectionInfo:
        """Create a collection. Creating an existing name with the identical schema succeeds
        (idempotent); with another schema it raises CollectionAlreadyExists."""
        try:
            user_schema = schema_pb2.CollectionSchema.FromString(request.schema)
        except Exception:  # noqa: BLE001 - any decode failure is bad input
            raise ParameterInvalid("the schema of the request cannot be decoded") from None
        schema = complete_schema(user_schema, request.collection_name)
        shards = request.shards_num or self._config.get("rootcoord", "default_shards")
        if not 1 <= shards <= MAX_SHARDS:
            raise ParameterInvalid(f"invalid shards_num {shards}, must be in range [1, {MAX_SHARDS}]")
        with self._lock:
            existing = self._find(request.collection_name)
            if existing is not None:
                if existing.schema == schema and existing.shards_num == shards:
                    return existing
                raise CollectionAlreadyExists(
                    f"collection already exists with a different schema[collection={request.collection_name}]"
                )
            collection_id = self.alloc_id()
            now = self.alloc_timestamp()
            cluster = self._config.get("cluster", "name")
            info = meta_pb2.CollectionInfo(
                collection_id=collection_id, name=request.collection_name, db_name="default", schema=schema,
                shards_num=shards, channels=[channel_name(cluster, collection_id, i) for i in range(shards)],
                consistency_level=request.consistency_level, properties=request.properties,
                created_ts=now, update_ts=now,
            )
            info.partitions.add(partition_id=self.alloc_id(), name=DEFAULT_PARTITION, created_ts=now)
            self._kv.put(f"{COLLECTION_PREFIX}{collection_id}", info.SerializeToString())
            self._by_id[collection_id] = info
            return info

    def drop_collection(self, name: str) -> meta_pb2.CollectionInfo:
        """Remove a collection from the catalog and return what it was. Raises CollectionNotFound."""
        with self._lock:
            info = self._find(name)
            if info is None:
                raise CollectionNotFound(f"collection not found[collection={name}]")
            self._kv.delete(f"{COLLECTION_PREFIX}{info.collection_id}")
            del self._by_id[info.collection_id]
            return info

    def describe_collection(self, name: str = "", collection_id: int = 0) -> meta_pb2.CollectionInfo:
        """The collection with ``collection_id`` (or else ``name``). Raises CollectionNotFound."""
        with self._lock:
            info = self._by_id.get(collection_id) if collection_id else self._find(name)
        if info is None:
            label = collection_id or name
            raise CollectionNotFound(f"can't find collection[database=default][collection={label}]")
        return info

    def list_collections(self) -> list[meta_pb2.CollectionInfo]:
        """All collections, oldest first."""
        with self._lock:
            return sorted(self._by_id.values(), key=lambda c: c.created_ts)

    def _find(self, name: str) -> meta_pb2.CollectionInfo | None:
        return next((c for c in self._by_id.values() if c.name == name), None)
