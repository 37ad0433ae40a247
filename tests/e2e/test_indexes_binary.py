"""Indexes, binary vectors and CalcDistance on the multi-process cluster, through pymilvus.

- Every index type: create, describe, state, build progress (from the real builds), drop; the
  parameter ranges (each violation is code 1100 and creates nothing); search parameter ranges.
- BinaryVector fields end to end: insert, sealed and growing segments, BIN_FLAT / BIN_IVF_FLAT
  with HAMMING, JACCARD and TANIMOTO, every result checked against NumPy; query output.
- CalcDistance (pymilvus 2.6 has no call for it) and GetIndexState / GetIndexBuildProgress
  (pymilvus reads DescribeIndex instead) over raw gRPC with pymilvus's own generated stubs.
"""
from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, MilvusClient, MilvusException, utility
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc, schema_pb2

DIM = 16
ROWS = 3000
BDIM = 64
IDX = "vidx"


@pytest.fixture(scope="module")
def stub(cluster) -> Iterator[milvus_pb2_grpc.MilvusServiceStub]:  # type: ignore[no-untyped-def]
    channel = grpc.insecure_channel(f"127.0.0.1:{cluster.port}")
    yield milvus_pb2_grpc.MilvusServiceStub(channel)
    channel.close()


@pytest.fixture(scope="module")
def client(cluster) -> Iterator[MilvusClient]:  # type: ignore[no-untyped-def]
    c = MilvusClient(cluster.uri)
    yield c
    c.close()


def _fresh(name: str, fields: list[FieldSchema]) -> Collection:
    if utility.has_collection(name):
        utility.drop_collection(name)
    return Collection(name, CollectionSchema(fields), consistency_level="Strong")


def _state(stub, name: str, index_name: str = IDX) -> milvus_pb2.GetIndexStateResponse:  # type: ignore[no-untyped-def]
    return stub.GetIndexState(milvus_pb2.GetIndexStateRequest(collection_name=name, index_name=index_name))


def _progress(stub, name: str, **selector: str) -> milvus_pb2.GetIndexBuildProgressResponse:  # type: ignore[no-untyped-def]
    return stub.GetIndexBuildProgress(milvus_pb2.GetIndexBuildProgressRequest(collection_name=name, **selector))


def _code(call) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(MilvusException) as info:
        call()
    return info.value.code


def _float_collection(name: str, seed: int) -> tuple[Collection, np.ndarray]:
    vectors = np.random.default_rng(seed).standard_normal((ROWS, DIM)).astype(np.float32)
    collection = _fresh(name, [FieldSchema("id", DataType.INT64, is_primary=True),
                               FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM)])
    collection.insert([list(range(ROWS)), vectors])
    collection.flush()
    return collection, vectors


def _exact(vectors: np.ndarray, queries: np.ndarray, metric: str, k: int) -> np.ndarray:
    if metric == "L2":
        scores = -((queries[:, None, :] - vectors[None]) ** 2).sum(-1)
    elif metric == "IP":
        scores = queries @ vectors.T
    else:
        scores = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
            vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


FLOAT_INDEXES = [
    ("FLAT", "L2", {}, {}, 1.0),
    ("IVF_FLAT", "IP", {"nlist": 32}, {"nprobe": 32}, 1.0),
    ("IVF_SQ8", "L2", {"nlist": 32}, {"nprobe": 32}, 0.85),
    ("IVF_PQ", "L2", {"nlist": 32, "m": 8, "nbits": 8}, {"nprobe": 32}, 0.7),
    ("HNSW", "COSINE", {"M": 16, "efConstruction": 100}, {"ef": 200}, 0.95),
]


