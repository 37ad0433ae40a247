"""Where QueryCoord's records live: the ``QueryCoordCatalog`` contract, its etcd implementation
(over the cluster's ``MetaKV``) and an in-memory one for unit tests.

Records: one ``CollectionLoadInfo`` per loaded collection (the collection, the loaded
partitions, its replicas: their querynodes, each channel's querynode, the segment placements of
LoadBalance; whether the load once reached 100 %), and the last replica id handed out.

etcd key layout (relative to the cluster's etcd root; existing clusters' data loads as is)::

    meta/load/{coll}    CollectionLoadInfo, serialized
    meta/replica-id     the last replica id allocated (decimal text)
"""
from __future__ import annotations

from copy import deepcopy
from typing import Protocol

from common.kv.base import MetaKV
from proto.internal import querycoord_pb2

LOAD_PREFIX = "meta/load/"
REPLICA_ID_KEY = "meta/replica-id"


def load_key(collection_id: int) -> str:
    """The etcd key of a collection's load record."""
    return f"{LOAD_PREFIX}{collection_id}"


class QueryCoordCatalog(Protocol):
    """QueryCoord's persistent records.

    Contract shared by every implementation:
    - ``load_loads`` returns what the saves left (a fresh cluster: an empty list), in
      collection id order, as records the caller may keep and change: a change is stored only
      when saved again, and a saved record is stored as it was at the call;
    - each call is atomic (one record);
    - failures raise ``MetaKVError``.
    """

    def load_loads(self) -> list[querycoord_pb2.CollectionLoadInfo]:
        """Every load record."""

    def save_load(self, load: querycoord_pb2.CollectionLoadInfo) -> None:
        """Create or replace the load record of ``load.collection.collection_id``."""

    def delete_load(self, collection_id: int) -> None:
        """Delete a collection's load record (no error when there is none)."""

    def allocate_replica_ids(self, count: int) -> int:
        """The first of ``count`` replica ids never handed out before (1, 2, ... on a fresh
        cluster)."""


class EtcdQueryCoordCatalog:
    """``QueryCoordCatalog`` over a ``MetaKV`` (layout in the module docstring)."""

    def __init__(self, kv: MetaKV) -> None:
        self._kv = kv

    def load_loads(self) -> list[querycoord_pb2.CollectionLoadInfo]:
        loads = [querycoord_pb2.CollectionLoadInfo.FromString(raw) for _, raw in self._kv.get_prefix(LOAD_PREFIX)]
        return sorted(loads, key=lambda load: load.collection.collection_id)

    def save_load(self, load: querycoord_pb2.CollectionLoadInfo) -> None:
        self._kv.put(load_key(load.collection.collection_id), load.SerializeToString())

    def delete_load(self, collection_id: int) -> None:
        self._kv.delete(load_key(collection_id))

    def allocate_replica_ids(self, count: int) -> int:
        while True:
            raw = self._kv.get(REPLICA_ID_KEY)
            last = int(raw) if raw else 0
            if self._kv.compare_and_put(REPLICA_ID_KEY, raw, str(last + count).encode()):
                return last + 1


class MemoryQueryCoordCatalog:
    """``QueryCoordCatalog`` in a plain dict (records copied in and out, never serialized)."""

    def __init__(self) -> None:
        self.loads: dict[int, querycoord_pb2.CollectionLoadInfo] = {}
        self.last_replica_id = 0

    def load_loads(self) -> list[querycoord_pb2.CollectionLoadInfo]:
        return [deepcopy(self.loads[c]) for c in sorted(self.loads)]

    def save_load(self, load: querycoord_pb2.CollectionLoadInfo) -> None:
        self.loads[load.collection.collection_id] = deepcopy(load)

    def delete_load(self, collection_id: int) -> None:
        self.loads.pop(collection_id, None)

    def allocate_replica_ids(self, count: int) -> int:
        self.last_replica_id += count
        return self.last_replica_id - count + 1
