"""Search and query over one shard's segments (a ``ReadView``): visibility ∧ filter masks,
per-segment search, the shard-level top-k merge and the gathering of output fields.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from common.compute.distance import metric_is_ascending
from common.errors import FieldNotFound, ParameterInvalid
from common.expr import ExprPlan, decode_plan
from common.schema import CollectionSchema, FieldSchema, valid_column
from common.types import TIMESTAMP_COLUMN, DataType
from dataplane.columns import empty_column
from dataplane.delete_record import Deletes
from dataplane.fielddata import field_data_from_column
from dataplane.ids import ids_to_proto
from dataplane.reduce import top_distinct
from nodes.querynode.segments import SegmentView
from nodes.querynode.shard import ReadView
from proto.internal import meta_pb2, querynode_pb2
from proto.milvus import schema_pb2


def output_field_schemas(schema: CollectionSchema, names: Sequence[str]) -> list[FieldSchema]:
    """The fields named in ``names`` (``$meta`` for the dynamic field), each once, in order."""
    out: list[FieldSchema] = []
    for name in names:
        f = schema.field(name)
        if f is None:
            raise FieldNotFound(f"field {name} not exist in the collection schema")
        if f not in out:
            out.append(f)
    return out


# Decoded filters by (schema object, text): a filter sent again is not decoded again. Plans are
# immutable, so concurrent reads share them. All are dropped when the cache is full.
MAX_CACHED_FILTERS = 256
MAX_CACHED_FILTER_CHARS = 64 * 1024
_decoded: dict[tuple[int, str], tuple[CollectionSchema, ExprPlan]] = {}


def _filter(scope: querynode_pb2.ReadScope, schema: CollectionSchema) -> ExprPlan | None:
    """The read's compiled filter (checked by the proxy) over this shard's schema; None: every row."""
    text = scope.filter
    if not text:
        return None
    key = (id(schema), text)
    hit = _decoded.get(key)
    if hit is not None and hit[0] is schema:
        return hit[1]
    plan = decode_plan(text, schema)
    if len(text) <= MAX_CACHED_FILTER_CHARS:
        if len(_decoded) >= MAX_CACHED_FILTERS:
            _decoded.clear()
        _decoded[key] = (schema, plan)
    return plan


def _match_mask(view: SegmentView, plan: ExprPlan | None, read_ts: int, deletes: Deletes | None) -> np.ndarray | None:
    """Rows of ``view`` visible at ``read_ts`` and matching ``plan``; None means all rows.
    A plan that is ``pk in [...]`` / ``pk == v`` looks its keys up in the segment's pk index
    and checks visibility and the plan on those rows only."""
    if plan is not None and plan.pk_values is not None and view.num_rows:
        pk = view.segment.schema.primary_field
        keys = np.asarray(plan.pk_values, dtype=object if pk.dtype == DataType.VARCHAR else np.int64)
        rows = view.visible_rows(view.pk_rows(keys), read_ts, deletes)
        out = np.zeros(view.num_rows, dtype=bool)
        if len(rows):
            sub = view.take(sorted(plan.referenced_fields & set(view.columns())), rows)
            out[rows] = np.asarray(plan.evaluate(sub, len(rows)), dtype=bool)
        return out
    mask = view.visible_mask(read_ts, deletes)
    if plan is None or view.num_rows == 0:
        return mask
    matched = np.asarray(plan.evaluate(view.columns(sorted(plan.referenced_fields)), view.num_rows), dtype=bool)
    return matched if mask is None else matched & mask


# ---------------------------------------------------------------------------------------- search
def _query_vectors(plan: querynode_pb2.SearchPlan, field: FieldSchema) -> np.ndarray:
    """The plan's query vectors as an (nq, dim) float32 or (nq, dim / 8) uint8 array; raises
    ParameterInvalid when they do not fit ``field`` of this node's schema."""
    dtype: np.dtype[Any]
    if field.dtype == DataType.FLOAT_VECTOR:
        width, dtype, columns = field.dim * 4, np.dtype("<f4"), field.dim
    elif field.dtype == DataType.BINARY_VECTOR:
        width, dtype, columns = field.dim // 8, np.dtype(np.uint8), field.dim // 8
    else:
        raise ParameterInvalid(f"search on field {field.name} of type {field.dtype.name} is not supported")
    nq, raw = int(plan.nq), plan.vectors
    if nq < 1 or len(raw) != nq * width:
        raise ParameterInvalid(f"vector dimension mismatch: {len(raw)} bytes of query vectors are not {nq} "
                               f"vectors of field {field.name} (dim {field.dim}, {width} bytes each)")
    vectors = np.frombuffer(raw, dtype=dtype).reshape(nq, columns)
    return vectors.astype(np.float32) if field.dtype == DataType.FLOAT_VECTOR else vectors


