"""Glue between a shard and ``Segment``/``DeleteRecord``: building growing and sealed segments,
loading indexes, and ``SegmentView``, the fixed-size view a read works on.

A read captures each segment's row count and column buffers once (``snapshot``), so every step
of the read (visibility, filter, search, gather) sees the same rows even while the consumer
appends to a growing segment.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.index.faiss_index import load_index
from common.schema import CollectionSchema
from common.storage.base import ObjectStorage
from common.types import TIMESTAMP_COLUMN
from dataplane.delete_record import DeleteRecord, Deletes
from dataplane.segment_file import read_segment_file
from nodes.querynode.segment import Segment
from proto.internal import meta_pb2


def new_delete_record(schema: CollectionSchema) -> DeleteRecord:
    return DeleteRecord()


def new_growing(segment_id: int, collection_id: int, partition_id: int, channel: str,
                schema: CollectionSchema) -> Segment:
    return Segment(segment_id, collection_id, partition_id, channel, schema, sealed=False)


def close_growing(seg: Segment) -> None:
    """A SealMsg closed the segment: nothing to do on the object (the shard stops routing rows
    to it), kept as a hook."""


def load_sealed(storage: ObjectStorage, info: meta_pb2.SegmentInfo, schema: CollectionSchema) -> Segment:
    """Read a flushed segment's Parquet file into a sealed Segment."""
    columns = read_segment_file(storage.get(info.insert_log), schema)
    seg = Segment(info.segment_id, info.collection_id, info.partition_id, info.channel, schema, sealed=True)
    if TIMESTAMP_COLUMN not in columns:
        raise ValueError(f"segment file {info.insert_log} has no {TIMESTAMP_COLUMN} column")
    seg.load(columns)
    return seg


def attach_index(seg: Segment, field_name: str, data: bytes) -> None:
    seg.set_index(field_name, load_index(data), nbytes=len(data))


class SegmentView:
    """One segment as a read sees it: ``num_rows`` and columns fixed at snapshot time."""

    def __init__(self, seg: Segment) -> None:
        self.segment = seg
        self.segment_id = seg.segment_id
        self.partition_id = seg.partition_id
        self.sealed = seg.sealed
        self._columns = seg.columns()  # views of every column, one consistent snapshot
        self.num_rows = len(self._columns[TIMESTAMP_COLUMN])

    def columns(self, fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        if fields is None:
            return dict(self._columns)
        return {name: self._columns[name] for name in fields if name in self._columns}

    def column(self, name: str) -> np.ndarray:
        return self._columns[name]

    def take(self, fields: Sequence[str], rows: np.ndarray) -> dict[str, np.ndarray]:
        rows = np.asarray(rows, dtype=np.int64)
        return {name: self._columns[name][rows] for name in fields}

    def pk_rows(self, values: np.ndarray) -> np.ndarray:
        """Rows of the snapshot whose primary key is in ``values`` (the segment's pk index)."""
        return self.segment.pk_rows(values, self.num_rows)

    def visible_rows(self, rows: np.ndarray, read_ts: int, deletes: Deletes | None) -> np.ndarray:
        """The subset of ``rows`` visible at ``read_ts``, computed on those rows only."""
        ts = self._columns[TIMESTAMP_COLUMN][rows]
        keep = ts <= np.uint64(read_ts)
        if deletes is not None and len(deletes):
            pk = self.segment.schema.primary_field.name
            keep &= ~deletes.deleted_mask(self._columns[pk][rows], ts, read_ts, self.partition_id)
        return rows[keep]

    def visible_mask(self, read_ts: int, deletes: Deletes | None) -> np.ndarray | None:
        """Visibility of the snapshot's rows (None: all visible)."""
        mask = self.segment.visible_mask(read_ts, deletes)
        if mask is None:
            return None
        return mask[:self.num_rows]

    def index_metric(self, field_name: str) -> str | None:
        index = self.segment.index(field_name)
        return index.metric_type if index is not None else None

    def search(self, field_name: str, queries: np.ndarray, k: int, metric: str,
               search_params: Mapping[str, Any] | None, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if mask is None and not self.sealed:  # limit a growing segment to the snapshot's rows
            mask = np.ones(self.num_rows, dtype=bool)
        return self.segment.search(field_name, queries, k, metric, search_params, mask)


def snapshot(seg: Segment) -> SegmentView:
    return SegmentView(seg)
