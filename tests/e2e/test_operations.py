"""Reads at a past timestamp (travel_timestamp), Customized reads with guarantee_timestamp and
GetMetrics system_info, over pymilvus's raw gRPC stub (its API does not expose them)."""
from __future__ import annotations

import json

import numpy as np
from pymilvus import MilvusClient
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

DIM = 4


def _ids(raw, name: str, **timestamps: int) -> list[int]:  # type: ignore[no-untyped-def]
    response = raw.Query(milvus_pb2.QueryRequest(collection_name=name, expr="id >= 0", output_fields=["id"],
                                                 **timestamps))
    assert response.status.code == 0, response.status.reason
    return sorted(response.fields_data[0].scalars.long_data.data)


def test_travel_and_guarantee_timestamps(cluster, raw) -> None:  # type: ignore[no-untyped-def]
    client = MilvusClient(cluster.uri)
    name = "time_travel"
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, dimension=DIM, consistency_level="Strong")
    vectors = np.random.default_rng(2).random((13, DIM), dtype=np.float32)
    first = client.insert(name, [{"id": i, "vector": vectors[i].tolist()} for i in range(10)])
    deleted = raw.Delete(milvus_pb2.DeleteRequest(collection_name=name, expr="id in [3, 4]"))
    assert deleted.status.code == 0
    last = raw.Insert(_insert_request(name, range(10, 13), vectors))
    assert last.status.code == 0
    assert first["insert_count"] == 10

    def check() -> None:
        all_rows = [i for i in range(13) if i not in (3, 4)]
        assert _ids(raw, name, travel_timestamp=deleted.timestamp - 1) == list(range(10))
        assert _ids(raw, name, travel_timestamp=deleted.timestamp) == [i for i in range(10) if i not in (3, 4)]
        assert _ids(raw, name, travel_timestamp=last.timestamp) == all_rows
        assert _ids(raw, name, guarantee_timestamp=last.timestamp,
                    consistency_level=common_pb2.Customized) == all_rows
        # a search at the past timestamp sees the deleted row as its own nearest neighbour
        before = raw.Search(_search_request(name, vectors[3], deleted.timestamp - 1))
        assert before.status.code == 0 and before.results.ids.int_id.data[0] == 3
        after = raw.Search(_search_request(name, vectors[3], deleted.timestamp))
        assert after.status.code == 0 and 3 not in after.results.ids.int_id.data

    check()
    client.flush(name)  # the same answers from sealed segments
    check()
    future = raw.Query(milvus_pb2.QueryRequest(collection_name=name, expr="id >= 0",
                                               travel_timestamp=last.timestamp + (3_600_000 << 18)))
    assert future.status.code == 1100 and "future" in future.status.reason
    client.drop_collection(name)
    client.close()


def _insert_request(name: str, ids: range, vectors: np.ndarray) -> milvus_pb2.InsertRequest:
    request = milvus_pb2.InsertRequest(collection_name=name, num_rows=len(ids))
    pk = request.fields_data.add(type=schema_pb2.Int64, field_name="id")
    pk.scalars.long_data.data.extend(ids)
    vector = request.fields_data.add(type=schema_pb2.FloatVector, field_name="vector")
    vector.vectors.dim = DIM
    vector.vectors.float_vector.data.extend(vectors[list(ids)].ravel().tolist())
    return request


def _search_request(name: str, vector: np.ndarray, travel_ts: int) -> milvus_pb2.SearchRequest:
    group = common_pb2.PlaceholderGroup()
    group.placeholders.add(tag="$0", type=common_pb2.FloatVector, values=[vector.astype("<f4").tobytes()])
    return milvus_pb2.SearchRequest(collection_name=name, placeholder_group=group.SerializeToString(), nq=1,
                                    dsl_type=common_pb2.BoolExprV1, travel_timestamp=travel_ts,
                                    search_params=[common_pb2.KeyValuePair(key="topk", value="3")])


def test_get_metrics_system_info(cluster, raw) -> None:  # type: ignore[no-untyped-def]
    response = raw.GetMetrics(milvus_pb2.GetMetricsRequest(request=json.dumps({"metric_type": "system_info"})))
    assert response.status.code == 0, response.status.reason
    nodes = json.loads(response.response)["nodes_info"]
    roles = sorted(n["infos"]["type"] for n in nodes)
    assert roles == sorted(["broker", "rootcoord", "datacoord", "querycoord", "datanode", "querynode",
                            "indexnode", "proxy"])
    for node in nodes:
        info = node["infos"]
        assert not info["has_error"], info
        assert info["hardware_infos"]["cpu_core_count"] >= 1 and info["hardware_infos"]["memory"] > 0
        assert info["system_info"]["pid"] > 0 and info["quota_metrics"]["process_memory_rss_bytes"] > 0
    assert response.component_name.startswith("proxy")
    bad = raw.GetMetrics(milvus_pb2.GetMetricsRequest(request='{"metric_type": "system_statistics"}'))
    assert bad.status.code == 1100