def _anns_field(schema: CollectionSchema, name: str) -> FieldSchema:
    f = schema.field(name)
    if f is None:
        raise FieldNotFound(f"field {name} not exist in the collection schema")
    if not f.is_vector:
        raise ParameterInvalid(f"field {name} is not a vector field")
    return f


def _check_index(field: FieldSchema, plan: querynode_pb2.SearchPlan, indexes: Sequence[meta_pb2.IndexInfo]) -> None:
    """Raise ParameterInvalid when this shard's index of ``field`` has another metric or type
    than the plan was checked for (the proxy checked it against its own view of the index)."""
    info = next((i for i in indexes if i.field_name == field.name or (i.field_id and i.field_id == field.field_id)),
                None)
    if info is None:
        return
    if info.metric_type and info.metric_type.upper() != plan.metric_type:
        raise ParameterInvalid(f"metric type not match: invalid parameter[expected={info.metric_type.upper()}]"
                               f"[actual={plan.metric_type}]")
    if info.index_type and info.index_type.upper() != plan.index_type:
        raise ParameterInvalid(f"index type not match: invalid parameter[expected={info.index_type.upper()}]"
                               f"[actual={plan.index_type}]")


def _index_search_params(params: querynode_pb2.IndexSearchParams) -> dict[str, int]:
    """The typed index search params as the dict segments and indexes take."""
    out: dict[str, int] = {}
    if params.HasField("ef"):
        out["ef"] = params.ef
    if params.HasField("nprobe"):
        out["nprobe"] = params.nprobe
    return out


def search(view: ReadView, schema: CollectionSchema, request: querynode_pb2.ShardSearchRequest,
           indexes: Sequence[meta_pb2.IndexInfo]) -> schema_pb2.SearchResultData:
    """Top-k of the shard's segments (see module doc) for the proxy's checked plan; only what
    concerns this node's own schema and indexes is checked here."""
    scope, plan = request.scope, request.plan
    field = _anns_field(schema, plan.anns_field)
    _check_index(field, plan, indexes)
    queries = _query_vectors(plan, field)
    nq, topk, metric = queries.shape[0], int(plan.topk), plan.metric_type
    params = _index_search_params(plan.params)
    filter_plan = _filter(scope, schema)
    outputs = output_field_schemas(schema, scope.output_fields)
    pk = schema.primary_field
    ascending = metric_is_ascending(metric)

    hits: list[tuple[int, np.ndarray, np.ndarray]] = []  # (segment index, distances, row numbers)
    for i, v in enumerate(view.segments):
        if v.num_rows == 0:
            continue
        mask = _match_mask(v, filter_plan, scope.read_ts, view.deletes)
        if mask is not None and not mask.any():
            continue
        d, r = v.search(field.name, queries, min(topk, v.num_rows), metric, params, mask)
        hits.append((i, np.asarray(d, dtype=np.float32), np.asarray(r, dtype=np.int64)))
    return _reduce(view, nq, topk, ascending, hits, pk, outputs)


