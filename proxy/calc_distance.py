"""The CalcDistance RPC: the distances between two arrays of vectors, as Milvus 2.0 computes them.

Each side (``op_left``, ``op_right``) is either inline vectors (``data_array``: a
``schema.VectorField`` with ``dim`` and float or binary data) or ``id_array`` (``VectorIDs``:
collection, vector field, primary keys and optional partitions), whose vectors are read with a
Strong query through the querynodes (the collection must be loaded), in the order of the ids.

The metric is the ``metric`` parameter (``metric_type`` is accepted too), case-insensitive:
L2 (squared), IP, COSINE (similarity) for float vectors; HAMMING, TANIMOTO, JACCARD for binary
vectors. The answer is the ``len(left) x len(right)`` matrix flattened row by row
(``[D(L1,R1), D(L1,R2), ..., D(L2,R1), ...]``): ``int_dist`` for HAMMING, ``float_dist`` for
every other metric. TANIMOTO is Milvus 2.0's CalcDistance value ``(dim - h) / (dim + h)`` with
``h`` the Hamming distance (a similarity, 1 for equal vectors); JACCARD is
``1 - |a&b| / |a|b|``. Kernels run on the array module of ``common.compute.backend`` (CuPy on a
GPU).

Errors: ParameterInvalid (1100) for a missing or unknown metric, a metric that does not fit the
vector type, sides of different vector types or dimensions, malformed inline vectors, ids that
are not found, a non-vector field, or a result above ``MAX_DISTANCES`` values; CollectionNotFound
(100), FieldNotFound (1700), CollectionNotLoaded (101) for id arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.compute import backend
from common.compute.distance import BINARY_METRICS, FLOAT_METRICS, pairwise_distances
from common.errors import FieldNotFound, ParameterInvalid
from common.schema import FieldSchema
from common.status import success
from common.schema_proto import wire_data_type
from common.types import DataType
from dataplane.fielddata import field_columns
from dataplane.ids import ids_column_of, ids_from_proto
from proto.milvus import common_pb2, milvus_pb2, schema_pb2
from proxy.env import ProxyEnv
from proxy.params import kv_dict
from proxy.read import ReadTasks

#: Most values one answer may hold (64 MiB of float32).
MAX_DISTANCES = 1 << 24
_IDS_TEMPLATE = "calc_distance_ids"


@dataclass
class _Vectors:
    dtype: DataType  # FLOAT_VECTOR or BINARY_VECTOR
    dim: int
    rows: np.ndarray  # float32 (n, dim) or uint8 (n, dim // 8)


class CalcDistanceTask:
    def __init__(self, env: ProxyEnv, read: ReadTasks) -> None:
        self._env = env
        self._read = read

    def calc_distance(self, request: milvus_pb2.CalcDistanceRequest) -> milvus_pb2.CalcDistanceResults:
        params = kv_dict(request.params)
        metric = (params.get("metric") or params.get("metric_type") or "").strip().upper()
        if not metric:
            raise ParameterInvalid("the metric type is missing: pass params {\"metric\": \"L2\"} (or IP, COSINE, "
                                   "HAMMING, TANIMOTO, JACCARD)")
        if metric not in FLOAT_METRICS and metric not in BINARY_METRICS:
            raise ParameterInvalid(f"invalid metric type {metric}: supported are "
                                   f"{', '.join(FLOAT_METRICS + BINARY_METRICS)}")
        left = self._vectors(request.op_left, "op_left")
        right = self._vectors(request.op_right, "op_right")
        if left.dtype != right.dtype:
            raise ParameterInvalid(f"cannot compute distances between {_kind(left)} vectors (op_left) and "
                                   f"{_kind(right)} vectors (op_right)")
        if left.dim != right.dim:
            raise ParameterInvalid(
                f"vector dimension mismatch: op_left has dim {left.dim}, op_right has dim {right.dim}")
        binary = left.dtype == DataType.BINARY_VECTOR
        if binary != (metric in BINARY_METRICS):
            allowed = BINARY_METRICS if binary else FLOAT_METRICS
            raise ParameterInvalid(f"metric type {metric} does not fit {_kind(left)} vectors: use one of "
                                   f"{', '.join(allowed)}")
        count = len(left.rows) * len(right.rows)
        if count > MAX_DISTANCES:
            raise ParameterInvalid(f"too many distances requested: {len(left.rows)} x {len(right.rows)} = {count}, "
                                   f"at most {MAX_DISTANCES}")
        return _answer(left, right, metric)

    # ------------------------------------------------------------------------------------------
    def _vectors(self, array: milvus_pb2.VectorsArray, side: str) -> _Vectors:
        kind = array.WhichOneof("array")
        if kind == "data_array":
            return _inline(array.data_array, side)
        if kind == "id_array":
            return self._by_ids(array.id_array, side)
        raise ParameterInvalid(f"{side} holds no vectors: set data_array or id_array")

    def _by_ids(self, ids: milvus_pb2.VectorIDs, side: str) -> _Vectors:
        collection = self._env.cache.get(ids.collection_name)
        schema = collection.schema
        field = schema.field(ids.field_name)
        if field is None or field.is_dynamic:
            raise FieldNotFound(f"field not found[field={ids.field_name}] in collection {ids.collection_name}")
        if not field.is_vector:
            raise ParameterInvalid(f"field {field.name} of {side} is not a vector field")
        wanted = ids_from_proto(ids.id_array)
        if len(wanted) == 0:
            raise ParameterInvalid(f"{side}: id_array holds no ids")
        pk = schema.primary_field
        if (pk.dtype == DataType.INT64) != (wanted.dtype == np.int64):
            raise ParameterInvalid(f"{side}: the primary key {pk.name} is {pk.dtype.name}, the ids are not")
        query = milvus_pb2.QueryRequest(collection_name=ids.collection_name, expr=f"{pk.name} in {{{_IDS_TEMPLATE}}}",
                                        output_fields=[field.name], partition_names=ids.partition_names,
                                        consistency_level=common_pb2.ConsistencyLevel.Strong)
        values = query.expr_template_values[_IDS_TEMPLATE].array_val
        if pk.dtype == DataType.INT64:
            values.long_data.data.extend(wanted.tolist())
        else:
            values.string_data.data.extend(wanted.tolist())
        result = self._read.query(query)
        columns = {fd.field_name: fd for fd in result.fields_data}
        found = ids_column_of(columns[pk.name], pk.dtype)
        vectors = field_columns(field, columns[field.name], len(found))[field.name]
        position = {key: i for i, key in enumerate(found.tolist())}
        missing = [key for key in wanted.tolist() if key not in position]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise ParameterInvalid(f"{side}: {len(missing)} id(s) not found in collection {ids.collection_name}: "
                                   f"[{shown}]")
        order = np.asarray([position[key] for key in wanted.tolist()], dtype=np.int64)
        return _Vectors(field.dtype, field.dim, vectors[order])


def _inline(data: schema_pb2.VectorField, side: str) -> _Vectors:
    kind = data.WhichOneof("data")
    if kind not in ("float_vector", "binary_vector"):
        raise ParameterInvalid(f"{side}: only float and binary vectors are supported, got {kind or 'no data'}")
    dtype = DataType.FLOAT_VECTOR if kind == "float_vector" else DataType.BINARY_VECTOR
    dim = int(data.dim)
    if dim <= 0 or (dtype == DataType.BINARY_VECTOR and dim % 8):
        raise ParameterInvalid(f"{side}: invalid dim {dim}" + (" (binary: a multiple of 8)" if dim > 0 else ""))
    size = len(data.float_vector.data) if kind == "float_vector" else len(data.binary_vector)
    width = dim if kind == "float_vector" else dim // 8
    if size == 0:
        raise ParameterInvalid(f"{side} holds no vectors")
    field = FieldSchema(0, side, dtype, dim=dim)
    wire = schema_pb2.FieldData(type=wire_data_type(dtype), field_name=side, vectors=data)
    return _Vectors(dtype, dim, field_columns(field, wire, size // width)[side])


def _answer(left: _Vectors, right: _Vectors, metric: str) -> milvus_pb2.CalcDistanceResults:
    xp = backend.array_module()
    kernel_metric = "HAMMING" if metric == "TANIMOTO" else metric
    matrix = backend.to_numpy(pairwise_distances(xp.asarray(left.rows), xp.asarray(right.rows), kernel_metric, xp=xp))
    out = milvus_pb2.CalcDistanceResults(status=success())
    if metric == "HAMMING":
        out.int_dist.data.extend(matrix.ravel().tolist())
    else:
        if metric == "TANIMOTO":  # Milvus 2.0: equal bits / (2 * dim - equal bits)
            hamming = matrix.astype(np.float64)
            matrix = (left.dim - hamming) / (left.dim + hamming)
        out.float_dist.data.extend(matrix.astype(np.float32).ravel().tolist())
    return out


def _kind(vectors: _Vectors) -> str:
    return "binary" if vectors.dtype == DataType.BINARY_VECTOR else "float"
