"""RootCoord's metadata in memory: collections with their partitions and aliases, and the
tombstones of dropped collections, kept in step with the ``RootCoordCatalog`` that persists
them (``coordinators/rootcoord/catalog.py``).

Aliases live in the record of the collection they point to (``CollectionInfo.aliases``); a
change that touches two collections (AlterAlias) saves both records in one transaction.

Names: collection names and aliases share one namespace per database. A lookup by name
(``find``) resolves an alias to its collection, as Milvus does for every DDL, DML and read.
Not thread-safe: RootCoord serialises calls with its lock.
"""
from __future__ import annotations

from collections.abc import Callable, MutableSequence

from common.errors import (
    AliasAlreadyExists,
    AliasCollectionNameConflict,
    AliasNotFound,
    CollectionNotFound,
    ParameterInvalid,
    PartitionNotFound,
)
from common.schema_proto import validate_name
from common.tso import parse_ts
from coordinators.rootcoord.catalog import RootCoordCatalog
from proto.internal import meta_pb2, rootcoord_pb2

DEFAULT_PARTITION = "_default"


def _not_found(name: str) -> CollectionNotFound:
    return CollectionNotFound(f"can't find collection[database=default][collection={name}]")


class MetaTable:
    """See the module docstring. ``alloc_id``/``alloc_ts`` hand out ids and timestamps."""

    def __init__(self, catalog: RootCoordCatalog, alloc_id: Callable[[], int], alloc_ts: Callable[[], int],
                 max_partitions: int, history_retention_s: float) -> None:
        self._catalog = catalog
        self._alloc_id = alloc_id
        self._alloc_ts = alloc_ts
        self._max_partitions = max_partitions
        self._retention_ms = int(history_retention_s * 1000)
        self._by_id: dict[int, meta_pb2.CollectionInfo] = {}
        self._aliases: dict[str, int] = {}  # alias -> collection id
        self._history: dict[int, rootcoord_pb2.CollectionTombstone] = {}

    def load(self) -> None:
        for info in self._catalog.load_collections():
            self._by_id[info.collection_id] = info
            for alias in info.aliases:
                self._aliases[alias] = info.collection_id
        for stone in self._catalog.load_tombstones():
            self._history[stone.collection_id] = stone

    # -- lookups -----------------------------------------------------------------------------
    def by_name(self, name: str) -> meta_pb2.CollectionInfo | None:
        """The collection called ``name`` (not an alias)."""
        return next((c for c in self._by_id.values() if c.name == name), None)

    def find(self, name: str) -> meta_pb2.CollectionInfo | None:
        """The collection called ``name``, or the one the alias ``name`` points to."""
        collection_id = self._aliases.get(name)
        if collection_id is not None:
            return self._by_id.get(collection_id)
        return self.by_name(name)

    def get(self, name: str = "", collection_id: int = 0) -> meta_pb2.CollectionInfo:
        """The collection with ``collection_id`` (or else ``name`` or alias). Raises CollectionNotFound."""
        info = self._by_id.get(collection_id) if collection_id else self.find(name)
        if info is None:
            raise _not_found(str(collection_id or name))
        return info

    def collections(self) -> list[meta_pb2.CollectionInfo]:
        """All collections, oldest first."""
        return sorted(self._by_id.values(), key=lambda c: c.created_ts)

    def existed_at(self, name: str, ts: int) -> bool:
        """True when a collection ``name`` (or alias) existed at timestamp ``ts`` (0: now)."""
        info = self.find(name)
        if info is not None and (ts == 0 or info.created_ts <= ts):
            return True
        return ts != 0 and any(s.name == name and s.created_ts <= ts < s.dropped_ts for s in self._history.values())

    # -- collections -------------------------------------------------------------------------
    def add_collection(self, info: meta_pb2.CollectionInfo) -> None:
        """Store a new collection. Raises AliasCollectionNameConflict when its name is an alias."""
        if info.name in self._aliases:
            raise AliasCollectionNameConflict(
                f"collection name [{info.name}] conflicts with an existing alias, please choose a unique name")
        self._save(info)

    def drop_collection(self, name: str) -> meta_pb2.CollectionInfo:
        """Remove a collection, leaving its tombstone. Raises CollectionNotFound, or
        ParameterInvalid for an alias or a collection that still has aliases."""
        if name in self._aliases:
            raise ParameterInvalid(f"cannot drop the collection via alias = {name}")
        info = self.by_name(name)
        if info is None:
            raise _not_found(name)
        if info.aliases:
            raise ParameterInvalid(
                f"unable to drop the collection [{name}] because it has associated aliases {list(info.aliases)}, "
                "please remove all aliases before dropping the collection")
        now = self._alloc_ts()
        stone = rootcoord_pb2.CollectionTombstone(collection_id=info.collection_id, name=info.name,
                                                  created_ts=info.created_ts, dropped_ts=now)
        self._catalog.drop_collection(stone)
        del self._by_id[info.collection_id]
        self._history[info.collection_id] = stone
        self._prune_history(now)
        return info

    def _prune_history(self, now: int) -> None:
        horizon = parse_ts(now)[0] - self._retention_ms
        old = [cid for cid, s in self._history.items() if parse_ts(s.dropped_ts)[0] < horizon]
        if old:
            self._catalog.delete_tombstones(old)
        for cid in old:
            del self._history[cid]

    # -- partitions --------------------------------------------------------------------------
    def create_partition(self, collection_name: str, partition_name: str
                         ) -> tuple[meta_pb2.CollectionInfo, meta_pb2.PartitionInfo]:
        """Add a partition. Raises ParameterInvalid for a bad or duplicate name or when the
        collection has ``max_partitions`` already, CollectionNotFound."""
        validate_name(partition_name, "partition")
        info = self.get(collection_name)
        if any(p.name == partition_name for p in info.partitions):
            raise ParameterInvalid(
                f"partition already exists[collection={info.name}][partition={partition_name}]")
        if len(info.partitions) >= self._max_partitions:
            raise ParameterInvalid(
                f"partition number ({len(info.partitions)}) exceeds max configuration ({self._max_partitions}), "
                f"collection: {info.name}")
        updated = _copy(info)
        partition = updated.partitions.add(partition_id=self._alloc_id(), name=partition_name,
                                           created_ts=self._alloc_ts())
        self._save(updated)
        return updated, partition

    def drop_partition(self, collection_name: str, partition_name: str
                       ) -> tuple[meta_pb2.CollectionInfo, meta_pb2.PartitionInfo]:
        """Remove a partition. Raises ParameterInvalid for ``_default``, PartitionNotFound,
        CollectionNotFound."""
        info = self.get(collection_name)
        if partition_name == DEFAULT_PARTITION:
            raise ParameterInvalid("default partition cannot be deleted")
        found = next((p for p in info.partitions if p.name == partition_name), None)
        if found is None:
            raise PartitionNotFound(f"partition not found[partition={partition_name}]")
        partition = meta_pb2.PartitionInfo()
        partition.CopyFrom(found)
        updated = _copy(info)
        del updated.partitions[:]
        updated.partitions.extend(p for p in info.partitions if p.partition_id != partition.partition_id)
        self._save(updated)
        return updated, partition

    # -- aliases -----------------------------------------------------------------------------
    def create_alias(self, alias: str, collection_name: str) -> None:
        """Point a new alias at a collection (by its name, not another alias). Raises
        AliasCollectionNameConflict, AliasAlreadyExists, CollectionNotFound, ParameterInvalid."""
        self._check_alias_name(alias)
        target = self._alias_target(collection_name)
        current = self._aliases.get(alias)
        if current is not None:
            if current == target.collection_id:
                return  # the same alias again: idempotent, as in Milvus
            raise AliasAlreadyExists(
                f"alias already exist[database=default][alias={alias}]: it points to collection "
                f"{self._by_id[current].name}")
        updated = _copy(target)
        updated.aliases.append(alias)
        self._save(updated)

    def drop_alias(self, alias: str) -> None:
        """Remove an alias. Raises AliasNotFound, ParameterInvalid."""
        validate_name(alias, "alias")
        collection_id = self._aliases.get(alias)
        if collection_id is None:
            raise AliasNotFound(f"alias not found[database=default][alias={alias}]")
        updated = _copy(self._by_id[collection_id])
        _remove(updated.aliases, alias)
        self._save(updated)

    def alter_alias(self, alias: str, collection_name: str) -> None:
        """Point an existing alias at another collection. Raises AliasNotFound,
        AliasCollectionNameConflict, CollectionNotFound, ParameterInvalid."""
        self._check_alias_name(alias)
        target = self._alias_target(collection_name)
        current = self._aliases.get(alias)
        if current is None:
            raise AliasNotFound(f"alias not found[database=default][alias={alias}]: create it first")
        if current == target.collection_id:
            return
        old = _copy(self._by_id[current])
        _remove(old.aliases, alias)
        new = _copy(target)
        new.aliases.append(alias)
        self._save(old, new)

    def describe_alias(self, alias: str) -> meta_pb2.CollectionInfo:
        """The collection ``alias`` points to. Raises AliasNotFound, ParameterInvalid."""
        validate_name(alias, "alias")
        collection_id = self._aliases.get(alias)
        if collection_id is None:
            raise AliasNotFound(f"alias not found[database=default][alias={alias}]")
        return self._by_id[collection_id]

    def list_aliases(self, collection_name: str = "") -> list[str]:
        """The aliases of a collection (every alias when ``collection_name`` is empty), sorted.
        Raises CollectionNotFound."""
        if not collection_name:
            return sorted(self._aliases)
        return sorted(self.get(collection_name).aliases)

    def _check_alias_name(self, alias: str) -> None:
        validate_name(alias, "alias")
        if self.by_name(alias) is not None:
            raise AliasCollectionNameConflict(
                f"alias and collection name conflict[database=default][alias={alias}]: "
                "a collection already has this name")

    def _alias_target(self, collection_name: str) -> meta_pb2.CollectionInfo:
        validate_name(collection_name, "collection")
        target = self.by_name(collection_name)
        if target is None:
            raise _not_found(collection_name)  # an alias of an alias is not allowed either
        return target

    # -- persistence -------------------------------------------------------------------------
    def _save(self, *infos: meta_pb2.CollectionInfo) -> None:
        """Persist records (in one transaction) and then publish them in memory."""
        self._catalog.save_collections(infos)
        for info in infos:
            old = self._by_id.get(info.collection_id)
            if old is not None:
                for alias in old.aliases:
                    self._aliases.pop(alias, None)
            self._by_id[info.collection_id] = info
            for alias in info.aliases:
                self._aliases[alias] = info.collection_id


def _copy(info: meta_pb2.CollectionInfo) -> meta_pb2.CollectionInfo:
    """A copy to change: records in memory are never modified in place, so a caller that got
    one keeps a consistent snapshot."""
    out = meta_pb2.CollectionInfo()
    out.CopyFrom(info)
    return out


def _remove(values: MutableSequence[str], item: str) -> None:
    kept = [v for v in values if v != item]
    del values[:]
    values.extend(kept)
