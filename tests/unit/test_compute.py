"""Brute-force kernels against a naive NumPy reference, and backend detection."""
from __future__ import annotations

import numpy as np
import pytest

from common.compute import backend, distance
from common.compute.distance import brute_force_search, metric_is_ascending, normalize, pairwise_distances
from common.errors import MetricNotFound, ParameterInvalid

FLOAT_METRICS = ["L2", "IP", "COSINE"]
BINARY_METRICS = ["HAMMING", "JACCARD", "TANIMOTO"]


def naive_distances(base: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    """(nq, n) distances, computed the obvious way in float64."""
    if metric == "L2":
        return ((q[:, None, :].astype(np.float64) - base[None, :, :]) ** 2).sum(-1)
    if metric == "IP":
        return q.astype(np.float64) @ base.T.astype(np.float64)
    if metric == "COSINE":
        qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
        bn = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-30)
        return qn.astype(np.float64) @ bn.T.astype(np.float64)
    qb = np.unpackbits(q, axis=1).astype(bool)
    bb = np.unpackbits(base, axis=1).astype(bool)
    if metric == "HAMMING":
        return (qb[:, None, :] != bb[None, :, :]).sum(-1).astype(np.float64)
    inter = (qb[:, None, :] & bb[None, :, :]).sum(-1)
    union = (qb[:, None, :] | bb[None, :, :]).sum(-1)
    similarity = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    if metric == "JACCARD":
        return 1 - similarity
    with np.errstate(divide="ignore"):
        return -np.log2(similarity)  # TANIMOTO: +inf for disjoint vectors


def naive_search(base, q, k, metric, mask=None):
    dist = naive_distances(base, q, metric)
    asc = metric in ("L2", "HAMMING", "JACCARD", "TANIMOTO")
    rows = np.arange(base.shape[0]) if mask is None else np.flatnonzero(mask)
    out_d = np.full((q.shape[0], k), np.inf if asc else -np.inf)
    out_i = np.full((q.shape[0], k), -1)
    for qi in range(q.shape[0]):
        d = dist[qi, rows]
        order = np.lexsort((rows, d if asc else -d))[:k]
        out_d[qi, :len(order)], out_i[qi, :len(order)] = d[order], rows[order]
    return out_d, out_i


def check_matches(got, want, metric, atol):
    (gd, gi), (wd, wi) = got, want
    assert gd.dtype == np.float32 and gi.dtype == np.int64
    np.testing.assert_allclose(gd, wd, rtol=1e-4, atol=atol)
    # indices agree except where distances tie (within tolerance)
    for qi in range(gi.shape[0]):
        diff = gi[qi] != wi[qi]
        if diff.any():
            assert np.allclose(gd[qi][diff], wd[qi][diff], rtol=1e-4, atol=atol)


@pytest.fixture(scope="module")
def float_data():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((700, 24)).astype(np.float32)
    base[5] = 0.0  # a zero vector (COSINE must not divide by zero)
    queries = rng.standard_normal((9, 24)).astype(np.float32)
    return base, queries, rng


@pytest.fixture(scope="module")
def binary_data():
    rng = np.random.default_rng(8)
    base = rng.integers(0, 256, (600, 8), dtype=np.uint8)
    base[3] = 0
    queries = rng.integers(0, 256, (7, 8), dtype=np.uint8)
    queries[0] = 0
    return base, queries, rng


@pytest.mark.parametrize("metric", FLOAT_METRICS)
@pytest.mark.parametrize("selectivity", [None, 0.7, 0.1, 0.0])
def test_float_metrics_match_naive(float_data, metric, selectivity):
    base, queries, rng = float_data
    mask = None if selectivity is None else rng.random(base.shape[0]) < selectivity
    got = brute_force_search(base, queries, 10, metric, mask=mask)
    want = naive_search(base, queries, 10, metric, mask)
    check_matches(got, want, metric, atol=1e-3)
    if mask is not None:
        hits = got[1][got[1] >= 0]
        assert mask[hits].all()


@pytest.mark.parametrize("metric", BINARY_METRICS)
@pytest.mark.parametrize("selectivity", [None, 0.5, 0.05])
def test_binary_metrics_match_naive(binary_data, metric, selectivity):
    base, queries, rng = binary_data
    mask = None if selectivity is None else rng.random(base.shape[0]) < selectivity
    got = brute_force_search(base, queries, 8, metric, mask=mask)
    want = naive_search(base, queries, 8, metric, mask)
    check_matches(got, want, metric, atol=1e-6)


