"""A smoke run of the core flows with whatever pymilvus the interpreter has (2.5, 2.6, 3.0).

Imports only pymilvus and numpy, so it runs in a separate venv per client version:
    python tests/compat/pymilvus_smoke.py http://127.0.0.1:19530
Exits non-zero (an AssertionError or a MilvusException) when a flow breaks.
"""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pymilvus
from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, MilvusClient, connections, utility


def quick_setup(uri: str) -> None:
    client = MilvusClient(uri)
    name = "compat_quick"
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, dimension=4, consistency_level="Strong")
    rng = np.random.default_rng(0)
    vectors = rng.random((50, 4), dtype=np.float32)
    client.insert(name, [{"id": i, "vector": vectors[i].tolist(), "tag": f"t{i % 2}"} for i in range(50)])
    hits = client.search(name, [vectors[7].tolist()], limit=3, output_fields=["tag"])[0]
    assert hits[0]["id"] == 7 and hits[0]["entity"]["tag"] == "t1", hits
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 50
    client.delete(name, ids=[7])
    assert client.get(name, ids=[7]) == []
    client.drop_collection(name)
    client.close()


def orm(uri: str) -> None:
    connections.connect("default", uri=uri)
    name = "compat_orm"
    if utility.has_collection(name):
        utility.drop_collection(name)
    schema = CollectionSchema([FieldSchema("pk", DataType.INT64, is_primary=True),
                               FieldSchema("x", DataType.DOUBLE),
                               FieldSchema("v", DataType.FLOAT_VECTOR, dim=4)])
    collection = Collection(name, schema, consistency_level="Strong")
    rng = np.random.default_rng(1)
    vectors = rng.random((100, 4), dtype=np.float32)
    collection.insert([list(range(100)), rng.random(100).tolist(), vectors])
    collection.flush()
    assert collection.num_entities == 100
    collection.create_index("v", {"index_type": "HNSW", "metric_type": "L2", "params": {"M": 8, "efConstruction": 32}})
    collection.load()
    hits = collection.search([vectors[3].tolist()], "v", {"metric_type": "L2", "params": {"ef": 32}}, limit=2)
    assert hits[0][0].id == 3
    assert len(collection.query("pk < 10", output_fields=["x"])) == 10
    collection.drop()
    connections.disconnect("default")


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=".*ORM-style PyMilvus API")
    target = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:19530"
    quick_setup(target)
    orm(target)
    print(f"pymilvus {pymilvus.__version__}: quick setup and ORM flows passed")
