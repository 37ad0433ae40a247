"""RootCoord logic: the collection catalog (collections, partitions, aliases; held by
``MetaTable``, persisted by a ``RootCoordCatalog``), timestamps and ids (TSO and id allocator,
persisted in the ``MetaKV``)."""
from __future__ import annotations

import threading

from common.config import Config
from common.errors import CollectionAlreadyExists, ParameterInvalid
from common.kv.base import MetaKV
from common.runtime import RoleComponent
from common.schema_proto import complete_schema
from common.tso import IDAllocator, TimestampOracle
from coordinators.rootcoord.catalog import RootCoordCatalog
from coordinators.rootcoord.meta_table import DEFAULT_PARTITION, MetaTable
from proto.internal import meta_pb2, rootcoord_pb2
from proto.milvus import milvus_pb2, schema_pb2

MAX_SHARDS = 16


def channel_name(cluster: str, collection_id: int, shard: int) -> str:
    """The broker channel of one shard of a collection."""
    return f"{cluster}-dml-{collection_id}-{shard}"


class RootCoord(RoleComponent):
    """Owns collections, partitions, aliases and schemas; hands out timestamps and ids.
    Implements ``common.interfaces.RootCoord``. Thread-safe: catalog changes are serialised by
    one lock."""

    role = "rootcoord"

    def __init__(self, config: Config, kv: MetaKV, catalog: RootCoordCatalog, node_id: int = 0) -> None:
        """``kv`` holds the TSO and id allocator; ``catalog`` the collection records."""
        super().__init__(node_id)
        self._config = config
        self._kv = kv
        self._lock = threading.Lock()
        self._tso = TimestampOracle(kv, key="tso")
        self._ids = IDAllocator(kv, key="idalloc")
        self.meta = MetaTable(catalog, self._new_id, self._new_timestamp,
                              max_partitions=int(config.get("rootcoord", "max_partition_num")),
                              history_retention_s=float(config.get("rootcoord", "history_retention_s")))

    def collection_count(self) -> int:
        """Collections that exist now."""
        with self._lock:
            return len(self.meta.collections())

    def _start(self) -> None:
        with self._lock:
            self.meta.load()

    def _new_timestamp(self, count: int = 1) -> int:
        """The first of ``count`` strictly increasing hybrid timestamps."""
        return self._tso.alloc(max(count, 1))

    def _new_id(self, count: int = 1) -> int:
        """The first of ``count`` unique ids."""
        start, _ = self._ids.alloc(max(count, 1))
        return start

    def alloc_timestamp(self, request: rootcoord_pb2.AllocRequest) -> rootcoord_pb2.AllocTimestampResponse:
        count = max(request.count, 1)
        return rootcoord_pb2.AllocTimestampResponse(timestamp=self._new_timestamp(count), count=count)

    def alloc_id(self, request: rootcoord_pb2.AllocRequest) -> rootcoord_pb2.AllocIDResponse:
        count = max(request.count, 1)
        return rootcoord_pb2.AllocIDResponse(begin=self._new_id(count), count=count)

    # -- collections -------------------------------------------------------------------------
    def create_collection(self, request: milvus_pb2.CreateCollectionRequest) -> None:
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
                    return
                raise CollectionAlreadyExists(
                    f"collection already exists with a different schema[collection={request.collection_name}]"
                )
            collection_id = self._new_id()
            now = self._new_timestamp()
            cluster = self._config.get("cluster", "name")
            info = meta_pb2.CollectionInfo(
                collection_id=collection_id, name=request.collection_name, db_name="default", schema=schema,
                shards_num=shards, channels=[channel_name(cluster, collection_id, i) for i in range(shards)],
                consistency_level=request.consistency_level, properties=request.properties,
                created_ts=now, update_ts=now,
            )
            info.partitions.add(partition_id=self._new_id(), name=DEFAULT_PARTITION, created_ts=now)
            self.meta.add_collection(info)

    def drop_collection(self, request: milvus_pb2.DropCollectionRequest) -> None:
        """Remove a collection from the catalog. Raises CollectionNotFound, or ParameterInvalid
        for an alias or a collection with aliases."""
        with self._lock:
            self.meta.drop_collection(request.collection_name)

    def describe_collection(self, request: rootcoord_pb2.DescribeCollectionRequest
                            ) -> rootcoord_pb2.DescribeCollectionResponse:
        """The collection with ``collection_id`` (or else ``collection_name`` or alias). Raises
        CollectionNotFound."""
        with self._lock:
            info = self.meta.get(request.collection_name, request.collection_id)
        return rootcoord_pb2.DescribeCollectionResponse(collection=info)

    def has_collection(self, request: milvus_pb2.HasCollectionRequest) -> milvus_pb2.BoolResponse:
        """Whether collection (or alias) ``collection_name`` exists; with ``time_stamp``,
        whether it existed then."""
        with self._lock:
            return milvus_pb2.BoolResponse(value=self.meta.existed_at(request.collection_name, request.time_stamp))

    def show_collections(self, request: rootcoord_pb2.ShowCollectionsRequest
                         ) -> rootcoord_pb2.ShowCollectionsResponse:
        """All collections, oldest first."""
        with self._lock:
            return rootcoord_pb2.ShowCollectionsResponse(collections=self.meta.collections())

    # -- partitions and aliases (see MetaTable for the rules) --------------------------------
    def create_partition(self, request: milvus_pb2.CreatePartitionRequest) -> rootcoord_pb2.PartitionResponse:
        with self._lock:
            info, partition = self.meta.create_partition(request.collection_name, request.partition_name)
        return rootcoord_pb2.PartitionResponse(collection=info, partition=partition)

    def drop_partition(self, request: milvus_pb2.DropPartitionRequest) -> rootcoord_pb2.PartitionResponse:
        with self._lock:
            info, partition = self.meta.drop_partition(request.collection_name, request.partition_name)
        return rootcoord_pb2.PartitionResponse(collection=info, partition=partition)

    def create_alias(self, request: milvus_pb2.CreateAliasRequest) -> None:
        with self._lock:
            self.meta.create_alias(request.alias, request.collection_name)

    def drop_alias(self, request: milvus_pb2.DropAliasRequest) -> None:
        with self._lock:
            self.meta.drop_alias(request.alias)

    def alter_alias(self, request: milvus_pb2.AlterAliasRequest) -> None:
        with self._lock:
            self.meta.alter_alias(request.alias, request.collection_name)

    def describe_alias(self, request: milvus_pb2.DescribeAliasRequest) -> milvus_pb2.DescribeAliasResponse:
        with self._lock:
            info = self.meta.describe_alias(request.alias)
        return milvus_pb2.DescribeAliasResponse(db_name=info.db_name or "default", alias=request.alias,
                                                collection=info.name)

    def list_aliases(self, request: milvus_pb2.ListAliasesRequest) -> milvus_pb2.ListAliasesResponse:
        with self._lock:
            aliases = self.meta.list_aliases(request.collection_name)
        return milvus_pb2.ListAliasesResponse(db_name="default", collection_name=request.collection_name,
                                              aliases=aliases)
