"""RootCoord logic: the collection catalog (collections, partitions, aliases; held by
``MetaTable``, persisted by a ``RootCoordCatalog``), timestamps and ids (TSO and id allocator,
persisted in the ``MetaKV``)."""
from __future__ import annotations

import threading

from common.component import Component
from common.config import Config
from common.errors import CollectionAlreadyExists, ParameterInvalid
from common.kv.base import MetaKV
from common.schema_proto import complete_schema
from common.tso import IDAllocator, TimestampOracle
from coordinators.rootcoord.catalog import RootCoordCatalog
from coordinators.rootcoord.meta_table import DEFAULT_PARTITION, MetaTable
from proto.internal import meta_pb2
from proto.milvus import milvus_pb2, schema_pb2

MAX_SHARDS = 16


def channel_name(cluster: str, collection_id: int, shard: int) -> str:
    """The broker channel of one shard of a collection."""
    return f"{cluster}-dml-{collection_id}-{shard}"


class RootCoord(Component):
    """Owns collections, partitions, aliases and schemas; hands out timestamps and ids.
    Thread-safe: catalog changes are serialised by one lock."""

    role = "rootcoord"

    def __init__(self, config: Config, kv: MetaKV, catalog: RootCoordCatalog) -> None:
        """``kv`` holds the TSO and id allocator; ``catalog`` the collection records."""
        super().__init__()
        self._config = config
        self._kv = kv
        self._lock = threading.Lock()
        self._tso = TimestampOracle(kv, key="tso")
        self._ids = IDAllocator(kv, key="idalloc")
        self.meta = MetaTable(catalog, self.alloc_id, self.alloc_timestamp,
                              max_partitions=int(config.get("rootcoord", "max_partition_num")),
                              history_retention_s=float(config.get("rootcoord", "history_retention_s")))

    def _start(self) -> None:
        with self._lock:
            self.meta.load()

    def alloc_timestamp(self, count: int = 1) -> int:
        """The first of ``count`` strictly increasing hybrid timestamps."""
        return self._tso.alloc(max(count, 1))

    def alloc_id(self, count: int = 1) -> int:
        """The first of ``count`` unique ids."""
        start, _ = self._ids.alloc(max(count, 1))
        return start

    # -- collections -------------------------------------------------------------------------
    def create_collection(self, request: milvus_pb2.CreateCollectionRequest) -> meta_pb2.CollectionInfo:
        """Create a collection with its ``_default`` partition. Creating an existing name with
        the identical schema succeeds (idempotent); with another schema it raises
        CollectionAlreadyExists; a name used by an alias raises AliasCollectionNameConflict."""
        try:
            user_schema = schema_pb2.CollectionSchema.FromString(request.schema)
        except Exception:  # noqa: BLE001 - any decode failure is bad input
            raise ParameterInvalid("the schema of the request cannot be decoded") from None
        schema = complete_schema(user_schema, request.collection_name)
        shards = request.shards_num or self._config.get("rootcoord", "default_shards")
        if not 1 <= shards <= MAX_SHARDS:
            raise ParameterInvalid(f"invalid shards_num {shards}, must be in range [1, {MAX_SHARDS}]")
        with self._lock:
            existing = self.meta.by_name(request.collection_name)
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
            self.meta.add_collection(info)
            return info

    def drop_collection(self, name: str) -> meta_pb2.CollectionInfo:
        """Remove a collection from the catalog and return what it was. Raises
        CollectionNotFound, or ParameterInvalid for an alias or a collection with aliases."""
        with self._lock:
            return self.meta.drop_collection(name)

    def describe_collection(self, name: str = "", collection_id: int = 0) -> meta_pb2.CollectionInfo:
        """The collection with ``collection_id`` (or else ``name`` or alias). Raises CollectionNotFound."""
        with self._lock:
            return self.meta.get(name, collection_id)

    def has_collection(self, name: str, ts: int = 0) -> bool:
        """True when collection (or alias) ``name`` exists; with ``ts``, when it existed at ``ts``."""
        with self._lock:
            return self.meta.existed_at(name, ts)

    def list_collections(self) -> list[meta_pb2.CollectionInfo]:
        """All collections, oldest first."""
        with self._lock:
            return self.meta.collections()

    # -- partitions and aliases (see MetaTable for the rules) --------------------------------
    def create_partition(self, collection_name: str, partition_name: str
                         ) -> tuple[meta_pb2.CollectionInfo, meta_pb2.PartitionInfo]:
        with self._lock:
            return self.meta.create_partition(collection_name, partition_name)

    def drop_partition(self, collection_name: str, partition_name: str
                       ) -> tuple[meta_pb2.CollectionInfo, meta_pb2.PartitionInfo]:
        with self._lock:
            return self.meta.drop_partition(collection_name, partition_name)

    def create_alias(self, alias: str, collection_name: str) -> None:
        with self._lock:
            self.meta.create_alias(alias, collection_name)

    def drop_alias(self, alias: str) -> None:
        with self._lock:
            self.meta.drop_alias(alias)

    def alter_alias(self, alias: str, collection_name: str) -> None:
        with self._lock:
            self.meta.alter_alias(alias, collection_name)

    def describe_alias(self, alias: str) -> meta_pb2.CollectionInfo:
        with self._lock:
            return self.meta.describe_alias(alias)

    def list_aliases(self, collection_name: str = "") -> list[str]:
        with self._lock:
            return self.meta.list_aliases(collection_name)
