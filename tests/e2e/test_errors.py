"""Bad input gets a clear error Status with Milvus's code, and changes nothing."""
from __future__ import annotations

import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException


@pytest.fixture()
def client(cluster):  # type: ignore[no-untyped-def]
    client = MilvusClient(cluster.uri)
    if client.has_collection("errs"):
        client.drop_collection("errs")
    client.create_collection("errs", dimension=4, consistency_level="Strong")
    yield client
    client.drop_collection("errs")
    client.close()


def _count(client: MilvusClient) -> int:
    return client.query("errs", filter="", output_fields=["count(*)"])[0]["count(*)"]


def test_unknown_collection_is_code_100(client: MilvusClient) -> None:
    with pytest.raises(MilvusException) as info:
        client.describe_collection("no_such_collection")
    assert info.value.code == 100
    assert not client.has_collection("no_such_collection")


def test_wrong_dimension_insert_writes_nothing(client: MilvusClient) -> None:
    with pytest.raises(MilvusException) as info:
        client.insert("errs", [{"id": 1, "vector": [0.1, 0.2, 0.3]}])
    assert info.value.code == 1100 and "dim" in info.value.message
    assert _count(client) == 0


def test_wrong_type_insert_writes_nothing(client: MilvusClient) -> None:
    with pytest.raises(MilvusException):
        client.insert("errs", [{"id": "not-an-int", "vector": [0.1, 0.2, 0.3, 0.4]}])
    assert _count(client) == 0


def test_bad_expression_is_code_1100(client: MilvusClient) -> None:
    client.insert("errs", [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}])
    with pytest.raises(MilvusException) as info:
        client.query("errs", filter="id >> 3")
    assert info.value.code == 1100
    with pytest.raises(MilvusException) as info:
        client.delete("errs", filter="id >> 3")
    assert info.value.code == 1100
    assert _count(client) == 1


def test_search_with_wrong_dimension(client: MilvusClient) -> None:
    with pytest.raises(MilvusException) as info:
        client.search("errs", [[0.1, 0.2]], limit=3)
    assert info.value.code == 1100 and "dim" in info.value.message


def test_bad_index_params(client: MilvusClient) -> None:
    client.release_collection("errs")
    client.drop_index("errs", "vector")
    params = client.prepare_index_params()
    params.add_index("vector", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 0})
    with pytest.raises(MilvusException) as info:
        client.create_index("errs", params)
    assert info.value.code == 1100 and "nlist" in info.value.message
    params = client.prepare_index_params()
    params.add_index("vector", index_type="NO_SUCH_INDEX", metric_type="L2")
    with pytest.raises(MilvusException):
        client.create_index("errs", params)
    assert client.list_indexes("errs") == []


def test_unknown_output_field_without_dynamic_schema(cluster) -> None:  # type: ignore[no-untyped-def]
    client = MilvusClient(cluster.uri)
    schema = client.create_schema(enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    params = client.prepare_index_params()
    params.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection("strict", schema=schema, index_params=params)
    with pytest.raises(MilvusException):
        client.insert("strict", [{"id": 1, "v": [0.0, 1.0], "extra": 1}])
    with pytest.raises(MilvusException):
        client.query("strict", filter="id > 0", output_fields=["nope"])
    client.drop_collection("strict")
    client.close()
