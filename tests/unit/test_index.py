"""Index parameter validation, and build / serialize / load / search of every index type."""
from __future__ import annotations

import numpy as np
import pytest

from common.compute.distance import brute_force_search
from common.errors import IndexNotSupported, ParameterInvalid
from common.index import build_index, faiss_index, load_index
from common.index.faiss_index import MIN_ROWS_FOR_STRUCTURE
from common.index.params import default_metric, validate_index_params, validate_search_params
from common.types import DataType

FV, BV = DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR


# ------------------------------------------------------------------------------ params
def test_valid_params_are_normalised():
    assert validate_index_params("ivf_flat", "l2", {"nlist": "256"}, FV, 128) == {
        "index_type": "IVF_FLAT", "metric_type": "L2", "nlist": 256}
    assert validate_index_params("FLAT", "", {}, FV, 8) == {
        "index_type": "FLAT", "metric_type": "COSINE"}
    assert validate_index_params("IVF_PQ", "IP", {"nlist": 8, "m": 16}, FV, 128) == {
        "index_type": "IVF_PQ", "metric_type": "IP", "nlist": 8, "m": 16, "nbits": 8}
    hnsw = validate_index_params("HNSW", "COSINE", {"M": 8, "efConstruction": 64.0,
                                                    "junk": "x"}, FV, 16)
    assert hnsw == {"index_type": "HNSW", "metric_type": "COSINE", "M": 8, "efConstruction": 64}
    assert validate_index_params("AUTOINDEX", "L2", {}, FV, 16) == {
        "index_type": "HNSW", "metric_type": "L2", "M": 16, "efConstruction": 200}
    assert validate_index_params("autoindex", "", {}, BV, 64)["index_type"] == "BIN_IVF_FLAT"
    nested = validate_index_params("IVF_SQ8", "L2", {"params": '{"nlist": 7}'}, FV, 16)
    assert nested["nlist"] == 7
    assert validate_index_params("BIN_FLAT", "jaccard", {}, BV, 64)["metric_type"] == "JACCARD"
    assert validate_index_params("BIN_IVF_FLAT", "tanimoto", {"nlist": 4}, BV, 64) == {
        "index_type": "BIN_IVF_FLAT", "metric_type": "TANIMOTO", "nlist": 4}
    assert validate_index_params("IVF_SQ8", "L2", {}, FV, 16)["nlist"] == 128
    assert default_metric(FV) == "COSINE" and default_metric(BV) == "HAMMING"


