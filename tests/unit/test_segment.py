"""DeleteRecord semantics and the querynode Segment: append, visibility, search, take."""
from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

from common.compute.distance import brute_force_search
from common.errors import FieldNotFound, ParameterInvalid
from common.index import build_index, load_index
from common.schema import CollectionSchema, FieldSchema
from common.types import TIMESTAMP_COLUMN, DataType
from dataplane.delete_record import DeleteRecord
from nodes.querynode.segment import Segment

DIM = 8


def schema(pk_type: DataType = DataType.INT64) -> CollectionSchema:
    return CollectionSchema("c", (
        FieldSchema(100, "pk", pk_type, is_primary=True, max_length=32),
        FieldSchema(101, "tag", DataType.VARCHAR, max_length=16),
        FieldSchema(102, "x", DataType.INT32),
        FieldSchema(103, "vec", DataType.FLOAT_VECTOR, dim=DIM),
        FieldSchema(104, "bvec", DataType.BINARY_VECTOR, dim=16),
    ))


def batch(pks, ts, seed: int = 0, str_pk: bool = False) -> dict[str, np.ndarray]:
    pks = np.asarray(pks)
    n = len(pks)
    rng = np.random.default_rng(seed)
    tags = np.empty(n, dtype=object)
    tags[:] = [f"t{p}" for p in pks]
    if str_pk:
        keys = np.empty(n, dtype=object)
        keys[:] = [f"k{p}" for p in pks]
    else:
        keys = pks.astype(np.int64)
    return {"pk": keys, "tag": tags, "x": pks.astype(np.int32),
            "vec": rng.standard_normal((n, DIM)).astype(np.float32),
            "bvec": rng.integers(0, 256, (n, 2), dtype=np.uint8),
            TIMESTAMP_COLUMN: np.broadcast_to(np.asarray(ts, dtype=np.uint64), (n,)).copy()}


# ------------------------------------------------------------------------------ DeleteRecord
@pytest.mark.parametrize("str_pk", [False, True])
def test_delete_semantics(str_pk):
    conv = (lambda v: np.array([f"k{p}" for p in v], dtype=object)) if str_pk else (
        lambda v: np.asarray(v, dtype=np.int64))
    rec = DeleteRecord()
    pks = conv([1, 2, 3, 4])
    ins = np.array([10, 10, 10, 30], dtype=np.uint64)
    assert not rec.deleted_mask(pks, ins, 100).any()
    v0 = rec.version
    rec.add(conv([1, 2, 4]), np.array([20, 5, 30], dtype=np.uint64))
    assert rec.version != v0 and len(rec) == 3 and rec.max_ts == 30
    # pk1: deleted at 20 > insert 10 -> deleted from read_ts 20 on
    # pk2: delete at 5 precedes its insert at 10 -> never deleted
    # pk4: delete at 30 == insert 30 (upsert) -> the row at 30 stays
    assert list(rec.deleted_mask(pks, ins, 19)) == [False, False, False, False]
    assert list(rec.deleted_mask(pks, ins, 20)) == [True, False, False, False]
    assert list(rec.deleted_mask(pks, ins, 1000)) == [True, False, False, False]
    # upsert: old row of pk4 inserted at 25 is deleted by the delete at 30
    assert list(rec.deleted_mask(conv([4, 4]), np.array([25, 30], np.uint64), 30)) == [True, False]
    # a later delete of pk2 applies once read_ts reaches it
    rec.add(conv([2]), 50)
    assert list(rec.deleted_mask(pks, ins, 49)) == [True, False, False, False]
    assert list(rec.deleted_mask(pks, ins, 50)) == [True, True, False, False]
    assert rec.deleted_mask(pks[:0], ins[:0], 50).shape == (0,)


def test_delete_record_vectorised_at_scale():
    rng = np.random.default_rng(0)
    n = 1_000_000
    pks = rng.permutation(n).astype(np.int64) * 3
    ins = rng.integers(1, 1000, n).astype(np.uint64)
    rec = DeleteRecord()
    dels = rng.choice(pks, 5000, replace=False)
    dts = rng.integers(1, 2000, 5000).astype(np.uint64)
    rec.add(dels, dts)
    mask = rec.deleted_mask(pks, ins, 1500)
    lookup = dict(zip(pks.tolist(), ins.tolist()))
    expected = {p for p, t in zip(dels.tolist(), dts.tolist()) if lookup[p] < t <= 1500}
    assert set(pks[mask].tolist()) == expected