@pytest.mark.parametrize("metric", BINARY_METRICS)
def test_binary_byte_width_and_lut_paths(binary_data, metric):
    """Odd code widths use per-byte popcounts; an array module without ``bitwise_count``
    (CuPy) uses the lookup table."""
    base, queries, _ = binary_data
    odd_base, odd_q = base[:, :3].copy(), queries[:, :3].copy()
    got = brute_force_search(odd_base, odd_q, 5, metric)
    check_matches(got, naive_search(odd_base, odd_q, 5, metric), metric, atol=1e-6)
    got = brute_force_search(base, queries, 5, metric, xp=NumpyWithoutPopcount())
    check_matches(got, naive_search(base, queries, 5, metric), metric, atol=1e-6)


class NumpyWithoutPopcount:
    """NumPy minus ``bitwise_count``, standing in for an array module like CuPy's."""

    def __getattr__(self, name):
        if name == "bitwise_count":
            raise AttributeError(name)
        return getattr(np, name)


def test_chunked_scoring_matches_single_chunk(float_data, monkeypatch):
    base, queries, _ = float_data
    whole = brute_force_search(base, queries, 7, "L2")
    monkeypatch.setattr(distance, "_CHUNK_ELEMS", 1)  # 256-row chunks
    chunked = brute_force_search(base, queries, 7, "L2")
    np.testing.assert_array_equal(whole[1], chunked[1])
    np.testing.assert_allclose(whole[0], chunked[0], rtol=1e-5)


@pytest.mark.parametrize("metric", FLOAT_METRICS)
@pytest.mark.parametrize("selectivity", [None, 0.7])
def test_block_top_k_matches_naive(float_data, metric, selectivity, monkeypatch):
    base, queries, rng = float_data
    monkeypatch.setattr(distance, "_SELECT_BLOCK", 16)  # 700 rows = 44 blocks: k=7 takes the block path
    mask = None if selectivity is None else rng.random(base.shape[0]) < selectivity
    got = brute_force_search(base, queries, 7, metric, mask=mask)
    check_matches(got, naive_search(base, queries, 7, metric, mask), metric, atol=1e-4)


def test_block_top_k_breaks_ties_by_column_and_marks_nan_rows_empty(monkeypatch):
    monkeypatch.setattr(distance, "_SELECT_BLOCK", 4)
    keys = np.array([[5, 1, 1, 9, 1, 7, 3, 3, 2, 8, 1, 6, 4],
                     [np.nan] * 13], dtype=np.float32)
    got_keys, got_cols = distance._topk_smallest(keys, 3, np)
    assert sorted(zip(got_keys[0].tolist(), got_cols[0].tolist())) == [(1, 1), (1, 2), (1, 4)]  # not 10
    assert np.isinf(got_keys[1]).all()


def test_missing_slots_and_k_larger_than_rows(float_data):
    base, queries, _ = float_data
    mask = np.zeros(base.shape[0], bool)
    mask[[3, 9]] = True
    for metric, fill in (("L2", np.inf), ("IP", -np.inf), ("COSINE", -np.inf)):
        d, i = brute_force_search(base, queries, 5, metric, mask=mask)
        assert set(i[0, :2]) == {3, 9}
        assert (i[:, 2:] == -1).all() and (d[:, 2:] == fill).all()
    d, i = brute_force_search(base[:3], queries, 5, "L2")
    assert (i[:, 3:] == -1).all() and np.isinf(d[:, 3:]).all()
    d, i = brute_force_search(base[:0], queries, 2, "L2")
    assert (i == -1).all()


def test_precomputed_norms_and_single_query(float_data):
    base, queries, _ = float_data
    norms = distance.sq_norms(base)
    for metric in ("L2", "COSINE"):
        a = brute_force_search(base, queries[0], 4, metric, base_sq_norms=norms)
        b = brute_force_search(base, queries[:1], 4, metric)
        np.testing.assert_array_equal(a[1], b[1])
        assert a[0].shape == (1, 4)


def test_l2_of_identical_vector_is_zero(float_data):
    base, _, _ = float_data
    d, i = brute_force_search(base, base[10:11], 1, "L2")
    assert i[0, 0] == 10 and d[0, 0] == pytest.approx(0.0, abs=1e-3) and d[0, 0] >= 0