@pytest.mark.parametrize("index_type,metric,params,dtype,dim,error,message", [
    ("IVF_FLAT", "L2", {"nlist": 0}, FV, 16, ParameterInvalid,
     "Out of range in json: param 'nlist' (0) should be in range [1, 65536]"),
    ("IVF_SQ8", "L2", {"nlist": 65537}, FV, 16, ParameterInvalid,
     "param 'nlist' (65537) should be in range [1, 65536]"),
    ("BIN_IVF_FLAT", "HAMMING", {"nlist": -1}, BV, 64, ParameterInvalid,
     "param 'nlist' (-1) should be in range [1, 65536]"),
    ("IVF_PQ", "L2", {"nlist": 4, "m": 5}, FV, 16, ParameterInvalid,
     "should be a multiple of the number of subquantizers (m). Dimension:16, m:5"),
    ("IVF_PQ", "L2", {"nlist": 4, "m": 4, "nbits": 0}, FV, 16, ParameterInvalid,
     "param 'nbits' (0) should be in range [1, 16]"),
    ("IVF_PQ", "L2", {"nlist": 4, "m": 4, "nbits": 17}, FV, 16, ParameterInvalid,
     "param 'nbits' (17) should be in range [1, 16]"),
    ("HNSW", "L2", {"M": 1}, FV, 16, ParameterInvalid,
     "param 'M' (1) should be in range [2, 2048]"),
    ("HNSW", "L2", {"M": 2049}, FV, 16, ParameterInvalid,
     "param 'M' (2049) should be in range [2, 2048]"),
    ("HNSW", "L2", {"efConstruction": 0}, FV, 16, ParameterInvalid,
     "param 'efConstruction' (0) should be in range [1, 2147483647]"),
    ("HNSW", "L2", {"M": "abc"}, FV, 16, ParameterInvalid,
     "param 'M' (abc) should be integer"),
    ("IVF_FLAT", "L2", {"nlist": True}, FV, 16, ParameterInvalid, "should be integer"),
    ("HNSW", "L2", {"efConstruction": 2**31}, FV, 16, ParameterInvalid,
     "param 'efConstruction' (2147483648) should be in range [1, 2147483647]"),
    ("IVF_PQ", "L2", {"m": 0}, FV, 16, ParameterInvalid, "param 'm' (0) should be in range [1, 65536]"),
    ("DISKANN_X", "L2", {}, FV, 16, ParameterInvalid, "invalid index type: DISKANN_X"),
    ("BIN_FLAT", "HAMMING", {}, FV, 16, ParameterInvalid,
     "data type FloatVector can't build with this index BIN_FLAT"),
    ("HNSW", "L2", {}, BV, 64, ParameterInvalid,
     "data type BinaryVector can't build with this index HNSW"),
    ("FLAT", "HAMMING", {}, FV, 16, ParameterInvalid,
     "float vector index does not support metric type: HAMMING, supported: [L2 IP COSINE]"),
    ("IVF_FLAT", "TANIMOTO", {}, FV, 16, ParameterInvalid,
     "float vector index does not support metric type: TANIMOTO"),
    ("BIN_FLAT", "L2", {}, BV, 64, ParameterInvalid,
     "binary vector index does not support metric type: L2, supported: [HAMMING JACCARD TANIMOTO]"),
    ("BIN_IVF_FLAT", "COSINE", {}, BV, 64, ParameterInvalid,
     "binary vector index does not support metric type: COSINE"),
    ("FLAT", "BM25", {}, FV, 16, ParameterInvalid, "does not support metric type: BM25"),
])
def test_invalid_index_params(index_type, metric, params, dtype, dim, error, message):
    with pytest.raises(error) as info:
        validate_index_params(index_type, metric, params, dtype, dim)
    assert message in str(info.value)
    assert info.value.code == 1100


def test_scalar_fields_have_no_vector_index():
    with pytest.raises(IndexNotSupported):
        validate_index_params("FLAT", "L2", {}, DataType.INT64, 0)


def test_search_params():
    assert validate_search_params("IVF_FLAT", {"nprobe": "16", "other": 1}, 10) == {"nprobe": 16}
    assert validate_search_params("BIN_IVF_FLAT", {}, 10) == {"nprobe": 8}
    assert validate_search_params("HNSW", {}, 10) == {"ef": 64}
    assert validate_search_params("HNSW", {}, 100) == {"ef": 100}
    assert validate_search_params("hnsw", {"ef": 10}, 10) == {"ef": 10}
    assert validate_search_params("FLAT", {"nprobe": 0}, 10) == {}
    with pytest.raises(ParameterInvalid, match=r"param 'nprobe' \(0\) should be in range "
                                               r"\[1, 65536\]"):
        validate_search_params("IVF_SQ8", {"nprobe": 0}, 10)
    with pytest.raises(ParameterInvalid, match=r"param 'nprobe' \(65537\)"):
        validate_search_params("IVF_PQ", {"nprobe": 65537}, 10)
    with pytest.raises(ParameterInvalid, match=r"ef\(5\) should be larger than k\(10\)"):
        validate_search_params("HNSW", {"ef": 5}, 10)
    with pytest.raises(ParameterInvalid, match=r"param 'ef' \(32769\) should be in range"):
        validate_search_params("HNSW", {"ef": 32769}, 10)
    with pytest.raises(ParameterInvalid, match="invalid index type: NOPE"):
        validate_search_params("NOPE", {}, 10)


# ------------------------------------------------------------------------------ data
def clustered(n: int, d: int, seed: int, nc: int = 20, latent: int = 6) -> np.ndarray:
    """Clusters on a low-dimensional subspace plus a little noise (like real embeddings)."""
    rng = np.random.default_rng(seed)
    proj = np.random.default_rng(99).standard_normal((latent, d)).astype(np.float32)
    centers = np.random.default_rng(98).standard_normal((nc, latent)).astype(np.float32) * 4
    z = centers[rng.integers(0, nc, n)] + rng.standard_normal((n, latent)).astype(np.float32)
    return (z @ proj + 0.05 * rng.standard_normal((n, d))).astype(np.float32)