# ------------------------------------------------------------------------------ Segment
def growing(str_pk: bool = False) -> Segment:
    s = schema(DataType.VARCHAR if str_pk else DataType.INT64)
    return Segment(1, 2, 3, "ch-0", s, sealed=False)


def test_append_grows_and_columns_are_views():
    seg = growing()
    for i in range(30):  # 30 x 100 rows -> several capacity doublings past 1024
        seg.append(batch(np.arange(i * 100, (i + 1) * 100), ts=i + 1, seed=i))
    assert seg.num_rows == 3000 and seg.max_ts == 30
    cols = seg.columns(["pk", "vec", TIMESTAMP_COLUMN])
    assert cols["pk"].shape == (3000,) and cols["vec"].shape == (3000, DIM)
    np.testing.assert_array_equal(cols["pk"], np.arange(3000))
    assert list(seg.columns(["tag"])["tag"][:2]) == ["t0", "t1"]
    assert set(seg.columns()) == {"pk", "tag", "x", "vec", "bvec", TIMESTAMP_COLUMN}
    with pytest.raises(FieldNotFound):
        seg.columns(["nope"])
    with pytest.raises(FieldNotFound):
        seg.append({"pk": np.arange(2)})
    with pytest.raises(ParameterInvalid):
        seg.load(batch([1], 1))


def test_visibility_by_timestamp_and_deletes():
    seg = growing()
    seg.append(batch([1, 2, 3], ts=10))
    seg.append(batch([4, 5], ts=20))
    deletes = DeleteRecord()
    assert seg.visible_mask(100, deletes) is None
    assert list(seg.visible_mask(15, deletes)) == [True] * 3 + [False] * 2
    deletes.add(np.array([2, 4]), np.array([12, 25], np.uint64))
    assert list(seg.visible_mask(100, deletes)) == [True, False, True, False, True]
    assert list(seg.visible_mask(21, deletes)) == [True, False, True, True, True]
    assert list(seg.visible_mask(11, deletes)) == [True, True, True, False, False]
    # upsert of pk 1 at ts 30: delete + insert at the same ts
    deletes.add(np.array([1]), 30)
    seg.append(batch([1], ts=30))
    assert list(seg.visible_mask(30, deletes)) == [False, False, True, False, True, True]
    # cached: same answer object while nothing changes; new rows invalidate
    assert seg.visible_mask(40, deletes) is seg.visible_mask(41, deletes)
    seg.append(batch([9], ts=31))
    assert len(seg.visible_mask(41, deletes)) == 7


def test_visibility_with_string_pks():
    seg = growing(str_pk=True)
    seg.append(batch([1, 2, 3], ts=10, str_pk=True))
    deletes = DeleteRecord()
    deletes.add(np.array(["k2"], dtype=object), 11)
    assert list(seg.visible_mask(11, deletes)) == [True, False, True]


def test_search_brute_force_and_take():
    seg = growing()
    seg.append(batch(np.arange(500), ts=1, seed=3))
    base = seg.columns(["vec"])["vec"]
    q = np.random.default_rng(4).standard_normal((3, DIM)).astype(np.float32)
    for metric in ("L2", "IP", "COSINE"):
        d, i = seg.search("vec", q, 5, metric)
        wd, wi = brute_force_search(base, q, 5, metric)
        np.testing.assert_array_equal(i, wi)
        np.testing.assert_allclose(d, wd, rtol=1e-5)
    mask = np.zeros(500, bool)
    mask[::50] = True
    _, i = seg.search("vec", q, 20, "L2", mask=mask)
    assert mask[i[i >= 0]].all() and (i[:, 10:] == -1).all()
    bq = seg.columns(["bvec"])["bvec"][:2]
    d, i = seg.search("bvec", bq, 1, "HAMMING")
    assert (d[:, 0] == 0).all()  # a row's own code (or an identical one) is at distance 0
    out = seg.take(["pk", "tag", "vec"], np.array([7, 3]))
    assert list(out["pk"]) == [7, 3] and list(out["tag"]) == ["t7", "t3"]
    np.testing.assert_array_equal(out["vec"], base[[7, 3]])
    with pytest.raises(ParameterInvalid):
        seg.take(["pk"], np.array([500]))
    with pytest.raises(ParameterInvalid):
        seg.search("x", q, 5, "L2")
    # norms cache follows appends
    seg.append(batch([1000], ts=2, seed=9))
    new_vec = seg.columns(["vec"])["vec"][-1:]
    d, i = seg.search("vec", new_vec, 1, "L2")
    assert i[0, 0] == 500 and d[0, 0] == pytest.approx(0, abs=1e-4)


