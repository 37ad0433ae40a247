"""Parsing of the request parameters pymilvus sends (wire reference §5, §6, §8): search params,
query params, index params and output fields. Every function validates and raises
ParameterInvalid with a message naming the parameter."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.errors import FieldNotFound, ParameterInvalid
from common.index.params import default_metric
from common.schema import CollectionSchema, FieldSchema
from common.types import DYNAMIC_FIELD_NAME, DataType

COUNT_STAR = "count(*)"


def kv_dict(pairs: Iterable[Any]) -> dict[str, str]:
    """A KeyValuePair list as a dict (later keys win)."""
    return {kv.key: kv.value for kv in pairs}


def parse_int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(float(value)) if isinstance(value, str) and "." in value else int(value)
    except (TypeError, ValueError):
        raise ParameterInvalid(f"{name} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ParameterInvalid(f"{name} {number} is out of range [{low}, {high}]")
    return number


def parse_json_object(text: str, name: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ParameterInvalid(f"{name} is not valid JSON: {text!r}") from None
    if not isinstance(value, dict):
        raise ParameterInvalid(f"{name} must be a JSON object, got {text!r}")
    return value


@dataclass
class SearchParams:
    topk: int
    offset: int
    metric_type: str
    anns_field: str
    round_decimal: int
    params: dict[str, Any] = field(default_factory=dict)


def parse_search_params(pairs: Iterable[Any], schema: CollectionSchema, max_topk: int) -> SearchParams:
    """The search parameters of a SearchRequest. ``anns_field`` defaults to the only vector
    field; ``metric_type`` may stay empty (the index's metric is used)."""
    raw = kv_dict(pairs)
    if "topk" not in raw:
        raise ParameterInvalid("topk (limit) is missing from the search parameters")
    topk = parse_int(raw["topk"], "limit", 1, max_topk)
    offset = parse_int(raw.get("offset", "0") or "0", "offset", 0, max_topk)
    if topk + offset > max_topk:
        raise ParameterInvalid(f"limit + offset ({topk + offset}) must be at most {max_topk}")
    params = parse_json_object(raw.get("params", ""), "search params")
    metric = (raw.get("metric_type") or str(params.get("metric_type", "") or "")).upper()
    anns_field = raw.get("anns_field", "")
    vectors = schema.vector_fields
    if not anns_field:
        if len(vectors) != 1:
            raise ParameterInvalid("anns_field must be given: the collection has several vector fields")
        anns_field = vectors[0].name
    target = schema.field(anns_field)
    if target is None:
        raise FieldNotFound(f"field not found[field={anns_field}]")
    if not target.is_vector:
        raise ParameterInvalid(f"field {anns_field} is not a vector field")
    round_decimal = parse_int(raw.get("round_decimal", "-1") or "-1", "round_decimal", -1, 6)
    return SearchParams(topk, offset, metric, anns_field, round_decimal, params)


@dataclass
class QueryParams:
    limit: int  # -1: none
    offset: int


def parse_query_params(pairs: Iterable[Any], max_topk: int) -> QueryParams:
    raw = kv_dict(pairs)
    limit = parse_int(raw["limit"], "limit", 1, max_topk) if raw.get("limit") else -1
    offset = parse_int(raw.get("offset") or "0", "offset", 0, max_topk)
    if limit > 0 and limit + offset > max_topk:
        raise ParameterInvalid(f"limit + offset ({limit + offset}) must be at most {max_topk}")
    return QueryParams(limit, offset)


@dataclass
class OutputFields:
    names: list[str]          # what the response echoes in output_fields (expanded, no "*")
    fetch: list[FieldSchema]  # schema fields (the dynamic $meta included) the nodes must return


def resolve_output_fields(requested: Sequence[str], schema: CollectionSchema, *, include_pk: bool) -> OutputFields:
    """Expand ``*``, map names that are not schema fields to dynamic keys, and check them.

    Raises FieldNotFound for an unknown name when the collection has no dynamic field.
    """
    names: list[str] = []
    fetch: list[FieldSchema] = []

    def add_fetch(f: FieldSchema) -> None:
        if f not in fetch:
            fetch.append(f)

    if include_pk:
        add_fetch(schema.primary_field)
    for name in requested:
        name = name.strip()
        if not name:
            continue
        if name == "*":
            for f in schema.user_fields:
                add_fetch(f)
                if f.name not in names:
                    names.append(f.name)
            if schema.dynamic_field is not None:
                add_fetch(schema.dynamic_field)
            continue
        named = schema.field(name)
        if named is not None and not named.is_dynamic:
            add_fetch(named)
        elif schema.dynamic_field is not None:
            add_fetch(schema.dynamic_field)
        else:
            raise FieldNotFound(f"field {name} not exist")
        if name not in names and name != DYNAMIC_FIELD_NAME:
            names.append(name)
    return OutputFields(names, fetch)


@dataclass
class IndexRequest:
    index_type: str
    metric_type: str
    params: dict[str, Any]


def parse_index_params(pairs: Iterable[Any], dtype: DataType) -> IndexRequest:
    """Index parameters in either style pymilvus sends them: ORM ``params='{"nlist":16}'`` or
    MilvusClient's flattened keys. Defaults: AUTOINDEX, COSINE (float) / HAMMING (binary)."""
    raw = kv_dict(pairs)
    params: dict[str, Any] = parse_json_object(raw.pop("params", ""), "index params")
    index_type = str(raw.pop("index_type", "") or params.pop("index_type", "") or "AUTOINDEX").upper()
    metric = str(raw.pop("metric_type", "") or params.pop("metric_type", "") or default_metric(dtype)).upper()
    params.update(raw)
    return IndexRequest(index_type, metric, _numbers(params))


def _numbers(params: Mapping[str, Any]) -> dict[str, Any]:
    """Index params arrive as strings; turn numeric strings into numbers."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                try:
                    value = float(value)
                except ValueError:
                    pass
        out[key] = value
    return out