def _reduce(view: ReadView, nq: int, topk: int, ascending: bool, hits: list[tuple[int, np.ndarray, np.ndarray]],
            pk: FieldSchema, outputs: Sequence[FieldSchema]) -> schema_pb2.SearchResultData:
    """The shard's top-k over every segment's hits (each primary key once, at its best)."""
    str_ids = pk.dtype != DataType.INT64
    result = schema_pb2.SearchResultData(num_queries=nq, top_k=topk, primary_field_name=pk.name)
    result.output_fields.extend(f.name for f in outputs)
    if not hits:
        result.topks.extend([0] * nq)
        result.ids.CopyFrom(ids_to_proto(np.empty(0, dtype=object if str_ids else np.int64), pk.dtype))
        for f in outputs:
            result.fields_data.append(field_data_from_column(f, empty_column(f)))
        return result
    d = np.concatenate([h[1] for h in hits], axis=1) if len(hits) > 1 else hits[0][1]
    r = np.concatenate([h[2] for h in hits], axis=1) if len(hits) > 1 else hits[0][2]
    valid = r >= 0
    # Primary keys of every candidate, segment by segment (empty slots, row -1: that of the
    # last row, never used; searched segments have rows).
    pk_blocks = [view.segments[i].column(pk.name)[rows] for i, _, rows in hits]
    pks = np.concatenate(pk_blocks, axis=1) if len(pk_blocks) > 1 else pk_blocks[0]
    q, c, topks = top_distinct(d if ascending else -d, pks, valid, topk)
    result.topks.extend(topks.tolist())
    result.scores.extend(d[q, c].tolist())
    result.ids.CopyFrom(ids_to_proto(pks[q, c], pk.dtype))
    if outputs:
        segment_of_column = np.repeat([i for i, _, _ in hits], [rows.shape[1] for _, _, rows in hits])
        result.fields_data.extend(_gather(view, outputs, segment_of_column[c], r[q, c]))
    return result


def _gather(view: ReadView, fields: Sequence[FieldSchema], segs: np.ndarray,
            rows: np.ndarray) -> list[schema_pb2.FieldData]:
    """FieldData of ``fields`` for hits (segment index, row), in hit order."""
    if not fields:
        return []
    names = [f.name for f in fields] + [valid_column(f.name) for f in fields if f.nullable]
    out = {f.name: empty_column(f, len(rows)) for f in fields}
    out.update({valid_column(f.name): np.zeros(len(rows), dtype=bool) for f in fields if f.nullable})
    for i in np.unique(segs):
        sel = segs == i
        taken = view.segments[i].take(names, rows[sel])
        for name in names:
            out[name][sel] = taken[name]
    return [field_data_from_column(f, out[f.name], out.get(valid_column(f.name))) for f in fields]


# ----------------------------------------------------------------------------------------- query
def query(view: ReadView, schema: CollectionSchema,
          request: querynode_pb2.ShardQueryRequest) -> tuple[list[schema_pb2.FieldData], int]:
    """(fields_data sorted by primary key, count). ``count_only`` gives only the count of
    matching rows; otherwise the output fields plus the primary key, each key once (its latest
    row), at most ``limit`` rows (``-1``: all)."""
    scope = request.scope
    plan = _filter(scope, schema)
    pk = schema.primary_field
    if request.count_only:
        count = 0
        for v in view.segments:
            if v.num_rows:
                mask = _match_mask(v, plan, scope.read_ts, view.deletes)
                count += v.num_rows if mask is None else int(np.count_nonzero(mask))
        return [], count
    outputs = output_field_schemas(schema, scope.output_fields)
    if pk not in outputs:
        outputs = [pk, *outputs]
    pk_parts, ts_parts, seg_parts, row_parts = [], [], [], []
    for i, v in enumerate(view.segments):
        if v.num_rows == 0:
            continue
        mask = _match_mask(v, plan, scope.read_ts, view.deletes)
        rows = np.arange(v.num_rows, dtype=np.int64) if mask is None else np.flatnonzero(mask)
        if len(rows):
            taken = v.take([pk.name, TIMESTAMP_COLUMN], rows)
            pk_parts.append(taken[pk.name])
            ts_parts.append(taken[TIMESTAMP_COLUMN])
            seg_parts.append(np.full(len(rows), i, dtype=np.int64))
            row_parts.append(rows)
    if not pk_parts:
        return [field_data_from_column(f, empty_column(f)) for f in outputs], 0
    pks = np.concatenate(pk_parts)
    ts = np.concatenate(ts_parts).astype(np.uint64)
    # Sort by pk, the latest row of a pk first, and keep one row per pk.
    order = np.argsort(ts, kind="stable")[::-1]
    order = order[np.argsort(pks[order], kind="stable")]
    sorted_pks = pks[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_pks[1:] != sorted_pks[:-1]
    order = order[first]
    limit = int(request.limit)
    if limit >= 0:
        order = order[:limit]
    segs, rows = np.concatenate(seg_parts)[order], np.concatenate(row_parts)[order]
    return _gather(view, outputs, segs, rows), len(order)