def test_sealed_segment_uses_index_with_matching_metric():
    cols = batch(np.arange(2000), ts=5, seed=1)
    seg = Segment(7, 2, 3, "ch-0", schema(), sealed=True)
    seg.load(cols)
    assert seg.num_rows == 2000 and seg.max_ts == 5
    with pytest.raises(ParameterInvalid):
        seg.append(cols)
    index = build_index(cols["vec"], "IVF_SQ8", "L2", {"nlist": 16})
    seg.set_index("vec", index)
    assert seg.index("vec") is index
    q = cols["vec"][:4]
    d, i = seg.search("vec", q, 3, "L2", {"nprobe": 16})
    assert list(i[:, 0]) == [0, 1, 2, 3]
    # another metric: exact brute force instead of the index
    d, i = seg.search("vec", q, 3, "IP")
    np.testing.assert_array_equal(i, brute_force_search(cols["vec"], q, 3, "IP")[1])
    # selective filter through the index is exact (raw vectors attached by set_index)
    mask = np.zeros(2000, bool)
    mask[[10, 20, 30, 40]] = True
    d, i = seg.search("vec", q, 4, "L2", mask=mask)
    wd, wi = brute_force_search(cols["vec"], q, 4, "L2", mask=mask)
    np.testing.assert_array_equal(i, wi)
    np.testing.assert_allclose(d, wd, rtol=1e-4)


@pytest.mark.parametrize(("index_type", "metric", "shared"), [
    ("FLAT", "L2", True), ("HNSW", "L2", True), ("HNSW", "IP", True),
    ("HNSW", "COSINE", False), ("IVF_FLAT", "L2", False),
])
def test_sealed_vector_column_is_the_index_rows_when_it_holds_them(index_type, metric, shared):
    cols = batch(np.arange(2000), ts=5, seed=2)
    seg = Segment(7, 2, 3, "ch-0", schema(), sealed=True)
    seg.load({**cols, "vec": cols["vec"].copy()})
    loaded = seg.columns(["vec"])["vec"]
    size_before = seg.memory_size()
    index = load_index(build_index(cols["vec"], index_type, metric, {"nlist": 16}).serialize())
    seg.set_index("vec", index, nbytes=1000)
    column = seg.columns(["vec"])["vec"]
    assert np.shares_memory(column, loaded) != shared  # the loaded copy is dropped when shared
    if shared:
        assert np.shares_memory(column, index.raw_vectors())
    np.testing.assert_array_equal(column, cols["vec"])
    np.testing.assert_array_equal(seg.take(["vec"], np.array([1999, 3]))["vec"], cols["vec"][[1999, 3]])
    expected = size_before + 1000 - (cols["vec"].nbytes if shared else 0)
    assert seg.memory_size() == expected
    q = cols["vec"][:3]
    d, i = seg.search("vec", q, 1, metric, {"ef": 64, "nprobe": 16})
    np.testing.assert_array_equal(i, brute_force_search(cols["vec"], q, 1, metric)[1])


def test_a_shared_vector_column_gets_its_own_copy_when_the_index_changes():
    cols = batch(np.arange(2000), ts=5, seed=3)
    seg = Segment(7, 2, 3, "ch-0", schema(), sealed=True)
    seg.load(cols)
    hnsw = build_index(cols["vec"], "HNSW", "L2")
    seg.set_index("vec", hnsw)
    assert np.shares_memory(seg.columns(["vec"])["vec"], hnsw.raw_vectors())
    seg.set_index("vec", build_index(cols["vec"], "IVF_FLAT", "L2", {"nlist": 16}))
    column = seg.columns(["vec"])["vec"]
    assert not np.shares_memory(column, hnsw.raw_vectors())
    np.testing.assert_array_equal(column, cols["vec"])
    replaced = weakref.ref(hnsw)
    del hnsw
    gc.collect()
    assert replaced() is None  # nothing keeps the replaced index alive


