"""Validation of index build and search parameters, with Milvus's ranges and messages.

``validate_index_params`` returns one flat, normalised dict::

    {"index_type": "IVF_FLAT", "metric_type": "L2", "nlist": 128}

- ``index_type`` / ``metric_type`` are upper-case. An empty metric takes ``default_metric(dtype)``
  (COSINE for float vectors, HAMMING for binary, as Milvus 2.4+).
- ``AUTOINDEX`` resolves to a concrete type (the returned ``index_type`` is that type):
  float vectors -> ``HNSW`` with ``M=16, efConstruction=200`` (unless given); binary vectors ->
  ``BIN_IVF_FLAT`` with ``nlist=128`` (Milvus uses HNSW M=18/efC=240 and BIN_IVF_FLAT
  nlist=1024; the smaller values build faster here with the same recall at our segment sizes).
- Build parameters are ints (strings such as ``"128"`` are accepted, as they arrive over the
  wire); unknown keys are dropped. A nested ``params`` key (a mapping or a JSON string, as in
  Milvus's ``index_params``) is merged in.
- Defaults: ``nlist`` 128; ``IVF_PQ`` ``nbits`` 8 and ``m`` = the largest divisor of ``dim`` that is
  ``<= dim // 4`` (Milvus requires ``m``; we pick one); ``HNSW`` ``M`` 16, ``efConstruction`` 200.

Metrics: L2, IP, COSINE for float vectors; HAMMING, JACCARD, TANIMOTO for binary vectors (both
binary index types, as Milvus 2.0).

Errors are all ``ParameterInvalid`` (code 1100, as Milvus 2.x answers them), with Milvus's
wording: ``invalid index type: X``; ``data type BinaryVector can't build with this index HNSW``;
``float vector index does not support metric type: HAMMING``; a value out of range
(``Out of range in json: param 'nlist' (0) should be in range [1, 65536]``, knowhere's wording)
or not an integer; ``m`` that does not divide ``dim``. ``IndexNotSupported`` only for a field
type that has no vector index at all.

``validate_search_params`` returns ``{"nprobe": int}`` for IVF types, ``{"ef": int}`` for HNSW and
``{}`` for FLAT types. Defaults: ``nprobe`` 8 (knowhere's), ``ef`` ``max(k, 64)`` (knowhere uses
``max(k, 16)``; 64 gives usable recall). ``ef`` must be in ``[k, 32768]``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from common.compute.distance import BINARY_METRICS, FLOAT_METRICS
from common.errors import IndexNotSupported, ParameterInvalid
from common.types import DataType

FLOAT_INDEX_TYPES = ("FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW")
BINARY_INDEX_TYPES = ("BIN_FLAT", "BIN_IVF_FLAT")
IVF_INDEX_TYPES = frozenset({"IVF_FLAT", "IVF_SQ8", "IVF_PQ", "BIN_IVF_FLAT"})
AUTOINDEX = "AUTOINDEX"

INT32_MAX = 2147483647
NLIST_RANGE = (1, 65536)
NPROBE_RANGE = (1, 65536)
PQ_NBITS_RANGE = (1, 16)
PQ_M_RANGE = (1, 65536)
HNSW_M_RANGE = (2, 2048)
HNSW_EFC_RANGE = (1, INT32_MAX)
HNSW_EF_MAX = 32768

DEFAULT_NLIST = 128
DEFAULT_NPROBE = 8
DEFAULT_PQ_NBITS = 8
DEFAULT_HNSW_M = 16
DEFAULT_HNSW_EFC = 200
DEFAULT_HNSW_EF = 64
AUTOINDEX_BINARY_NLIST = 128

_FLOAT_DTYPES = frozenset({DataType.FLOAT_VECTOR})
_BINARY_DTYPES = frozenset({DataType.BINARY_VECTOR})
_TYPE_NAMES = {DataType.FLOAT_VECTOR: "FloatVector", DataType.BINARY_VECTOR: "BinaryVector"}


def default_metric(dtype: DataType) -> str:
    """Milvus's default metric: HAMMING for binary vectors, COSINE otherwise."""
    return "HAMMING" if DataType(dtype) == DataType.BINARY_VECTOR else "COSINE"