def test_every_float_index_type_lifecycle(orm, stub, client) -> None:  # type: ignore[no-untyped-def]
    name = "idx_lifecycle"
    collection, vectors = _float_collection(name, seed=1)
    queries = vectors[[3, 1500, 2999]] + 0.01
    for index_type, metric, params, search, min_recall in FLOAT_INDEXES:
        collection.create_index("v", {"index_type": index_type, "metric_type": metric, "params": params},
                                index_name=IDX)
        utility.wait_for_index_building_complete(name, index_name=IDX)
        described = client.describe_index(name, IDX)
        assert (described["index_type"], described["metric_type"], described["field_name"]) == (
            index_type, metric, "v"), described
        assert {k: int(v) for k, v in (described.get("params") or {}).items()} == params, described
        assert utility.index_building_progress(name, index_name=IDX) == {
            "total_rows": ROWS, "indexed_rows": ROWS, "pending_index_rows": 0, "state": "Finished"}
        state = _state(stub, name)
        assert (state.status.code, state.state, state.fail_reason) == (0, common_pb2.IndexState.Finished, "")
        for selector in ({"index_name": IDX}, {"field_name": "v"}, {}):
            progress = _progress(stub, name, **selector)
            assert (progress.status.code, progress.indexed_rows, progress.total_rows) == (0, ROWS, ROWS), selector

        collection.load()
        hits = collection.search(queries.tolist(), "v", {"metric_type": metric, "params": search}, limit=10)
        want = _exact(vectors, queries, metric, 10)
        recall = np.mean([len({h.id for h in got} & set(w.tolist())) / 10 for got, w in zip(hits, want)])
        assert recall >= min_recall, (index_type, recall)
        # Milvus 2.x: an index cannot be dropped while the collection is loaded
        assert _code(lambda: client.drop_index(name, IDX)) == 1100
        assert client.list_indexes(name) == [IDX]
        collection.release()
        client.drop_index(name, IDX)
        assert client.list_indexes(name) == [] and client.describe_index(name, IDX) is None
        assert _state(stub, name).status.code == 700
        assert _progress(stub, name, index_name=IDX).status.code == 700
    collection.drop()


def test_build_progress_follows_new_segments(orm, stub) -> None:  # type: ignore[no-untyped-def]
    name = "idx_progress"
    collection, vectors = _float_collection(name, seed=2)
    collection.create_index("v", {"index_type": "IVF_FLAT", "metric_type": "L2", "params": {"nlist": 16}},
                            index_name=IDX)
    utility.wait_for_index_building_complete(name, index_name=IDX)
    collection.insert([list(range(ROWS, ROWS + 1500)), vectors[:1500]])
    collection.flush()
    progress = _progress(stub, name, index_name=IDX)
    assert progress.total_rows == ROWS + 1500 and ROWS <= progress.indexed_rows <= ROWS + 1500
    utility.wait_for_index_building_complete(name, index_name=IDX)
    progress = _progress(stub, name, index_name=IDX)
    assert (progress.indexed_rows, progress.total_rows) == (ROWS + 1500, ROWS + 1500)
    assert _state(stub, name).state == common_pb2.IndexState.Finished
    # unknown collection / index
    assert _state(stub, "no_such_collection").status.code == 100
    assert _progress(stub, name, index_name="nope").status.code == 700
    collection.drop()


BAD_FLOAT_INDEXES = [
    ("IVF_FLAT", "L2", {"nlist": 0}), ("IVF_SQ8", "L2", {"nlist": 65537}),
    ("IVF_FLAT", "L2", {"nlist": "many"}),
    ("IVF_PQ", "L2", {"nlist": 16, "m": 5}), ("IVF_PQ", "L2", {"nlist": 16, "m": 4, "nbits": 0}),
    ("IVF_PQ", "L2", {"nlist": 16, "m": 4, "nbits": 17}),
    ("HNSW", "L2", {"M": 1, "efConstruction": 100}), ("HNSW", "L2", {"M": 2049, "efConstruction": 100}),
    ("HNSW", "L2", {"M": 16, "efConstruction": 0}), ("HNSW", "L2", {"M": 16, "efConstruction": 2**31}),
    ("IVF_FLAT", "HAMMING", {"nlist": 16}), ("FLAT", "TANIMOTO", {}), ("HNSW", "JACCARD", {"M": 8}),
    ("BIN_FLAT", "L2", {}), ("BIN_IVF_FLAT", "HAMMING", {"nlist": 16}), ("NO_SUCH_INDEX", "L2", {}),
]
BAD_BINARY_INDEXES = [
    ("BIN_IVF_FLAT", "HAMMING", {"nlist": 0}), ("BIN_IVF_FLAT", "JACCARD", {"nlist": 70000}),
    ("BIN_FLAT", "L2", {}), ("BIN_IVF_FLAT", "COSINE", {"nlist": 16}), ("HNSW", "HAMMING", {"M": 8}),
    ("IVF_FLAT", "JACCARD", {"nlist": 16}), ("FLAT", "HAMMING", {}),
]