def test_an_index_whose_rows_differ_from_the_column_is_not_shared():
    cols = batch(np.arange(2000), ts=5, seed=4)
    seg = Segment(7, 2, 3, "ch-0", schema(), sealed=True)
    seg.load(cols)
    other = cols["vec"].copy()
    other[1999] += 1.0  # the last row is always among the rows compared
    index = build_index(other, "FLAT", "L2")
    seg.set_index("vec", index)
    assert not np.shares_memory(seg.columns(["vec"])["vec"], index.raw_vectors())
    np.testing.assert_array_equal(seg.columns(["vec"])["vec"], cols["vec"])


def test_concurrent_append_and_search():
    seg = growing()
    seg.append(batch(np.arange(10), ts=1))
    deletes = DeleteRecord()
    deletes.add(np.array([3]), 10**6)  # keeps visible_mask non-trivial
    errors: list[BaseException] = []
    stop = threading.Event()
    q = np.ones((1, DIM), np.float32)

    def reader():
        try:
            while not stop.is_set():
                rows = seg.num_rows
                cols = seg.columns(["pk", "vec"])
                assert len(cols["pk"]) == len(cols["vec"]) >= rows
                # every published row is fully written
                np.testing.assert_array_equal(cols["pk"], np.arange(len(cols["pk"])))
                mask = seg.visible_mask(10**9, deletes)
                _, i = seg.search("vec", q, 5, "L2", mask=mask)
                assert (i >= 0).all() and (i != 3).all()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(1, 200):
        seg.append(batch(np.arange(i * 10, i * 10 + 10), ts=i + 1, seed=i))
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert seg.num_rows == 2000


# ------------------------------------------------------------------------------ pk index
@pytest.mark.parametrize("str_pk", [False, True])
def test_pk_rows_sealed_uses_sorted_index(str_pk):
    seg = Segment(1, 1, 1, "ch", schema(DataType.VARCHAR if str_pk else DataType.INT64), sealed=True)
    pks = np.array([9, 3, 7, 3, 1, 12], dtype=np.int64)  # pk 3 twice (an upsert's old and new row)
    seg.load(batch(pks, 10, str_pk=str_pk))
    key = (lambda v: np.array([f"k{p}" for p in v], dtype=object)) if str_pk else (
        lambda v: np.asarray(v, dtype=np.int64))
    assert seg.pk_rows(key([3, 12, 100])).tolist() == [1, 3, 5]
    assert seg.pk_rows(key([100])).tolist() == [] and seg.pk_rows(key([])).tolist() == []
    assert seg.pk_rows(key([9, 1]), rows=4).tolist() == [0]  # a snapshot of the first 4 rows
    covered, keys, order = seg._pk_index
    assert covered == 6 and list(keys) == sorted(keys) and keys[0] == key([1])[0]


def test_pk_rows_growing_scans_only_the_unsorted_tail():
    seg = Segment(1, 1, 1, "ch", schema(), sealed=False)
    seg.append(batch(np.arange(4000), 10))
    assert seg.pk_rows(np.array([5, 3999, 5000])).tolist() == [5, 3999]
    assert seg._pk_index[0] == 4000
    seg.append(batch(np.arange(4000, 4500), 11))  # a small tail: found by scanning it, no re-sort
    assert seg.pk_rows(np.array([5, 4499])).tolist() == [5, 4499]
    assert seg._pk_index[0] == 4000
    seg.append(batch(np.arange(4500, 6000), 12))  # the tail outgrew a quarter: re-sorted
    assert seg.pk_rows(np.array([5999, 4200, 1])).tolist() == [1, 4200, 5999]
    assert seg._pk_index[0] == 6000
    rng = np.random.default_rng(1)
    want = rng.choice(6000, 50, replace=False)
    assert seg.pk_rows(want).tolist() == sorted(want.tolist())


def test_a_delete_snapshot_ignores_later_deletes() -> None:
    from dataplane.delete_record import DeleteRecord

    record = DeleteRecord()
    record.add(np.array([1, 2]), 10)
    frozen = record.snapshot()
    record.add(np.array([3]), 20)  # e.g. an upsert's delete applied after a read took its view
    pks, inserted = np.array([1, 2, 3]), np.array([5, 5, 5], dtype=np.uint64)
    assert frozen.deleted_mask(pks, inserted, 30).tolist() == [True, True, False]
    assert record.deleted_mask(pks, inserted, 30).tolist() == [True, True, True]
    assert len(frozen) == 2 and frozen.max_ts == 10 and frozen.cache_key != record.cache_key
    assert record.snapshot().cache_key == record.cache_key