def validate_index_params(index_type: str, metric_type: str, params: Mapping[str, Any],
                          dtype: DataType, dim: int) -> dict[str, Any]:
    """Check an index definition for a vector field and return it normalised (see module doc)."""
    dtype = DataType(dtype)
    itype = str(index_type or AUTOINDEX).strip().upper()
    params = _flatten(params)
    binary = dtype in _BINARY_DTYPES
    if dtype not in _FLOAT_DTYPES and not binary:
        raise IndexNotSupported(f"data type {dtype.name} is not supported by vector indexes")
    if itype == AUTOINDEX:
        itype = "BIN_IVF_FLAT" if binary else "HNSW"
        if binary:
            params.setdefault("nlist", AUTOINDEX_BINARY_NLIST)
    if itype not in FLOAT_INDEX_TYPES and itype not in BINARY_INDEX_TYPES:
        raise ParameterInvalid(f"invalid index type: {index_type}")
    if binary != (itype in BINARY_INDEX_TYPES):
        raise ParameterInvalid(f"data type {_TYPE_NAMES[dtype]} can't build with this index {itype}")

    metric = str(metric_type or "").strip().upper() or default_metric(dtype)
    supported = BINARY_METRICS if binary else FLOAT_METRICS
    if metric not in supported:
        raise ParameterInvalid(
            f"{'binary' if binary else 'float'} vector index does not support metric type: "
            f"{metric_type}, supported: [{' '.join(supported)}]")

    out: dict[str, Any] = {"index_type": itype, "metric_type": metric}
    if itype in IVF_INDEX_TYPES:
        out["nlist"] = _int_param(params, "nlist", DEFAULT_NLIST, NLIST_RANGE)
    if itype == "IVF_PQ":
        out["m"] = _int_param(params, "m", _default_pq_m(dim), PQ_M_RANGE)
        out["nbits"] = _int_param(params, "nbits", DEFAULT_PQ_NBITS, PQ_NBITS_RANGE)
        if dim % out["m"] != 0:
            raise ParameterInvalid(
                f"The dimension of the vector (dim) should be a multiple of the number of "
                f"subquantizers (m). Dimension:{dim}, m:{out['m']}")
    if itype == "HNSW":
        out["M"] = _int_param(params, "M", DEFAULT_HNSW_M, HNSW_M_RANGE)
        out["efConstruction"] = _int_param(params, "efConstruction", DEFAULT_HNSW_EFC,
                                           HNSW_EFC_RANGE)
    return out


def validate_search_params(index_type: str, params: Mapping[str, Any], k: int) -> dict[str, Any]:
    """Check search parameters for ``index_type`` (already resolved, e.g. from
    ``validate_index_params``) and top ``k``; unknown keys are ignored."""
    itype = str(index_type or "FLAT").strip().upper()
    params = _flatten(params)
    if itype in IVF_INDEX_TYPES:
        return {"nprobe": _int_param(params, "nprobe", DEFAULT_NPROBE, NPROBE_RANGE)}
    if itype in ("HNSW", AUTOINDEX):
        ef = _int_param(params, "ef", max(int(k), DEFAULT_HNSW_EF), (1, HNSW_EF_MAX))
        if ef < k:
            raise ParameterInvalid(f"ef({ef}) should be larger than k({k})")
        return {"ef": ef}
    if itype in ("FLAT", "BIN_FLAT"):
        return {}
    raise ParameterInvalid(f"invalid index type: {index_type}")


# ----------------------------------------------------------------------------------------------
def _flatten(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``params`` with a nested ``params`` (mapping or JSON text) merged in."""
    out = dict(params or {})
    nested = out.pop("params", None)
    if isinstance(nested, (str, bytes)):
        try:
            nested = json.loads(nested or "{}")
        except ValueError as exc:
            raise ParameterInvalid(f"invalid params: {nested!r} is not JSON") from exc
    if isinstance(nested, Mapping):
        for key, value in nested.items():
            out.setdefault(key, value)
    elif nested is not None:
        raise ParameterInvalid(f"invalid params: {nested!r}")
    return out


def _int_param(params: Mapping[str, Any], name: str, default: int,
               bounds: tuple[int, int]) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    value = _as_int(name, raw)
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ParameterInvalid(
            f"Out of range in json: param '{name}' ({value}) should be in range [{lo}, {hi}]")
    return value


def _as_int(name: str, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ParameterInvalid(f"Type conflict in json: param '{name}' ({raw}) should be integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, (str, bytes)):
        text = raw.decode() if isinstance(raw, bytes) else raw
        try:
            return int(text.strip())
        except ValueError:
            pass
    raise ParameterInvalid(f"Type conflict in json: param '{name}' ({raw}) should be integer")


def _default_pq_m(dim: int) -> int:
    """Largest divisor of ``dim`` not above ``dim // 4`` (at least 1)."""
    limit = max(1, dim // 4)
    return next(m for m in range(limit, 0, -1) if dim % m == 0)
