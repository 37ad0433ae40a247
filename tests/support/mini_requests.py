"""Requests against a MiniCluster's MilvusService stub (our own protos, no pymilvus), shared by
the in-process tests: a small Int64/Double/FloatVector collection, insert, search, count."""
from __future__ import annotations

import struct
import time

import numpy as np

from proto.milvus import common_pb2, milvus_pb2, schema_pb2

DIM = 4


def ok(status: common_pb2.Status) -> None:
    assert status.code == 0 and status.error_code == 0, status.reason


def wait_until(predicate, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def create_collection(stub, name: str) -> None:  # type: ignore[no-untyped-def]
    schema = schema_pb2.CollectionSchema(name=name)
    schema.fields.add(name="id", data_type=schema_pb2.Int64, is_primary_key=True)
    schema.fields.add(name="score", data_type=schema_pb2.Double)
    vector = schema.fields.add(name="v", data_type=schema_pb2.FloatVector)
    vector.type_params.add(key="dim", value=str(DIM))
    ok(stub.CreateCollection(milvus_pb2.CreateCollectionRequest(
        collection_name=name, schema=schema.SerializeToString(), consistency_level=common_pb2.Strong)))
    ok(stub.CreateIndex(milvus_pb2.CreateIndexRequest(collection_name=name, field_name="v", extra_params=[
        common_pb2.KeyValuePair(key="index_type", value="FLAT"),
        common_pb2.KeyValuePair(key="metric_type", value="L2")])))
    ok(stub.LoadCollection(milvus_pb2.LoadCollectionRequest(collection_name=name)))
    progress = milvus_pb2.GetLoadingProgressRequest(collection_name=name)
    wait_until(lambda: stub.GetLoadingProgress(progress).progress >= 100)


def insert(stub, name: str, ids: np.ndarray, vectors: np.ndarray) -> milvus_pb2.MutationResult:  # type: ignore[no-untyped-def]
    request = milvus_pb2.InsertRequest(collection_name=name, num_rows=len(ids))
    pk = request.fields_data.add(type=schema_pb2.Int64, field_name="id")
    pk.scalars.long_data.data.extend(ids.tolist())
    score = request.fields_data.add(type=schema_pb2.Double, field_name="score")
    score.scalars.double_data.data.extend((ids * 0.5).tolist())
    vec = request.fields_data.add(type=schema_pb2.FloatVector, field_name="v")
    vec.vectors.dim = DIM
    vec.vectors.float_vector.data.extend(vectors.ravel().tolist())
    result = stub.Insert(request)
    ok(result.status)
    return result


def search_ids(stub, name: str, query: np.ndarray, k: int, expr: str = "") -> list[int]:  # type: ignore[no-untyped-def]
    group = common_pb2.PlaceholderGroup()
    group.placeholders.add(tag="$0", type=common_pb2.FloatVector, values=[struct.pack(f"{DIM}f", *query)])
    result = stub.Search(milvus_pb2.SearchRequest(
        collection_name=name, dsl=expr, placeholder_group=group.SerializeToString(), nq=1,
        search_params=[common_pb2.KeyValuePair(key="topk", value=str(k)),
                       common_pb2.KeyValuePair(key="params", value="{}")],
        consistency_level=common_pb2.Strong))
    ok(result.status)
    return list(result.results.ids.int_id.data)


def count_rows(stub, name: str) -> int:  # type: ignore[no-untyped-def]
    result = stub.Query(milvus_pb2.QueryRequest(collection_name=name, output_fields=["count(*)"],
                                                consistency_level=common_pb2.Strong))
    ok(result.status)
    return result.fields_data[0].scalars.long_data.data[0]