def test_index_parameter_ranges_are_1100_and_create_nothing(orm, client) -> None:  # type: ignore[no-untyped-def]
    name = "idx_bad_params"
    collection = _fresh(name, [FieldSchema("id", DataType.INT64, is_primary=True),
                               FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM),
                               FieldSchema("b", DataType.BINARY_VECTOR, dim=BDIM)])
    failures = []
    for field, cases in (("v", BAD_FLOAT_INDEXES), ("b", BAD_BINARY_INDEXES)):
        for index_type, metric, params in cases:
            index = {"index_type": index_type, "metric_type": metric, "params": params}
            code = _code(lambda field=field, index=index: collection.create_index(field, index))
            if code != 1100:
                failures.append((field, index_type, metric, params, code))
    assert failures == []
    assert client.list_indexes(name) == []
    collection.drop()


def test_index_selection_with_two_vector_fields(orm, stub) -> None:  # type: ignore[no-untyped-def]
    name = "idx_two_fields"
    collection = _fresh(name, [FieldSchema("id", DataType.INT64, is_primary=True),
                               FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM),
                               FieldSchema("b", DataType.BINARY_VECTOR, dim=BDIM)])
    collection.insert([[1, 2], np.ones((2, DIM), np.float32), [b"\x01" * (BDIM // 8)] * 2])
    collection.flush()
    collection.create_index("v", {"index_type": "FLAT", "metric_type": "L2"}, index_name="fi")
    collection.create_index("b", {"index_type": "BIN_FLAT", "metric_type": "TANIMOTO"}, index_name="bi")
    utility.wait_for_index_building_complete(name, index_name="fi")
    utility.wait_for_index_building_complete(name, index_name="bi")
    assert _state(stub, name, "bi").state == common_pb2.IndexState.Finished
    by_field = stub.GetIndexState(milvus_pb2.GetIndexStateRequest(collection_name=name, field_name="v"))
    assert by_field.state == common_pb2.IndexState.Finished
    ambiguous = stub.GetIndexState(milvus_pb2.GetIndexStateRequest(collection_name=name))
    assert ambiguous.status.code == 702 and "index_name" in ambiguous.status.reason
    assert _progress(stub, name).status.code == 702
    assert _progress(stub, name, field_name="b").indexed_rows == 2
    assert _progress(stub, name, index_name="fi").total_rows == 2
    collection.drop()


def test_search_parameter_ranges(orm) -> None:  # type: ignore[no-untyped-def]
    name = "idx_search_params"
    collection, vectors = _float_collection(name, seed=3)
    query = vectors[:1].tolist()
    for index_type, params, bad_search in (
        ("IVF_FLAT", {"nlist": 16}, [{"nprobe": 0}, {"nprobe": 65537}, {"nprobe": "x"}]),
        ("HNSW", {"M": 8, "efConstruction": 64}, [{"ef": 5}, {"ef": 32769}, {"ef": 0}]),
    ):
        collection.create_index("v", {"index_type": index_type, "metric_type": "L2", "params": params})
        utility.wait_for_index_building_complete(name)
        collection.load()
        for search in bad_search:  # ef must be >= limit (10) as well
            param = {"metric_type": "L2", "params": search}
            code = _code(lambda param=param: collection.search(query, "v", param, limit=10))
            assert code == 1100, (index_type, search, code)
        code = _code(lambda: collection.search(query, "v", {"metric_type": "IP", "params": {}}, limit=10))
        assert code == 1100  # metric differs from the index's
        hits = collection.search(query, "v", {"metric_type": "L2", "params": {"nprobe": 16, "ef": 64}}, limit=10)
        assert hits[0][0].id == 0
        collection.release()
        collection.drop_index()
    collection.drop()


# ------------------------------------------------------------------------------ binary vectors
def _bits(rows: int, seed: int) -> np.ndarray:
    """Clustered random codes (so that neighbours are meaningful), packed (rows, BDIM // 8)."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(77).random((12, BDIM)) < 0.3
    bits = centers[rng.integers(0, 12, rows)] ^ (rng.random((rows, BDIM)) < 0.1)
    return np.packbits(bits, axis=1)


def binary_distances(codes: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """Exact (nq, n) distances in NumPy: HAMMING bit count, JACCARD 1 - |a&b|/|a|b|,
    TANIMOTO -log2(|a&b|/|a|b|) (Milvus 2.0's knowhere)."""
    a = np.unpackbits(queries, axis=1).astype(bool)[:, None, :]
    b = np.unpackbits(codes, axis=1).astype(bool)[None, :, :]
    if metric == "HAMMING":
        return (a != b).sum(-1).astype(np.float64)
    inter, union = (a & b).sum(-1), (a | b).sum(-1)
    similarity = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    if metric == "JACCARD":
        return 1.0 - similarity
    with np.errstate(divide="ignore"):
        return -np.log2(similarity)


def test_binary_vectors_end_to_end(orm, stub) -> None:  # type: ignore[no-untyped-def]
    name = "bin_e2e"
    collection = _fresh(name, [FieldSchema("id", DataType.INT64, is_primary=True),
                               FieldSchema("tag", DataType.INT64),
                               FieldSchema("b", DataType.BINARY_VECTOR, dim=BDIM)])
    codes = _bits(ROWS + 300, seed=4)
    ids = np.arange(ROWS + 300)
    tags = ids % 3
    rows = [c.tobytes() for c in codes]  # pymilvus sends one bytes object per row
    collection.insert([ids[:ROWS].tolist(), tags[:ROWS].tolist(), rows[:ROWS]])
    collection.flush()  # sealed, then indexed
    collection.insert([ids[ROWS:].tolist(), tags[ROWS:].tolist(), rows[ROWS:]])  # stays growing
    queries = np.concatenate([codes[[5, ROWS + 10]], _bits(2, seed=5)])
    placeholder_bytes = [q.tobytes() for q in queries]

    for metric in ("HAMMING", "JACCARD", "TANIMOTO"):
        exact = binary_distances(codes, queries, metric)
        for index_type, params, search in (("BIN_FLAT", {}, {}),
                                           ("BIN_IVF_FLAT", {"nlist": 16}, {"nprobe": 16})):
            collection.create_index("b", {"index_type": index_type, "metric_type": metric, "params": params})
            utility.wait_for_index_building_complete(name)
            collection.load()
            results = collection.search(placeholder_bytes, "b", {"metric_type": metric, "params": search},
                                        limit=10, output_fields=["tag"])
            for q, hits in enumerate(results):
                got_ids = np.array([h.id for h in hits])
                got_d = np.array([h.distance for h in hits])
                np.testing.assert_allclose(got_d, exact[q, got_ids], rtol=1e-5, atol=1e-5)  # each distance exact
                np.testing.assert_allclose(got_d, np.sort(exact[q])[:10], rtol=1e-5, atol=1e-5)  # the best 10
                assert [h.entity.get("tag") for h in hits] == tags[got_ids].tolist()
            assert results[0][0].id == 5 and results[1][0].id == ROWS + 10  # sealed and growing rows
            assert results[0][0].distance == 0.0
            filtered = collection.search(placeholder_bytes[:1], "b", {"metric_type": metric, "params": search},
                                         limit=5, expr="tag == 1")[0]
            rows_tag1 = np.flatnonzero(tags == 1)
            np.testing.assert_allclose([h.distance for h in filtered], np.sort(exact[0, rows_tag1])[:5],
                                       rtol=1e-5, atol=1e-5)
            assert all(h.id % 3 == 1 for h in filtered)
            collection.release()
            collection.drop_index()

    # a metric that does not fit binary vectors, and query output of binary vectors
    collection.create_index("b", {"index_type": "BIN_FLAT", "metric_type": "HAMMING", "params": {}})
    utility.wait_for_index_building_complete(name)
    collection.load()
    assert _code(lambda: collection.search(placeholder_bytes[:1], "b", {"metric_type": "L2"}, limit=3)) == 1100
    got = collection.query("id in [0, 7, 3100]", output_fields=["b", "tag"])
    assert sorted(r["id"] for r in got) == [0, 7, 3100]
    for row in got:  # pymilvus gives a binary vector as a one-element list of bytes
        assert row["b"] == [codes[row["id"]].tobytes()] and row["tag"] == tags[row["id"]]
    _calc_distance_by_ids(stub, name, codes)
    collection.release()
    collection.drop()


# ------------------------------------------------------------------------------ CalcDistance
def _calc(stub, left, right, metric: str) -> milvus_pb2.CalcDistanceResults:  # type: ignore[no-untyped-def]
    return stub.CalcDistance(milvus_pb2.CalcDistanceRequest(
        op_left=left, op_right=right, params=[common_pb2.KeyValuePair(key="metric", value=metric)]))


def _floats(vectors: np.ndarray) -> milvus_pb2.VectorsArray:
    return milvus_pb2.VectorsArray(data_array=schema_pb2.VectorField(
        dim=vectors.shape[1], float_vector=schema_pb2.FloatArray(data=vectors.ravel().tolist())))


def _binaries(codes: np.ndarray) -> milvus_pb2.VectorsArray:
    return milvus_pb2.VectorsArray(data_array=schema_pb2.VectorField(dim=codes.shape[1] * 8,
                                                                     binary_vector=codes.tobytes()))


def _by_ids(collection: str, field: str, ids: list[int], partitions: tuple[str, ...] = ()) -> milvus_pb2.VectorsArray:
    return milvus_pb2.VectorsArray(id_array=milvus_pb2.VectorIDs(
        collection_name=collection, field_name=field, id_array=schema_pb2.IDs(int_id=schema_pb2.LongArray(data=ids)),
        partition_names=list(partitions)))


def _float_matrix(left: np.ndarray, right: np.ndarray, metric: str) -> np.ndarray:
    left, right = left.astype(np.float64), right.astype(np.float64)
    if metric == "L2":
        return ((left[:, None, :] - right[None]) ** 2).sum(-1)  # squared, as Milvus 2.0
    if metric == "IP":
        return left @ right.T
    unit_left = left / np.linalg.norm(left, axis=1, keepdims=True)
    unit_right = right / np.linalg.norm(right, axis=1, keepdims=True)
    return unit_left @ unit_right.T


def test_calc_distance_inline(stub) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(6)
    left, right = rng.standard_normal((3, 8)).astype(np.float32), rng.standard_normal((4, 8)).astype(np.float32)
    for metric in ("L2", "IP", "COSINE", "l2"):
        answer = _calc(stub, _floats(left), _floats(right), metric)
        assert answer.status.code == 0 and answer.WhichOneof("array") == "float_dist"
        # flattened row by row: [D(L1,R1), D(L1,R2), ..., D(L2,R1), ...]
        np.testing.assert_allclose(np.array(answer.float_dist.data).reshape(3, 4),
                                   _float_matrix(left, right, metric.upper()), rtol=1e-4, atol=1e-4)

    bl, br = _bits(5, seed=7), _bits(2, seed=8)
    answer = _calc(stub, _binaries(bl), _binaries(br), "HAMMING")
    assert answer.WhichOneof("array") == "int_dist"
    hamming = binary_distances(br, bl, "HAMMING")
    assert np.array(answer.int_dist.data).reshape(5, 2).tolist() == hamming.astype(int).tolist()
    answer = _calc(stub, _binaries(bl), _binaries(br), "TANIMOTO")
    assert answer.WhichOneof("array") == "float_dist"
    # Milvus 2.0's CalcDistance TANIMOTO: equal bits / (2 * dim - equal bits)
    np.testing.assert_allclose(np.array(answer.float_dist.data).reshape(5, 2),
                               (BDIM - hamming) / (BDIM + hamming), rtol=1e-6)
    answer = _calc(stub, _binaries(bl), _binaries(br), "JACCARD")
    np.testing.assert_allclose(np.array(answer.float_dist.data).reshape(5, 2),
                               binary_distances(br, bl, "JACCARD"), rtol=1e-6)

    errors = {
        "dim mismatch": _calc(stub, _floats(left), _floats(right[:, :4]), "L2"),
        "binary metric on floats": _calc(stub, _floats(left), _floats(right), "HAMMING"),
        "float metric on binaries": _calc(stub, _binaries(bl), _binaries(br), "IP"),
        "float against binary": _calc(stub, _floats(left), _binaries(br), "L2"),
        "unknown metric": _calc(stub, _floats(left), _floats(right), "MANHATTAN"),
        "no metric": stub.CalcDistance(milvus_pb2.CalcDistanceRequest(op_left=_floats(left), op_right=_floats(right))),
        "ragged floats": _calc(stub, milvus_pb2.VectorsArray(data_array=schema_pb2.VectorField(
            dim=8, float_vector=schema_pb2.FloatArray(data=[1.0] * 12))), _floats(right), "L2"),
        "no vectors": _calc(stub, milvus_pb2.VectorsArray(), _floats(right), "L2"),
    }
    assert {what: r.status.code for what, r in errors.items()} == {what: 1100 for what in errors}
    assert "dim" in errors["dim mismatch"].status.reason


def _calc_distance_by_ids(stub, name: str, codes: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """CalcDistance with ids of the loaded binary collection (sealed and growing rows)."""
    ids = [3100, 4, 4, 0]  # order and repeats are kept
    answer = _calc(stub, _by_ids(name, "b", ids), _binaries(codes[[4, 3100]]), "HAMMING")
    assert answer.status.code == 0, answer.status.reason
    want = binary_distances(codes[[4, 3100]], codes[ids], "HAMMING")
    assert np.array(answer.int_dist.data).reshape(4, 2).tolist() == want.astype(int).tolist()
    answer = _calc(stub, _by_ids(name, "b", [1, 2], ("_default",)), _by_ids(name, "b", [2, 3, 1]), "JACCARD")
    np.testing.assert_allclose(np.array(answer.float_dist.data).reshape(2, 3),
                               binary_distances(codes[[2, 3, 1]], codes[[1, 2]], "JACCARD"), rtol=1e-6)
    codes_of = {
        "unknown collection": _calc(stub, _by_ids("no_such_collection", "b", [1]), _binaries(codes[:1]), "HAMMING"),
        "unknown field": _calc(stub, _by_ids(name, "nope", [1]), _binaries(codes[:1]), "HAMMING"),
        "scalar field": _calc(stub, _by_ids(name, "tag", [1]), _binaries(codes[:1]), "HAMMING"),
        "unknown id": _calc(stub, _by_ids(name, "b", [1, 999999]), _binaries(codes[:1]), "HAMMING"),
        "unknown partition": _calc(stub, _by_ids(name, "b", [1], ("nope",)), _binaries(codes[:1]), "HAMMING"),
        "wrong metric": _calc(stub, _by_ids(name, "b", [1]), _binaries(codes[:1]), "L2"),
        "dim mismatch": _calc(stub, _by_ids(name, "b", [1]), _binaries(codes[:1, :4]), "HAMMING"),
    }
    assert {what: r.status.code for what, r in codes_of.items()} == {
        "unknown collection": 100, "unknown field": 1700, "scalar field": 1100, "unknown id": 1100,
        "unknown partition": 200, "wrong metric": 1100, "dim mismatch": 1100}
    assert "999999" in codes_of["unknown id"].status.reason


def test_calc_distance_by_varchar_ids(orm, stub) -> None:  # type: ignore[no-untyped-def]
    name = "calc_varchar"
    collection = _fresh(name, [FieldSchema("key", DataType.VARCHAR, is_primary=True, max_length=16),
                               FieldSchema("v", DataType.FLOAT_VECTOR, dim=4)])
    vectors = np.random.default_rng(10).standard_normal((20, 4)).astype(np.float32)
    keys = [f"k'{i}" for i in range(20)]  # a quote in the key must not break the lookup
    collection.insert([keys, vectors])
    collection.create_index("v", {"index_type": "FLAT", "metric_type": "IP"})
    collection.load()
    str_ids = schema_pb2.IDs(str_id=schema_pb2.StringArray(data=[keys[7], keys[2]]))
    left = milvus_pb2.VectorsArray(id_array=milvus_pb2.VectorIDs(collection_name=name, field_name="v",
                                                                 id_array=str_ids))
    answer = _calc(stub, left, _floats(vectors[:3]), "IP")
    assert answer.status.code == 0, answer.status.reason
    np.testing.assert_allclose(np.array(answer.float_dist.data).reshape(2, 3), vectors[[7, 2]] @ vectors[:3].T,
                               rtol=1e-5)
    assert _calc(stub, _by_ids(name, "v", [7]), _floats(vectors[:1]), "IP").status.code == 1100  # int ids, VarChar key
    collection.release()
    collection.drop()


def test_calc_distance_by_ids_of_float_vectors(orm, stub) -> None:  # type: ignore[no-untyped-def]
    name = "calc_float"
    collection, vectors = _float_collection(name, seed=9)
    collection.create_index("v", {"index_type": "FLAT", "metric_type": "L2", "params": {}})
    utility.wait_for_index_building_complete(name)
    not_loaded = _calc(stub, _by_ids(name, "v", [1]), _floats(vectors[:1]), "L2")
    assert not_loaded.status.code == 101  # ids are read from the loaded collection
    collection.load()
    left, right = [10, 2999, 0], [5, 6]
    for metric in ("L2", "IP", "COSINE"):
        answer = _calc(stub, _by_ids(name, "v", left), _by_ids(name, "v", right), metric)
        assert answer.status.code == 0, answer.status.reason
        np.testing.assert_allclose(np.array(answer.float_dist.data).reshape(3, 2),
                                   _float_matrix(vectors[left], vectors[right], metric), rtol=1e-4, atol=1e-4)
    collection.release()
    collection.drop()
