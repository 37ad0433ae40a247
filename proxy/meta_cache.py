"""The proxy's cache of collection metadata, filled from rootcoord on first use.

Entries are dropped when this proxy changes the collection (drop, create) or when a caller
reports a stale entry with ``invalidate``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from common.errors import PartitionNotFound
from common.runtime import RoleClient
from common.schema import CollectionSchema
from common.schema_proto import schema_from_proto
from proto.internal import meta_pb2, rootcoord_pb2


@dataclass(frozen=True)
class CachedCollection:
    info: meta_pb2.CollectionInfo
    schema: CollectionSchema

    @property
    def collection_id(self) -> int:
        return self.info.collection_id

    def partition_id(self, name: str) -> int:
        """The id of partition ``name`` ('' = _default). Raises PartitionNotFound."""
        wanted = name or "_default"
        for partition in self.info.partitions:
            if partition.name == wanted:
                return partition.partition_id
        raise PartitionNotFound(f"partition not found[partition={wanted}]")


class MetaCache:
    """Thread-safe name → CachedCollection cache backed by rootcoord's DescribeCollection."""

    def __init__(self, rootcoord: RoleClient) -> None:
        self._rootcoord = rootcoord
        self._lock = threading.Lock()
        self._entries: dict[str, CachedCollection] = {}

    def get(self, name: str) -> CachedCollection:
        """The collection called ``name``. Raises CollectionNotFound (code 100) when it does not exist."""
        with self._lock:
            entry = self._entries.get(name)
        if entry is not None:
            return entry
        response = self._rootcoord.call(
            "DescribeCollection", rootcoord_pb2.DescribeCollectionRequest(collection_name=name)
        )
        entry = CachedCollection(response.collection, schema_from_proto(response.collection.schema))
        with self._lock:
            self._entries[name] = entry
        return entry

    def invalidate(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)