def clustered_bits(n: int, nbytes: int, seed: int, nc: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(97).random((nc, nbytes * 8)) < 0.5
    bits = centers[rng.integers(0, nc, n)] ^ (rng.random((n, nbytes * 8)) < 0.08)
    return np.packbits(bits, axis=1)


N, D = 3000, 16
X = clustered(N, D, seed=0)
Q = clustered(40, D, seed=1)
XB = clustered_bits(N, 8, seed=2)
QB = clustered_bits(30, 8, seed=3)


def recall(got: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(g[g >= 0]) & set(t[t >= 0])) / max(1, (t >= 0).sum())
            for g, t in zip(got, truth)]
    return float(np.mean(hits))


def tie_aware_recall(base, queries, got, metric, k=10, mask=None) -> float:
    """Share of returned rows at least as close as the true k-th neighbour (exact distances),
    so that ties (frequent with HAMMING) do not count as misses."""
    truth_d = brute_force_search(base, queries, k, metric, mask=mask)[0]
    asc = metric in ("L2", "HAMMING", "JACCARD", "TANIMOTO")
    scores = []
    for qi, row in enumerate(got):
        row = row[row >= 0]
        exact = brute_force_search(base[row], queries[qi:qi + 1], len(row), metric)[0][0]
        kth = truth_d[qi][np.isfinite(truth_d[qi])][-1]
        good = exact <= kth + 1e-4 if asc else exact >= kth - 1e-4
        scores.append(good.sum() / np.isfinite(truth_d[qi]).sum())
    return float(np.mean(scores))


CASES = [
    ("FLAT", "L2", {}), ("FLAT", "IP", {}), ("FLAT", "COSINE", {}),
    ("IVF_FLAT", "L2", {"nlist": 32}), ("IVF_FLAT", "IP", {"nlist": 32}),
    ("IVF_FLAT", "COSINE", {"nlist": 32}),
    ("IVF_SQ8", "L2", {"nlist": 32}), ("IVF_SQ8", "COSINE", {"nlist": 32}),
    ("IVF_PQ", "L2", {"nlist": 32, "m": 8}),
    ("HNSW", "L2", {"M": 16, "efConstruction": 100}),
    ("HNSW", "IP", {"M": 16, "efConstruction": 100}),
    ("HNSW", "COSINE", {"M": 16, "efConstruction": 100}),
    ("AUTOINDEX", "COSINE", {}),
    ("BIN_FLAT", "HAMMING", {}), ("BIN_FLAT", "JACCARD", {}), ("BIN_FLAT", "TANIMOTO", {}),
    ("BIN_IVF_FLAT", "HAMMING", {"nlist": 16}), ("BIN_IVF_FLAT", "JACCARD", {"nlist": 16}),
    ("BIN_IVF_FLAT", "TANIMOTO", {"nlist": 16}),
]
SEARCH = {"nprobe": 8, "ef": 64}


def data_for(index_type: str) -> tuple[np.ndarray, np.ndarray]:
    return (XB, QB) if index_type.startswith("BIN") else (X, Q)


_BUILT: dict = {}


def built(index_type, metric, params):
    key = (index_type, metric)
    if key not in _BUILT:
        _BUILT[key] = build_index(data_for(index_type)[0], index_type, metric, params)
    return _BUILT[key]