@pytest.mark.parametrize("metric", FLOAT_METRICS + BINARY_METRICS)
def test_pairwise_distances_match_naive(float_data, binary_data, metric, monkeypatch):
    base, queries, _ = binary_data if metric in BINARY_METRICS else float_data
    want = naive_distances(base[:50], queries, metric)
    got = pairwise_distances(queries, base[:50], metric)
    assert got.shape == (len(queries), 50)
    assert got.dtype == (np.int32 if metric == "HAMMING" else np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    monkeypatch.setattr(distance, "_CHUNK_ELEMS", 1)  # many chunks give the same matrix
    monkeypatch.setattr(distance, "_BIN_CHUNK_BYTES", 1)
    np.testing.assert_allclose(pairwise_distances(queries, base[:300], metric),
                               naive_distances(base[:300], queries, metric), rtol=1e-4, atol=1e-4)
    if metric in BINARY_METRICS:  # the lookup-table popcount (CuPy's path) agrees
        np.testing.assert_allclose(pairwise_distances(queries, base[:50], metric, xp=NumpyWithoutPopcount()),
                                   want, rtol=1e-4, atol=1e-4)


def test_binary_metric_values_on_known_vectors():
    a = np.packbits(np.array([[1, 1, 0, 0, 0, 0, 0, 0]], bool), axis=1)
    b = np.packbits(np.array([[1, 0, 1, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0, 0],
                              [1, 1, 0, 0, 0, 0, 0, 0]], bool), axis=1)
    np.testing.assert_array_equal(pairwise_distances(a, b, "HAMMING"), [[2, 4, 0]])
    np.testing.assert_allclose(pairwise_distances(a, b, "JACCARD"), [[1 - 1 / 3, 1.0, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(pairwise_distances(a, b, "TANIMOTO"), [[np.log2(3), np.inf, 0.0]], rtol=1e-6)
    d, i = brute_force_search(b, a, 3, "TANIMOTO")
    assert i.tolist() == [[2, 0, 1]] and d[0, 2] == np.inf  # a disjoint row is still a hit


def test_pairwise_errors(float_data, binary_data):
    base, queries, _ = float_data
    with pytest.raises(ParameterInvalid):
        pairwise_distances(queries, base[:, :5], "L2")
    with pytest.raises(MetricNotFound):
        pairwise_distances(binary_data[1], binary_data[0], "COSINE")
    with pytest.raises(MetricNotFound):
        pairwise_distances(queries, base, "TANIMOTO")
    assert pairwise_distances(queries, base[:0], "IP").shape == (len(queries), 0)


def test_errors(float_data, binary_data):
    base, queries, _ = float_data
    with pytest.raises(MetricNotFound):
        brute_force_search(base, queries, 3, "BM25")
    with pytest.raises(MetricNotFound):
        brute_force_search(base, queries, 3, "HAMMING")
    with pytest.raises(MetricNotFound):
        brute_force_search(binary_data[0], binary_data[1], 3, "L2")
    with pytest.raises(ParameterInvalid):
        brute_force_search(base, queries[:, :5], 3, "L2")
    with pytest.raises(ParameterInvalid):
        brute_force_search(base, queries, 0, "L2")
    with pytest.raises(ParameterInvalid):
        brute_force_search(base, queries, 3, "L2", mask=np.ones(3, bool))


def test_metric_direction_and_normalize():
    assert metric_is_ascending("l2") and metric_is_ascending("HAMMING") and metric_is_ascending("tanimoto")
    assert not metric_is_ascending("IP") and not metric_is_ascending("cosine")
    v = normalize(np.array([[3.0, 4.0], [0.0, 0.0]]), np)
    np.testing.assert_allclose(v, [[0.6, 0.8], [0.0, 0.0]])
    assert v.dtype == np.float32


def test_backend_cpu(monkeypatch):
    monkeypatch.setenv(backend.FORCE_CPU_ENV, "1")
    backend.gpu_count.cache_clear()
    try:
        assert backend.gpu_count() == 0
        assert backend.array_module() is np
        x = np.arange(3)
        assert backend.to_numpy(x) is x
        assert not backend.is_device_array(x)
    finally:
        backend.gpu_count.cache_clear()
    assert backend.gpu_count() >= 0  # detection never raises
