"""Search and query over one shard's segments (a ``ReadView``): visibility ∧ filter masks,
per-segment search, the shard-level top-k merge and the gathering of output fields.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Sequence

import numpy as np

from common.compute.distance import metric_is_ascending
from common.errors import FieldNotFound, ParameterInvalid
from common.expr import compile_expr
from common.index.params import default_metric, validate_search_params
from common.schema import CollectionSchema, FieldSchema, valid_column
from common.template_values import template_values_from_proto
from common.types import TIMESTAMP_COLUMN, DataType
from dataplane.columns import empty_column
from dataplane.fielddata import field_data_from_column
from dataplane.ids import ids_to_proto
from dataplane.reduce import top_distinct
from proto.internal import meta_pb2, querynode_pb2
from proto.milvus import common_pb2, schema_pb2

_PLACEHOLDER_FOR = {DataType.FLOAT_VECTOR: common_pb2.FloatVector, DataType.BINARY_VECTOR: common_pb2.BinaryVector}


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


def _compile(scope: querynode_pb2.ReadScope, schema: CollectionSchema):  # type: ignore[no-untyped-def]
    if not scope.expr:
        return None
    plan = compile_expr(scope.expr, schema, template_values_from_proto(scope.expr_template_values))
    return None if plan.is_always_true else plan


def _match_mask(view, plan, read_ts: int, deletes) -> np.ndarray | None:  # type: ignore[no-untyped-def]
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
def parse_placeholder_group(raw: bytes, field: FieldSchema, nq: int) -> np.ndarray:
    """The query vectors of a serialized PlaceholderGroup, checked against ``field``."""
    try:
        group = common_pb2.PlaceholderGroup.FromString(raw)
    except Exception:  # noqa: BLE001 - undecodable input
        raise ParameterInvalid("the placeholder group of the search request cannot be decoded") from None
    if not group.placeholders:
        raise ParameterInvalid("the search request carries no query vectors")
    ph = group.placeholders[0]
    values = list(ph.values)
    if nq and len(values) != nq:
        raise ParameterInvalid(f"nq ({nq}) does not match the number of query vectors ({len(values)})")
    expected = _PLACEHOLDER_FOR.get(field.dtype)
    if expected is None:
        raise ParameterInvalid(f"search on field {field.name} of type {field.dtype.name} is not supported")
    if ph.type != expected:
        raise ParameterInvalid(
            f"the query vectors' type ({common_pb2.PlaceholderType.Name(ph.type)}) does not match "
            f"field {field.name} ({field.dtype.name})")
    width = field.dim * 4 if field.dtype == DataType.FLOAT_VECTOR else field.dim // 8
    for v in values:
        if len(v) != width:
            got = len(v) // 4 if field.dtype == DataType.FLOAT_VECTOR else len(v) * 8
            raise ParameterInvalid(f"vector dimension mismatch, expected vector size(byte) {width}, actual "
                                   f"{len(v)} (dim {got} vs field {field.name} dim {field.dim})")
    if field.dtype == DataType.FLOAT_VECTOR:
        return np.frombuffer(b"".join(values), dtype="<f4").reshape(len(values), field.dim).astype(np.float32)
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), field.dim // 8)


def _anns_field(schema: CollectionSchema, name: str) -> FieldSchema:
    if not name:
        vectors = schema.vector_fields
        if len(vectors) != 1:
            raise ParameterInvalid("anns_field is required when the collection has several vector fields")
        return vectors[0]
    f = schema.field(name)
    if f is None:
        raise FieldNotFound(f"field {name} not exist in the collection schema")
    if not f.is_vector:
        raise ParameterInvalid(f"field {name} is not a vector field")
    return f


def resolve_metric(field: FieldSchema, requested: str, indexes: Sequence[meta_pb2.IndexInfo]) -> tuple[str, str]:
    """(metric, index type) for a search on ``field``: the index's metric unless none exists;
    a requested metric different from the index's is an error."""
    requested = (requested or "").strip().upper()
    info = next((i for i in indexes if i.field_name == field.name or (i.field_id and i.field_id == field.field_id)),
                None)
    if info is not None and info.metric_type:
        index_metric = info.metric_type.upper()
        if requested and requested != index_metric:
            raise ParameterInvalid(
                f"metric type not match: invalid parameter[expected={index_metric}][actual={requested}]")
        return index_metric, _index_type(info.index_type, info.params_json) or "FLAT"
    return requested or default_metric(field.dtype), "FLAT"


