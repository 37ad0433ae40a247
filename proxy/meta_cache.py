"""The proxy's cache of collection metadata, filled from rootcoord on first use.

Entries are keyed by the name a request used: a collection name or an alias (rootcoord
resolves aliases). They are dropped when this proxy changes the collection (drop, create,
partitions: ``invalidate``) or an alias (``invalidate_alias``), at once; and every entry is
dropped whenever rootcoord's catalog changes (``coordinators/rootcoord/catalog_watch.py``), so a
change made through another proxy is seen within moments. A lookup that raced with such a
change does not store what it read.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from common.errors import PartitionNotFound
from common.runtime import RoleContext
from common.schema import CollectionSchema
from common.schema_proto import schema_from_proto
from coordinators.rootcoord.catalog_watch import watch_catalog
from proto.internal import meta_pb2, rootcoord_pb2


@dataclass(frozen=True)
class CachedCollection:
    info: meta_pb2.CollectionInfo
    schema: CollectionSchema

    @property
    def collection_id(self) -> int:
        return self.info.collection_id

    def partition(self, name: str) -> meta_pb2.PartitionInfo:
        """Partition ``name`` ('' = _default). Raises PartitionNotFound."""
        wanted = name or "_default"
        for partition in self.info.partitions:
            if partition.name == wanted:
                return partition
        raise PartitionNotFound(f"partition not found[partition={wanted}]")

    def partition_id(self, name: str) -> int:
        """The id of partition ``name`` ('' = _default). Raises PartitionNotFound."""
        return self.partition(name).partition_id


class MetaCache:
    """Thread-safe name → CachedCollection cache backed by rootcoord's DescribeCollection (the
    context's rootcoord), watching the catalog in the context's KV."""

    def __init__(self, context: RoleContext) -> None:
        self._context = context
        self._lock = threading.Lock()
        self._entries: dict[str, CachedCollection] = {}
        self._generation = 0  # bumped by every catalog change seen
        self._cancel_watch = watch_catalog(context.kv, self._on_catalog_change)

    def _on_catalog_change(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def close(self) -> None:
        """Stop watching the catalog."""
        self._cancel_watch()

    def get(self, name: str) -> CachedCollection:
        """The collection called ``name``. Raises CollectionNotFound (code 100) when it does not exist."""
        with self._lock:
            entry = self._entries.get(name)
            generation = self._generation
        if entry is not None:
            return entry
        response = self._context.rootcoord.describe_collection(
            rootcoord_pb2.DescribeCollectionRequest(collection_name=name))
        entry = CachedCollection(response.collection, schema_from_proto(response.collection.schema))
        with self._lock:
            if generation == self._generation:
                self._entries[name] = entry
        return entry

    def invalidate(self, name: str) -> None:
        """Forget ``name`` and every other entry of the same collection (its aliases)."""
        with self._lock:
            self._generation += 1
            entry = self._entries.pop(name, None)
            stale = [key for key, e in self._entries.items()
                     if e.info.name == name or (entry is not None and e.collection_id == entry.collection_id)]
            for key in stale:
                del self._entries[key]

    def invalidate_alias(self, alias: str) -> None:
        """Forget the entry of ``alias`` and of the collection it pointed to."""
        with self._lock:
            self._generation += 1
            stale = [key for key, e in self._entries.items() if key == alias or alias in e.info.aliases]
            for key in stale:
                del self._entries[key]
