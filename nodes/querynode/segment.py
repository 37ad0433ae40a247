"""A querynode's in-memory segment: columns (layout of ``common/schema.py``), optional vector
indexes, MVCC visibility and search.

Contracts:
- Growing segments take rows with ``append`` (amortised O(rows): columns live in buffers whose
  capacity doubles; a batch is copied once). Sealed segments get their columns once with
  ``load`` (no copy; arrays may be read-only) and may carry indexes (``set_index``).
- One writer and many readers may run at once. A reader works on a snapshot (row count plus
  the buffers of that moment); rows appended later are invisible to it, and reallocated buffers
  are new arrays, so a snapshot is never modified under a reader.
- ``visible_mask(read_ts, deletes)``: rows inserted at ``<= read_ts`` and not deleted at
  ``read_ts`` (see ``DeleteRecord``); None when every row is visible. The last mask is cached by
  (read_ts bucket, DeleteRecord identity and version, row count), where every ``read_ts`` at or
  after both the newest insert and the newest delete shares one bucket.
- ``pk_rows(values, rows)``: the rows (of the first ``rows``) whose primary key is one of
  ``values``, through a sorted index of the primary keys (argsort once; a growing segment
  re-sorts when its unsorted tail exceeds a quarter of the sorted part and scans only that
  tail in between), so a lookup of k keys costs O(k log n), not a scan of the segment.
- ``search`` returns ``(distances, row_indices)`` as ``common.compute.distance`` does; it uses
  the field's index when there is one built on all current rows with the requested metric,
  else exact brute force (squared norms of float vectors are cached for it).
- One copy of the vectors: when a sealed segment gets an index that holds the very rows of a
  vector column (``VectorIndex.raw_vectors``: FLAT types, HNSW with L2/IP), the column becomes
  that array and the loaded copy is dropped (checked on a sample of rows first); a later index
  that holds no such copy gets a column of its own again. ``memory_size`` counts the shared
  array once.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.compute.distance import brute_force_search, sq_norms
from common.errors import FieldNotFound, ParameterInvalid
from common.index.faiss_index import VectorIndex
from common.schema import CollectionSchema, FieldSchema
from common.types import TIMESTAMP_COLUMN
from dataplane.columns import empty_column
from dataplane.delete_record import Deletes

_INITIAL_CAPACITY = 1024


def _same_rows(candidate: np.ndarray, column: np.ndarray, samples: int = 64) -> bool:
    """Whether ``candidate`` has the shape and dtype of ``column`` and equal values on a spread
    sample of rows (first and last included)."""
    if candidate.shape != column.shape or candidate.dtype != column.dtype:
        return False
    rows = np.unique(np.linspace(0, len(column) - 1, num=min(samples, len(column))).astype(np.int64))
    return bool(np.array_equal(candidate[rows], column[rows]))


class Segment:
    """Rows of one (collection, partition, channel) segment on a querynode."""

    def __init__(self, segment_id: int, collection_id: int, partition_id: int, channel: str,
                 schema: CollectionSchema, sealed: bool) -> None:
        self.segment_id = segment_id
        self.collection_id = collection_id
        self.partition_id = partition_id
        self.channel = channel
        self.schema = schema
        self.sealed = sealed
        self._fields: dict[str, FieldSchema | None] = {f.name: f for f in schema.column_fields}
        self._fields[TIMESTAMP_COLUMN] = None
        self._pk_name = schema.primary_field.name
        self._lock = threading.Lock()  # guards the published (rows, buffers) pair
        self._write_lock = threading.Lock()  # serialises writers
        self._buffers: dict[str, np.ndarray] = {}
        self._num_rows = 0
        self._max_ts = 0
        self._indexes: dict[str, VectorIndex] = {}
        self._index_nbytes: dict[str, int] = {}
        self._shared: set[str] = set()  # vector columns that are their index's own rows
        self._norms: dict[str, np.ndarray] = {}  # float vector field -> squared norms (prefix)
        self._mask_cache: tuple[tuple, np.ndarray | None] | None = None
        # (rows covered, their primary keys sorted, the row of each sorted key)
        self._pk_index: tuple[int, np.ndarray, np.ndarray] | None = None
        self._pk_lock = threading.Lock()

    # ------------------------------------------------------------------ writing
    @property
    def num_rows(self) -> int:
        return self._num_rows

    @property
    def max_ts(self) -> int:
        """The largest insert timestamp in the segment (0 when empty)."""
        return self._max_ts

    def append(self, batch: Mapping[str, np.ndarray]) -> None:
        """Append rows to a growing segment. ``batch`` must hold every field of the schema and
        ``$ts``, all of one length."""
        if self.sealed:
            raise ParameterInvalid(f"segment {self.segment_id} is sealed; use load()")
        missing = [n for n in self._fields if n not in batch]
        if missing:
            raise FieldNotFound(f"field not found[field={missing[0]}]")
        m = len(batch[TIMESTAMP_COLUMN])
        if any(len(batch[n]) != m for n in self._fields):
            raise ParameterInvalid("columns of the batch have different lengths")
        if m == 0:
            return
        with self._write_lock:
            n = self._num_rows
            buffers = dict(self._buffers)
            capacity = len(buffers[TIMESTAMP_COLUMN]) if buffers else 0
            if n + m > capacity:
                new_cap = max(_INITIAL_CAPACITY, capacity)
                while new_cap < n + m:
                    new_cap *= 2
                for name, f in self._fields.items():
                    grown = np.zeros(new_cap, dtype=np.uint64) if f is None else empty_column(f, new_cap)
                    if n:
                        grown[:n] = buffers[name][:n]
                    buffers[name] = grown
            for name in self._fields:
                buffers[name][n:n + m] = batch[name]
            ts_max = int(np.asarray(batch[TIMESTAMP_COLUMN], dtype=np.uint64).max())
            with self._lock:
                self._buffers = buffers
                self._num_rows = n + m
                self._max_ts = max(self._max_ts, ts_max)

    def load(self, columns: Mapping[str, np.ndarray]) -> None:
        """Set all columns of a sealed segment at once (arrays are kept, not copied)."""
        if not self.sealed:
            raise ParameterInvalid(f"segment {self.segment_id} is growing; use append()")
        missing = [n for n in self._fields if n not in columns]
        if missing:
            raise FieldNotFound(f"field not found[field={missing[0]}]")
        n = len(columns[TIMESTAMP_COLUMN])
        if any(len(columns[name]) != n for name in self._fields):
            raise ParameterInvalid("columns have different lengths")
        ts = np.asarray(columns[TIMESTAMP_COLUMN], dtype=np.uint64)
        with self._write_lock, self._lock:
            self._buffers = {name: columns[name] for name in self._fields}
            self._buffers[TIMESTAMP_COLUMN] = ts
            self._num_rows = n
            self._max_ts = int(ts.max()) if n else 0
            self._norms.clear()
            self._mask_cache = None
            self._pk_index = None

    def set_index(self, field_name: str, index: VectorIndex, nbytes: int = 0) -> None:
        """Attach an index of ``field_name`` built on this segment's rows (in row order);
        ``nbytes``: its size (the index file's), counted by ``memory_size``."""
        self._vector_field(field_name)
        if self.sealed:
            self._share_vectors(field_name, index)
        rows, buffers = self._snapshot()
        if index.num_rows == rows:
            index.attach_raw_vectors(buffers[field_name][:rows])
        self._indexes[field_name] = index
        self._index_nbytes[field_name] = int(nbytes)

    def memory_size(self) -> int:
        """Bytes the segment holds: its columns (the payload of string, JSON and array
        values included) and its indexes. O(rows) for object columns."""
        rows, buffers = self._snapshot()
        total = sum(self._index_nbytes.values())
        for name, column in buffers.items():
            if name in self._shared:
                continue  # counted with its index
            part = column[:rows]
            total += part.nbytes
            if part.dtype == object:
                total += sum(len(v) if isinstance(v, (str, bytes)) else sys.getsizeof(v) for v in part)
        return total

    def index(self, field_name: str) -> VectorIndex | None:
        return self._indexes.get(field_name)

    # ------------------------------------------------------------------ reading
    def columns(self, fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Views of the given columns (default: all, incl. ``$ts``) up to ``num_rows``."""
        rows, buffers = self._snapshot()
        names = list(self._fields) if fields is None else list(fields)
        for name in names:
            self._field(name)
        return {name: buffers[name][:rows] for name in names}

    def take(self, fields: Sequence[str], rows: np.ndarray) -> dict[str, np.ndarray]:
        """Gather ``fields`` at row numbers ``rows`` (copies)."""
        rows = np.asarray(rows, dtype=np.int64)
        n, buffers = self._snapshot()
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise ParameterInvalid(f"row numbers out of range [0, {n})")
        out = {}
        for name in fields:
            self._field(name)
            out[name] = buffers[name][rows]
        return out

    def visible_mask(self, read_ts: int, deletes: Deletes | None) -> np.ndarray | None:
        """Rows visible at ``read_ts``; None when all are visible (see module docstring)."""
        with self._lock:
            rows, buffers, max_ts = self._num_rows, self._buffers, self._max_ts
        latest = read_ts >= max_ts and (deletes is None or read_ts >= deletes.max_ts)
        key = ("latest" if latest else read_ts, deletes.cache_key if deletes is not None else None, rows)
        cached = self._mask_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        ts = buffers[TIMESTAMP_COLUMN][:rows] if rows else np.empty(0, np.uint64)
        mask: np.ndarray | None = None
        if read_ts < max_ts:
            mask = ts <= np.uint64(read_ts)
        if deletes is not None and len(deletes) and rows:
            deleted = deletes.deleted_mask(buffers[self._pk_name][:rows], ts, read_ts, self.partition_id)
            if deleted.any():
                mask = ~deleted if mask is None else mask & ~deleted
        if mask is not None and mask.all():
            mask = None
        self._mask_cache = (key, mask)
        return mask

    def pk_rows(self, values: np.ndarray, rows: int | None = None) -> np.ndarray:
        """Row numbers (ascending, all ``< rows``; default ``num_rows``) whose primary key is in
        ``values`` (int64, or object array of str); see the module doc."""
        n, buffers = self._snapshot()
        rows = n if rows is None else min(rows, n)
        values = np.asarray(values)
        if rows == 0 or values.size == 0:
            return np.empty(0, dtype=np.int64)
        pks = buffers[self._pk_name]
        covered, keys, order = self._sorted_pks(pks, rows)
        values = values.astype(keys.dtype, copy=False)
        lo = np.searchsorted(keys, values, side="left")
        hi = np.searchsorted(keys, values, side="right")
        counts = hi - lo
        if counts.sum():
            starts = np.repeat(lo, counts)
            steps = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            found = order[starts + steps]
            found = found[found < rows]
        else:
            found = np.empty(0, dtype=np.int64)
        if covered < rows:  # the unsorted tail of a growing segment
            tail = np.flatnonzero(np.isin(pks[covered:rows], values)) + covered
            found = np.concatenate([found, tail])
        return np.unique(found)

    def _sorted_pks(self, pks: np.ndarray, rows: int) -> tuple[int, np.ndarray, np.ndarray]:
        """The pk index, rebuilt over the first ``rows`` rows when it is missing or its unsorted
        tail grew past a quarter of it (always complete for a sealed segment)."""
        with self._pk_lock:
            index = self._pk_index
            if index is None or (index[0] < rows and (self.sealed or rows - index[0] > max(1024, index[0] // 4))):
                head = pks[:rows]
                order = np.argsort(head, kind="stable")
                index = (rows, head[order], order.astype(np.int64, copy=False))
                self._pk_index = index
            return index

    def search(self, field_name: str, queries: np.ndarray, k: int, metric: str,
               search_params: Mapping[str, Any] | None = None,
               mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows of ``field_name`` for each query among rows where ``mask`` is True
        (a mask shorter than ``num_rows`` limits the search to its rows)."""
        self._vector_field(field_name)
        rows, buffers = self._snapshot()
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if len(mask) > rows:
                raise ParameterInvalid(f"mask has {len(mask)} rows, the segment {rows}")
            rows = len(mask)  # rows appended after the mask was made are not searched
        metric = str(metric).upper()
        index = self._indexes.get(field_name)
        if index is not None and index.num_rows == rows and index.metric_type == metric:
            return index.search(queries, k, search_params or {}, mask)
        base = buffers[field_name][:rows]
        norms = self._sq_norms(field_name, base) if metric in ("L2", "COSINE") else None
        return brute_force_search(base, queries, k, metric, mask=mask, xp=np, base_sq_norms=norms)

    # ------------------------------------------------------------------ helpers
    def _share_vectors(self, field_name: str, index: VectorIndex) -> None:
        """Make the column of ``field_name`` the index's own rows when it holds exactly them, or
        give it a copy of its own when it was the rows of a replaced index (module doc)."""
        with self._write_lock:
            rows, buffers = self._snapshot()
            column = buffers[field_name]
            raw = index.raw_vectors() if index.num_rows == rows else None
            if raw is not None and not _same_rows(raw, column):
                raw = None
            if raw is None:
                if field_name not in self._shared:
                    return
                raw = np.array(column)  # frees the replaced index, which the column kept alive
                self._shared.discard(field_name)
            else:
                self._shared.add(field_name)
            with self._lock:
                self._buffers = {**self._buffers, field_name: raw}

    def _snapshot(self) -> tuple[int, dict[str, np.ndarray]]:
        with self._lock:
            return self._num_rows, self._buffers

    def _vector_field(self, name: str) -> FieldSchema:
        """The vector field ``name``. Raises FieldNotFound, or ParameterInvalid for another kind."""
        f = self._field(name)
        if f is None or not f.is_vector:
            raise ParameterInvalid(f"field {name} is not a vector field")
        return f

    def _field(self, name: str) -> FieldSchema | None:
        if name not in self._fields:
            raise FieldNotFound(f"field not found[field={name}]")
        return self._fields[name]

    def _sq_norms(self, field_name: str, base: np.ndarray) -> np.ndarray | None:
        """Squared norms of the first ``len(base)`` rows, extended incrementally."""
        if base.dtype != np.float32:
            return None
        with self._lock:
            have = self._norms.get(field_name)
        rows = len(base)
        if have is not None and len(have) >= rows:
            return have[:rows]
        start = 0 if have is None else len(have)
        tail = sq_norms(base[start:rows], np)
        norms = tail if have is None else np.concatenate([have, tail])
        with self._lock:
            current = self._norms.get(field_name)
            if current is None or len(current) < len(norms):
                self._norms[field_name] = norms
        return norms