@pytest.mark.parametrize("index_type,metric,params", CASES)
def test_build_serialize_load_search(index_type, metric, params):
    base, queries = data_for(index_type)
    index = built(index_type, metric, params)
    assert index.num_rows == N and index.metric_type == metric
    assert index.index_type == ("HNSW" if index_type == "AUTOINDEX" else index_type)
    d1, i1 = index.search(queries, 10, SEARCH)
    loaded = load_index(index.serialize())
    assert (loaded.index_type, loaded.metric_type, loaded.num_rows) == (
        index.index_type, metric, N)
    assert loaded.params == index.params
    d2, i2 = loaded.search(queries, 10, SEARCH)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(d1, d2, rtol=1e-5)
    assert d1.dtype == np.float32 and i1.dtype == np.int64 and i1.shape == (len(queries), 10)
    assert tie_aware_recall(base, queries, i1, metric) >= 0.9
    if index_type in ("FLAT", "BIN_FLAT", "IVF_FLAT", "HNSW", "BIN_IVF_FLAT"):
        # exact distances for the rows returned (L2 squared, COSINE similarity)
        ref = brute_force_search(base[i1[0]], queries[:1], 10, metric)[0]
        np.testing.assert_allclose(np.sort(d1[0]), np.sort(ref[0]), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("index_type,metric,params", CASES)
def test_masked_search_respects_mask(index_type, metric, params, monkeypatch):
    # small test segments would always take the exact path: make the ANN path do the work
    monkeypatch.setattr(faiss_index, "EXACT_FALLBACK_ROWS", 50)
    base, queries = data_for(index_type)
    index = built(index_type, metric, params)
    rng = np.random.default_rng(11)
    for selectivity in (0.6, 0.25, 0.05):
        mask = rng.random(N) < selectivity
        d, i = index.search(queries, 10, SEARCH, mask=mask)
        assert mask[i[i >= 0]].all()
        assert (i >= 0).all()  # enough rows selected: every slot filled
        assert tie_aware_recall(base, queries, i, metric, mask=mask) >= 0.85


@pytest.mark.parametrize("index_type,metric,params", CASES)
def test_low_selectivity_falls_back_to_exact(index_type, metric, params):
    base, queries = data_for(index_type)
    index = built(index_type, metric, params)
    if index_type in ("IVF_SQ8", "IVF_PQ"):
        index = load_index(index.serialize())  # lossy codes: exact needs the raw vectors
        index.attach_raw_vectors(base)
    mask = np.zeros(N, bool)
    mask[np.random.default_rng(5).choice(N, 40, replace=False)] = True
    d, i = index.search(queries, 10, SEARCH, mask=mask)
    want_d, want_i = brute_force_search(base, queries, 10, metric, mask=mask)
    np.testing.assert_allclose(d, want_d, rtol=1e-4, atol=1e-4)
    assert recall(i, want_i) == 1.0 or np.allclose(d, want_d)
    few = np.zeros(N, bool)
    few[[7, 70, 700]] = True
    d, i = index.search(queries[:2], 10, SEARCH, mask=few)
    assert sorted(i[0, :3]) == [7, 70, 700] and (i[:, 3:] == -1).all()
    assert np.isinf(d[:, 3:]).all()
    d, i = index.search(queries[:2], 5, SEARCH, mask=np.zeros(N, bool))
    assert (i == -1).all()


def test_ivf_without_raw_vectors_scans_all_lists_when_selective():
    index = load_index(built("IVF_SQ8", "L2", {"nlist": 32}).serialize())
    mask = np.zeros(N, bool)
    mask[::200] = True  # 15 rows
    _, i = index.search(Q, 10, SEARCH, mask=mask)
    assert (i >= 0).all() and mask[i].all()
    assert recall(i, brute_force_search(X, Q, 10, "L2", mask=mask)[1]) >= 0.95


def test_small_segments_and_clamped_nlist():
    small = X[:MIN_ROWS_FOR_STRUCTURE - 1]
    index = build_index(small, "IVF_PQ", "L2", {"nlist": 64, "m": 8})
    d, i = index.search(Q, 5, {"nprobe": 1})
    np.testing.assert_array_equal(i, brute_force_search(small, Q, 5, "L2")[1])
    index = build_index(X[:2000], "IVF_FLAT", "L2", {"nlist": 1024})
    assert index.params["nlist"] == 1024 and index.effective_params["nlist"] == 2000 // 39
    empty = build_index(X[:0], "HNSW", "L2", {})
    d, i = load_index(empty.serialize()).search(Q[:2], 3, {})
    assert (i == -1).all() and np.isinf(d).all()


def test_search_errors():
    index = built("IVF_FLAT", "L2", {"nlist": 32})
    with pytest.raises(ParameterInvalid):
        index.search(Q[:, :4], 5, {})
    with pytest.raises(ParameterInvalid):
        index.search(Q, 5, {"nprobe": 0})
    with pytest.raises(ParameterInvalid):
        load_index(b"not an index")
