"""Every delete a shard has seen, and the question "is this row deleted at read_ts?".

Semantics (Milvus's): a row (pk, insert_ts) is deleted at ``read_ts`` when some delete of the
same pk has ``insert_ts < delete_ts <= read_ts``. The strict ``<`` makes an upsert (a delete and
an insert of the pk at the same timestamp) delete the older rows but keep the new one.

Implementation: deletes are kept sorted by (pk, ts). For a ``read_ts`` we need, per pk, only the
latest delete ``<= read_ts``; that table (unique pks + their latest ts) is cached per
(version, read_ts bucket). Rows are matched to it by a hash join in Arrow
(``pyarrow.compute.index_in``; int64 columns are passed without a copy): O(rows + deletes), no
Python loop (1M rows x 5000 deletes: ~20 ms; ``np.searchsorted`` took ~100 ms).
``version`` increases on every ``add`` so callers (segments) can cache masks.
Thread-safe: ``add`` and ``deleted_mask`` may run concurrently.

Snapshots: ``snapshot()`` freezes the set of deletes a read considers (those added so far), so
a read that took its segments atomically with it never applies a delete whose insert (an
upsert's) came after its segment snapshot. Every ``add`` gets the next sequence number (the
record's ``version``); a snapshot at version V ignores entries with a larger sequence.

Partitions: a delete applies to one partition (the one its request named) or to every
partition (partition id 0, ``ALL_PARTITIONS``), as Milvus's ``DeleteMsg.PartitionID``; the
deletes of each scope are kept apart, and a row of partition P is matched against the
deletes of P and of every partition.
"""
from __future__ import annotations

import threading
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_EMPTY_TS = np.empty(0, dtype=np.uint64)
ALL_PARTITIONS = 0


class Deletes(Protocol):
    """What a read asks of a shard's deletes: a ``DeleteRecord`` or a ``DeleteSnapshot``."""

    @property
    def max_ts(self) -> int: ...

    @property
    def cache_key(self) -> tuple[int, int]: ...

    def __len__(self) -> int: ...

    def deleted_mask(self, pk_column: np.ndarray, insert_ts: np.ndarray, read_ts: int,
                     partition_id: int | None = None) -> np.ndarray: ...


class _Deletes:
    """The deletes (pk, ts) of one scope: one partition, or every partition."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending_pks: list[np.ndarray] = []
        self._pending_ts: list[np.ndarray] = []
        self._pending_seq: list[np.ndarray] = []
        self._pks: np.ndarray | None = None  # sorted by (pk, ts)
        self._ts: np.ndarray = _EMPTY_TS
        self._seq: np.ndarray = _EMPTY_TS  # the sequence number of the add of each entry
        self._count = 0
        self._max_ts = 0
        self._max_seq = 0
        self._version = 0
        self._table_key: tuple[int, int, int] | None = None
        self._table: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def version(self) -> int:
        """Changes whenever deletes are added."""
        return self._version

    @property
    def max_ts(self) -> int:
        """The largest delete timestamp seen (0 when none)."""
        return self._max_ts

    def __len__(self) -> int:
        return self._count

    def add(self, pks: np.ndarray, timestamps: np.ndarray | int, seq: int) -> None:
        """Record deletes; ``timestamps`` is an array like ``pks`` or one scalar for all; ``seq``
        is the sequence number of this add (increasing)."""
        pks = np.asarray(pks)
        if pks.size == 0:
            return
        ts = np.broadcast_to(np.asarray(timestamps, dtype=np.uint64), pks.shape).ravel()
        pks = pks.ravel()
        pks = pks.astype(np.int64) if pks.dtype.kind in "iu" else pks.astype(object)
        with self._lock:
            self._pending_pks.append(pks)
            self._pending_ts.append(ts.copy())
            self._pending_seq.append(np.full(pks.size, seq, dtype=np.uint64))
            self._count += pks.size
            self._max_ts = max(self._max_ts, int(ts.max()))
            self._max_seq = max(self._max_seq, seq)
            self._version += 1

    def deleted_mask(self, pk_column: np.ndarray, insert_ts: np.ndarray,
                     read_ts: int, upto_seq: int) -> np.ndarray:
        """Bool array: True where the row is deleted at ``read_ts`` by a delete whose sequence
        number is at most ``upto_seq`` (see module docstring)."""
        n = len(pk_column)
        out = np.zeros(n, dtype=bool)
        table = self._latest_table(int(read_ts), int(upto_seq))
        if table is None or n == 0:
            return out
        upks, latest = table
        pos = pc.index_in(_arrow(pk_column), value_set=_arrow(upks))  # hash join, null = absent
        if pos.null_count == n:
            return out
        found = pos.is_valid().to_numpy(zero_copy_only=False)
        idx = pos.fill_null(0).to_numpy(zero_copy_only=False)[found]
        out[found] = latest[idx] > np.asarray(insert_ts, dtype=np.uint64)[found]
        return out

    # ------------------------------------------------------------------------------------------
    def _latest_table(self, read_ts: int, upto_seq: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(unique pks sorted, latest delete ts <= read_ts of each among the entries with a
        sequence <= ``upto_seq``), or None if no delete applies. Cached: a ``read_ts`` at or
        after every delete, and an ``upto_seq`` at or after every add, share one entry."""
        with self._lock:
            self._consolidate()
            if self._pks is None or self._pks.size == 0:
                return None
            bucket = read_ts if read_ts < self._max_ts else -1
            seq_bucket = upto_seq if upto_seq < self._max_seq else -1
            key = (self._version, bucket, seq_bucket)
            if self._table_key == key:
                return self._table
            pks, ts = self._pks, self._ts
            if bucket != -1 or seq_bucket != -1:
                keep = np.ones(pks.size, dtype=bool)
                if bucket != -1:
                    keep &= ts <= np.uint64(read_ts)
                if seq_bucket != -1:
                    keep &= self._seq <= np.uint64(upto_seq)
                pks, ts = pks[keep], ts[keep]
            if pks.size == 0:
                table = None
            else:
                last = np.ones(pks.size, dtype=bool)  # last entry of each pk group = max ts
                last[:-1] = pks[1:] != pks[:-1]
                table = (pks[last], ts[last])
            self._table_key, self._table = key, table
            return table

    def _consolidate(self) -> None:
        """Merge pending batches into the sorted arrays (caller holds the lock)."""
        if not self._pending_pks:
            return
        parts_pk = ([] if self._pks is None else [self._pks]) + self._pending_pks
        parts_ts = [self._ts] + self._pending_ts
        parts_seq = [self._seq] + self._pending_seq
        if any(p.dtype == object for p in parts_pk):
            parts_pk = [p.astype(object) for p in parts_pk]
        pks = np.concatenate(parts_pk)
        ts = np.concatenate(parts_ts)
        seq = np.concatenate(parts_seq)
        order = np.lexsort((ts, pks))  # object (str) keys sort too
        self._pks, self._ts, self._seq = pks[order], ts[order], seq[order]
        self._pending_pks, self._pending_ts, self._pending_seq = [], [], []


