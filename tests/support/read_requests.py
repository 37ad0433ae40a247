"""Querynode read requests as the proxy builds them (a compiled filter, a checked search plan),
for the tests that call a querynode or its executor directly."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from common.expr import compile_expr, encode_plan
from common.index.params import default_metric, validate_search_params
from common.schema import CollectionSchema, FieldSchema
from common.types import DataType
from proto.internal import querynode_pb2


def compiled_filter(expr: str, schema: CollectionSchema, templates: Mapping[str, Any] | None = None) -> str:
    """``ReadScope.filter`` for ``expr``."""
    return encode_plan(compile_expr(expr, schema, templates))


def search_plan(field: FieldSchema, queries: np.ndarray, topk: int, *, metric: str = "", index_type: str = "FLAT",
                params: Mapping[str, Any] | None = None) -> querynode_pb2.SearchPlan:
    """The plan of a search on ``field`` for ``queries`` (float rows, or uint8 codes of a binary
    field): ``params`` checked for ``index_type``, the field type's default metric unless given."""
    dtype = "<f4" if field.dtype == DataType.FLOAT_VECTOR else np.uint8
    checked = validate_search_params(index_type, params or {}, topk)
    return querynode_pb2.SearchPlan(
        anns_field=field.name, metric_type=metric or default_metric(field.dtype), index_type=index_type,
        params=querynode_pb2.IndexSearchParams(**checked), nq=len(queries), topk=topk,
        vectors=np.ascontiguousarray(queries, dtype=dtype).tobytes())