@functools.lru_cache(maxsize=256)
def _index_type(declared: str, params_json: str) -> str:
    """The index type an index was built as: ``index_type`` in its params (an AUTOINDEX
    resolved) or else ``declared``."""
    if params_json:
        try:
            return json.loads(params_json).get("index_type", declared)
        except (ValueError, AttributeError):
            pass
    return declared


@functools.lru_cache(maxsize=1024)
def _search_params(index_type: str, params_json: str, topk: int) -> dict:
    """The search params of a request (JSON object text), checked for ``index_type`` and
    ``topk``. Cached: the returned dict is shared and must not be modified."""
    try:
        params = json.loads(params_json) if params_json else {}
    except ValueError:
        raise ParameterInvalid(f"search params are not valid JSON: {params_json!r}") from None
    if not isinstance(params, dict):
        raise ParameterInvalid(f"search params must be a JSON object, got {params_json!r}")
    validate_search_params(index_type, params, topk)
    return params


def search_metric(schema: CollectionSchema, request: querynode_pb2.ShardSearchRequest,
                  indexes: Sequence[meta_pb2.IndexInfo]) -> str:
    """The metric a search runs with (see ``resolve_metric``)."""
    return resolve_metric(_anns_field(schema, request.anns_field), request.metric_type, indexes)[0]


def search(view, schema: CollectionSchema, request: querynode_pb2.ShardSearchRequest,  # type: ignore[no-untyped-def]
           indexes: Sequence[meta_pb2.IndexInfo]) -> schema_pb2.SearchResultData:
    """Top-k of the shard's segments (see module doc)."""
    scope = request.scope
    field = _anns_field(schema, request.anns_field)
    topk = int(request.topk)
    if topk <= 0:
        raise ParameterInvalid(f"topk should be larger than 0, got {topk}")
    queries = parse_placeholder_group(request.placeholder_group, field, int(request.nq))
    nq = queries.shape[0]
    metric, index_type = resolve_metric(field, request.metric_type, indexes)
    params = _search_params(index_type, request.params_json, topk)
    plan = _compile(scope, schema)
    outputs = output_field_schemas(schema, scope.output_fields)
    pk = schema.primary_field
    ascending = metric_is_ascending(metric)

    hits: list[tuple[int, np.ndarray, np.ndarray]] = []  # (segment index, distances, row numbers)
    for i, v in enumerate(view.segments):
        if v.num_rows == 0:
            continue
        mask = _match_mask(v, plan, scope.read_ts, view.deletes)
        if mask is not None and not mask.any():
            continue
        d, r = v.search(field.name, queries, min(topk, v.num_rows), metric, params, mask)
        hits.append((i, np.asarray(d, dtype=np.float32), np.asarray(r, dtype=np.int64)))
    return _reduce(view, nq, topk, ascending, hits, pk, outputs)


def _reduce(view, nq: int, topk: int, ascending: bool, hits: list[tuple[int, np.ndarray, np.ndarray]],  # type: ignore[no-untyped-def]
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


def _gather(view, fields: Sequence[FieldSchema], segs: np.ndarray, rows: np.ndarray) -> list[schema_pb2.FieldData]:  # type: ignore[no-untyped-def]
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
def query(view, schema: CollectionSchema, request: querynode_pb2.ShardQueryRequest) -> tuple[list, int]:  # type: ignore[no-untyped-def]
    """(fields_data sorted by primary key, count). ``count_only`` gives only the count of
    matching rows; otherwise the output fields plus the primary key, each key once (its latest
    row), at most ``limit`` rows (``-1``: all)."""
    scope = request.scope
    plan = _compile(scope, schema)
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