class DeleteRecord:
    """All deletes of one shard, each for one partition or for every partition."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scopes: dict[int, _Deletes] = {}  # partition id (0: every partition) -> deletes
        self._count = 0
        self._max_ts = 0
        self._version = 0

    @property
    def version(self) -> int:
        """Changes whenever deletes are added."""
        return self._version

    @property
    def max_ts(self) -> int:
        """The largest delete timestamp seen (0 when none)."""
        return self._max_ts

    def __len__(self) -> int:
        return self._count

    def add(self, pks: np.ndarray, timestamps: np.ndarray | int,
            partition_ids: np.ndarray | int = ALL_PARTITIONS) -> None:
        """Record deletes; ``timestamps`` and ``partition_ids`` are arrays like ``pks`` or one
        scalar for all (partition 0: the delete applies to every partition)."""
        pks = np.asarray(pks)
        if pks.size == 0:
            return
        ts = np.broadcast_to(np.asarray(timestamps, dtype=np.uint64), pks.shape).ravel()
        parts = np.broadcast_to(np.asarray(partition_ids, dtype=np.int64), pks.shape).ravel()
        pks = pks.ravel()
        if (parts == parts[0]).all():
            groups = [(int(parts[0]), pks, ts)]
        else:
            groups = [(int(p), pks[parts == p], ts[parts == p]) for p in np.unique(parts)]
        with self._lock:
            seq = self._version + 1
            for partition_id, group_pks, group_ts in groups:
                scope = self._scopes.get(partition_id)
                if scope is None:
                    scope = self._scopes[partition_id] = _Deletes()
                scope.add(group_pks, group_ts, seq)
            self._count += pks.size
            self._max_ts = max(self._max_ts, int(ts.max()))
            self._version = seq

    @property
    def cache_key(self) -> tuple[int, int]:
        """Equal for two objects that answer ``deleted_mask`` alike (masks may be cached by it)."""
        return id(self), self._version

    def deleted_mask(self, pk_column: np.ndarray, insert_ts: np.ndarray, read_ts: int,
                     partition_id: int | None = None, upto_seq: int | None = None) -> np.ndarray:
        """Bool array: True where the row is deleted at ``read_ts`` (see module docstring) by a
        delete of ``partition_id`` or of every partition; by any delete when ``partition_id``
        is None (rows whose partition is unknown). Only adds up to ``upto_seq`` count (all when
        None)."""
        with self._lock:
            scopes = [d for p, d in self._scopes.items()
                      if partition_id is None or p in (ALL_PARTITIONS, partition_id)]
            upto = self._version if upto_seq is None else upto_seq
        out = np.zeros(len(pk_column), dtype=bool)
        for scope in scopes:
            if len(scope):
                out |= scope.deleted_mask(pk_column, insert_ts, read_ts, upto)
        return out

    def snapshot(self) -> DeleteSnapshot:
        """The deletes added so far, frozen: later adds do not change its answers."""
        with self._lock:
            return DeleteSnapshot(self, self._version, self._count, self._max_ts)


class DeleteSnapshot:
    """A ``DeleteRecord`` as it was at ``version`` (same query interface)."""

    def __init__(self, record: DeleteRecord, version: int, count: int, max_ts: int) -> None:
        self._record = record
        self.version = version
        self.max_ts = max_ts
        self._count = count

    def __len__(self) -> int:
        return self._count

    @property
    def cache_key(self) -> tuple[int, int]:
        """Equal for two objects that answer ``deleted_mask`` alike (masks may be cached by it)."""
        return id(self._record), self.version

    def deleted_mask(self, pk_column: np.ndarray, insert_ts: np.ndarray, read_ts: int,
                     partition_id: int | None = None) -> np.ndarray:
        """``DeleteRecord.deleted_mask`` over the deletes of the snapshot."""
        return self._record.deleted_mask(pk_column, insert_ts, read_ts, partition_id, upto_seq=self.version)


def _arrow(values: np.ndarray) -> pa.Array:
    """A pk column as Arrow: int64 zero-copy, anything else as strings."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return pa.array(arr.astype(np.int64, copy=False))
    return pa.array(arr.astype(object, copy=False), type=pa.string())
