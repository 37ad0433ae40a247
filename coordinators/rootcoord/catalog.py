"""Where RootCoord's records live: the ``RootCoordCatalog`` contract, its etcd implementation
(over the cluster's ``MetaKV``) and an in-memory one for unit tests.

Records: each collection's ``CollectionInfo`` (partitions and aliases included) and the
``CollectionTombstone`` of each dropped collection (kept for HasCollection with a timestamp).

etcd key layout (relative to the cluster's etcd root; existing clusters' data loads as is)::

    meta/collection/{coll}            CollectionInfo, serialized
    meta/collection_history/{coll}    CollectionTombstone, serialized

Other roles learn of catalog changes only through ``catalog_watch.watch_catalog`` (which watches
``COLLECTION_PREFIX``), never by reading these keys.
"""
from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy as _copy
from typing import Protocol

from common.kv.base import MetaKV
from proto.internal import meta_pb2, rootcoord_pb2

COLLECTION_PREFIX = "meta/collection/"
HISTORY_PREFIX = "meta/collection_history/"
#: Operations per multi_save, below etcd's default --max-txn-ops (128).
MAX_OPS = 100


class RootCoordCatalog(Protocol):
    """RootCoord's persistent records.

    Contract shared by every implementation:
    - on a fresh cluster both loads return empty lists;
    - a load returns what the last saves left, in collection id order, as records the
      caller may keep (later changes to them are not stored until saved again), and a saved
      record is stored as it was at the call;
    - ``save_collections`` and ``drop_collection`` are atomic (all records or none);
      ``delete_tombstones`` may apply in several steps (each deletion is idempotent);
    - failures raise ``MetaKVError`` and leave the catalog as it was.
    """

    def load_collections(self) -> list[meta_pb2.CollectionInfo]:
        """Every stored collection."""

    def load_tombstones(self) -> list[rootcoord_pb2.CollectionTombstone]:
        """The tombstone of every dropped collection not yet pruned."""

    def save_collections(self, infos: Sequence[meta_pb2.CollectionInfo]) -> None:
        """Create or replace collection records, in one transaction."""

    def drop_collection(self, tombstone: rootcoord_pb2.CollectionTombstone) -> None:
        """Delete the record of ``tombstone.collection_id`` and store the tombstone, in one
        transaction."""

    def delete_tombstones(self, collection_ids: Sequence[int]) -> None:
        """Forget the tombstones of ``collection_ids`` (absent ones are ignored)."""


class EtcdRootCoordCatalog:
    """``RootCoordCatalog`` over a ``MetaKV`` (layout in the module docstring)."""

    def __init__(self, kv: MetaKV) -> None:
        self._kv = kv

    def load_collections(self) -> list[meta_pb2.CollectionInfo]:
        infos = [meta_pb2.CollectionInfo.FromString(raw) for _, raw in self._kv.get_prefix(COLLECTION_PREFIX)]
        return sorted(infos, key=lambda i: i.collection_id)

    def load_tombstones(self) -> list[rootcoord_pb2.CollectionTombstone]:
        stones = [rootcoord_pb2.CollectionTombstone.FromString(raw)
                  for _, raw in self._kv.get_prefix(HISTORY_PREFIX)]
        return sorted(stones, key=lambda s: s.collection_id)

    def save_collections(self, infos: Sequence[meta_pb2.CollectionInfo]) -> None:
        self._kv.multi_save({f"{COLLECTION_PREFIX}{i.collection_id}": i.SerializeToString() for i in infos})

    def drop_collection(self, tombstone: rootcoord_pb2.CollectionTombstone) -> None:
        self._kv.multi_save({f"{HISTORY_PREFIX}{tombstone.collection_id}": tombstone.SerializeToString()},
                            [f"{COLLECTION_PREFIX}{tombstone.collection_id}"])

    def delete_tombstones(self, collection_ids: Sequence[int]) -> None:
        ids = list(collection_ids)
        for i in range(0, len(ids), MAX_OPS):
            self._kv.multi_save({}, [f"{HISTORY_PREFIX}{cid}" for cid in ids[i:i + MAX_OPS]])


class MemoryRootCoordCatalog:
    """``RootCoordCatalog`` in plain dicts (records copied in and out, never serialized)."""

    def __init__(self) -> None:
        self.collections: dict[int, meta_pb2.CollectionInfo] = {}
        self.tombstones: dict[int, rootcoord_pb2.CollectionTombstone] = {}

    def load_collections(self) -> list[meta_pb2.CollectionInfo]:
        return [_copy(self.collections[c]) for c in sorted(self.collections)]

    def load_tombstones(self) -> list[rootcoord_pb2.CollectionTombstone]:
        return [_copy(self.tombstones[c]) for c in sorted(self.tombstones)]

    def save_collections(self, infos: Sequence[meta_pb2.CollectionInfo]) -> None:
        self.collections.update({i.collection_id: _copy(i) for i in infos})

    def drop_collection(self, tombstone: rootcoord_pb2.CollectionTombstone) -> None:
        self.collections.pop(tombstone.collection_id, None)
        self.tombstones[tombstone.collection_id] = _copy(tombstone)

    def delete_tombstones(self, collection_ids: Sequence[int]) -> None:
        for cid in collection_ids:
            self.tombstones.pop(cid, None)
