"""Vector indexes of one segment's vector field, built with faiss (or none, for the FLAT types).

Contracts:
- ``build_index(vectors, index_type, metric_type, params)`` validates the definition with
  ``params.validate_index_params`` (so ``AUTOINDEX`` and string values are accepted) and returns
  a ``VectorIndex`` over the rows of ``vectors`` (float32 ``(n, dim)``, or uint8 ``(n, dim // 8)``
  for binary vectors).
- ``VectorIndex.search(queries, k, search_params, mask)`` returns ``(distances float32 (nq, k),
  indices int64 (nq, k))`` with the conventions of ``common.compute.distance``: row numbers of
  the segment, best first, ``-1`` / ``±inf`` in empty slots, L2 squared, COSINE as similarity
  (vectors are normalised and searched with inner product).
- ``serialize()`` gives self-describing bytes (magic, a JSON header with type, metric, params,
  sizes, and aligned binary blobs); ``load_index(data)`` needs nothing else.

Structures: FLAT and BIN_FLAT keep the vectors and search them exactly (``brute_force_search``).
IVF_FLAT / IVF_SQ8 / IVF_PQ / HNSW are faiss indexes. HNSW with IP uses the usual reduction of
maximum inner product to L2 (each row gets an extra coordinate ``sqrt(max|x|^2 - |x|^2)``, queries
a 0), because a graph built on raw inner products navigates badly (filtered recall fell to ~0.5);
returned distances are recomputed exactly. BIN_IVF_FLAT is a small IVF of our own
(binary k-means centroids + inverted lists of row numbers, exact HAMMING/JACCARD/TANIMOTO within
the probed lists), since faiss's binary IVF knows only Hamming distance.

Small segments: a segment with fewer than ``MIN_ROWS_FOR_STRUCTURE`` rows (Milvus builds no
index below 1024 rows either) keeps its vectors and is searched exactly, whatever the type. IVF
``nlist`` is clamped to ``max(1, n // 39)`` (faiss wants 39 training points per centroid; fewer
make k-means and recall poor) and PQ ``nbits`` to ``floor(log2(n))``; the values used are in
``effective_params``.

Filtered search (``mask``): when the mask selects fewer than ``max(EXACT_FALLBACK_ROWS,
EXACT_FALLBACK_FRACTION * n)`` rows, the selected rows are searched exactly (raw vectors: kept
by FLAT types, read from HNSW's flat storage, or attached with ``attach_raw_vectors`` for IVF;
without them, IVF scans all lists with the selector). Otherwise faiss searches with an
``IDSelectorBitmap``, widening ``ef`` / ``nprobe`` by the inverse selectivity; queries that still
come back with fewer than ``min(k, selected)`` hits are redone by the exact path.

GPU: when ``backend.gpu_count() > 0`` (faiss-gpu and CuPy present), unfiltered IVF searches use
a GPU copy of the index (made on first use) and FLAT searches run ``brute_force_search`` with
CuPy on a device copy of the vectors. Filtered searches stay on the CPU.
"""
from __future__ import annotations

import functools
import io
import json
import math
import os
import threading
from collections.abc import Mapping
from typing import Any

# faiss's OpenMP workers spin while idle and then fight NumPy's OpenBLAS threads for the cores:
# IVF/PQ training ran 3-4x slower here. Passive waiting must be set before libgomp loads (it
# reads the variable once); an explicit setting by the operator wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from common.compute import backend  # noqa: E402
from common.compute.distance import brute_force_search, metric_is_ascending, normalize, sq_norms
from common.errors import ParameterInvalid
from common.index.params import (
    HNSW_EF_MAX,
    IVF_INDEX_TYPES,
    validate_index_params,
    validate_search_params,
)
from common.types import DataType

MAGIC = b"MVPYIDX1"
_IO_CHUNK = 1 << 20
_ALIGN = 64
MIN_ROWS_FOR_STRUCTURE = 1024
EXACT_FALLBACK_ROWS = 4096
EXACT_FALLBACK_FRACTION = 0.02
MIN_POINTS_PER_CENTROID = 39
_FAISS_METRIC = {"L2": faiss.METRIC_L2, "IP": faiss.METRIC_INNER_PRODUCT,
                 "COSINE": faiss.METRIC_INNER_PRODUCT}
_GPU_TYPES = frozenset({"IVF_FLAT", "IVF_SQ8", "IVF_PQ"})
_GPU_RESOURCES: Any = None
_GPU_LOCK = threading.Lock()


class VectorIndex:
    """One built index. Read-only after construction (searches may run concurrently)."""

    def __init__(self, index_type: str, metric_type: str, params: Mapping[str, Any], dim: int,
                 num_rows: int, *, effective_params: Mapping[str, Any] | None = None,
                 faiss_index: Any = None, vectors: np.ndarray | None = None,
                 centroids: np.ndarray | None = None, list_offsets: np.ndarray | None = None,
                 list_rows: np.ndarray | None = None) -> None:
        self.index_type = index_type
        self.metric_type = metric_type
        self.params = dict(params)
        self.effective_params = dict(effective_params or {})
        self.dim = dim
        self.num_rows = num_rows
        self.binary = index_type.startswith("BIN_")
        self._faiss = faiss_index
        self._vectors = vectors  # raw vectors: FLAT types, BIN_IVF_FLAT, small segments
        self._sq_norms = None if vectors is None or self.binary else sq_norms(vectors)
        self._centroids, self._list_offsets, self._list_rows = centroids, list_offsets, list_rows
        self._raw: np.ndarray | None = None  # attached raw vectors (IVF fallback)
        self._raw_sq_norms: np.ndarray | None = None
        self._gpu: Any = None
        self._gpu_lock = threading.Lock()

    # ---------------------------------------------------------------- public
    def attach_raw_vectors(self, vectors: np.ndarray) -> None:
        """Give an index without raw data (IVF types) the segment's vectors, so filtered
        searches of few rows are exact. ``vectors`` must be the rows the index was built on."""
        if vectors.shape[0] != self.num_rows:
            raise ParameterInvalid(
                f"raw vectors have {vectors.shape[0]} rows, the index has {self.num_rows}")
        if self._faiss is not None and self.index_type in IVF_INDEX_TYPES:
            self._raw = np.ascontiguousarray(vectors, dtype=np.float32)
            self._raw_sq_norms = sq_norms(self._raw)

    def search(self, queries: np.ndarray, k: int, search_params: Mapping[str, Any] | None = None,
               mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows for each query among the rows where ``mask`` is True (all if None)."""
        sp = validate_search_params(self.index_type, search_params or {}, k)
        queries = self._prepare_queries(queries)
        nq, n = queries.shape[0], self.num_rows
        ascending = metric_is_ascending(self.metric_type)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (n,):
                raise ParameterInvalid(f"mask shape {mask.shape} does not match {n} rows")
            selected = int(np.count_nonzero(mask))
            if selected == n:
                mask = None
        else:
            selected = n
        if selected == 0 or nq == 0:
            return _empty(nq, k, ascending)
        if self._faiss is None and self._centroids is None:
            return self._search_exact(queries, k, mask)
        if mask is not None and selected < max(EXACT_FALLBACK_ROWS, EXACT_FALLBACK_FRACTION * n):
            return self._search_exact(queries, k, mask)
        if self._centroids is not None:
            dist, idx = self._search_bin_ivf(queries, k, sp["nprobe"], mask)
        else:
            dist, idx = self._search_faiss(queries, k, sp, mask, selected)
        if mask is not None:
            short = (idx >= 0).sum(axis=1) < min(k, selected)
            if short.any():  # the graph/lists ran out of selected rows
                d2, i2 = self._search_exact(queries[short], k, mask)
                dist[short], idx[short] = d2, i2
        return dist, idx

    def serialize(self) -> bytes:
        """Self-describing bytes for ``load_index``. Needs the index's size twice in memory
        (its faiss serialization, then the result), not more."""
        blobs: dict[str, np.ndarray] = {}
        if self._faiss is not None:
            blobs["faiss"] = _faiss_bytes(self._faiss)
        if self._vectors is not None:
            blobs["vectors"] = self._vectors
        if self._centroids is not None and self._list_offsets is not None and self._list_rows is not None:
            blobs.update(centroids=self._centroids, list_offsets=self._list_offsets,
                         list_rows=self._list_rows)
        specs: list[dict[str, Any]] = []
        offset = 0
        for name, arr in blobs.items():
            offset = _aligned(offset)
            specs.append({"name": name, "dtype": arr.dtype.str, "shape": arr.shape, "offset": offset})
            offset += arr.nbytes
        header = {"index_type": self.index_type, "metric_type": self.metric_type,
                  "params": self.params, "effective_params": self.effective_params,
                  "dim": self.dim, "num_rows": self.num_rows, "blobs": specs}
        head = json.dumps(header).encode()
        start = _aligned(len(MAGIC) + 4 + len(head))
        out = io.BytesIO()  # getvalue() hands over its buffer (a bytearray would be copied)
        out.write(MAGIC + len(head).to_bytes(4, "little") + head)
        for spec, arr in zip(specs, blobs.values()):
            out.write(bytes(start + spec["offset"] - out.tell()))  # alignment padding
            out.write(np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data)
        out.write(bytes(start + offset - out.tell()))
        return out.getvalue()

    def raw_vectors(self) -> np.ndarray | None:
        """The rows the index was built on, exactly, when it holds them (FLAT types and small
        segments: its vectors; HNSW with L2 or IP: a read-only view of its flat storage that
        keeps this index alive), else None (IVF types, COSINE HNSW: normalised copies)."""
        if self._vectors is not None:
            return self._vectors
        if self.index_type != "HNSW" or self.metric_type == "COSINE":
            return None
        base = self._exact_base()[0]
        if base is None:
            return None
        view = np.asarray(_Borrowed(base, self))
        view.flags.writeable = False
        return view

    # ---------------------------------------------------------------- search paths
    def _prepare_queries(self, queries: np.ndarray) -> np.ndarray:
        q = np.asarray(queries)
        if q.ndim == 1:
            q = q[None, :]
        want = self.dim // 8 if self.binary else self.dim
        if q.ndim != 2 or q.shape[1] != want:
            raise ParameterInvalid(
                f"the dimension of the queries ({q.shape[-1]}) does not match the index "
                f"({self.dim})")
        if self.binary:
            return np.ascontiguousarray(q, dtype=np.uint8)
        q = np.ascontiguousarray(q, dtype=np.float32)
        if self.metric_type == "COSINE" and self._faiss is not None:
            q = normalize(q, np)
        return q

    def _exact_base(self) -> tuple[np.ndarray | None, Any, str]:
        """(vectors, their squared norms or None, metric) for exact search, or (None, ..)."""
        if self._vectors is not None:
            return self._vectors, self._sq_norms, self.metric_type
        if self.index_type == "HNSW":
            storage = faiss.downcast_index(self._faiss.storage)
            xb = faiss.rev_swig_ptr(storage.get_xb(), self.num_rows * storage.d)
            xb = xb.reshape(self.num_rows, storage.d)[:, :self.dim]  # COSINE: normalised
            return xb, None, "IP" if self.metric_type == "COSINE" else self.metric_type
        if self._raw is not None:
            return self._raw, self._raw_sq_norms, self.metric_type
        return None, None, self.metric_type

    def _search_exact(self, queries: np.ndarray, k: int,
                      mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        base, norms, metric = self._exact_base()
        if base is None:  # IVF without raw vectors: scan every list with the selector
            nlist = self.effective_params.get("nlist", 1)
            return self._search_faiss(queries, k, {"nprobe": nlist}, mask, 0, widen=False)
        if mask is None and self._faiss is None and backend.gpu_count() > 0:
            return self._search_exact_gpu(queries, k, base, norms, metric)
        return brute_force_search(base, queries, k, metric, mask=mask, xp=np, base_sq_norms=norms)

    def _search_faiss(self, queries: np.ndarray, k: int, sp: Mapping[str, int],
                      mask: np.ndarray | None, selected: int,
                      widen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        n = self.num_rows
        boost = n / selected if (mask is not None and widen and selected) else 1.0
        bits = sel = None
        if mask is not None:
            bits = np.packbits(mask, bitorder="little")
            sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
        if self.index_type == "HNSW":
            ef = min(HNSW_EF_MAX, max(sp["ef"], math.ceil(sp["ef"] * boost)))
            params = _search_parameters(faiss.SearchParametersHNSW, efSearch=ef) if sel is None else \
                faiss.SearchParametersHNSW(efSearch=ef, sel=sel)
        else:
            nlist = self.effective_params["nlist"]
            nprobe = min(nlist, max(1, math.ceil(sp["nprobe"] * math.sqrt(boost))))
            params = _search_parameters(faiss.SearchParametersIVF, nprobe=nprobe) if sel is None else \
                faiss.SearchParametersIVF(nprobe=nprobe, sel=sel)
        index = self._faiss if sel is not None else self._gpu_index()
        augmented = "ip_max_sq_norm" in self.effective_params
        q = np.hstack([queries, np.zeros((len(queries), 1), np.float32)]) if augmented else queries
        dist, idx = index.search(q, k, params=params)
        del bits
        if augmented:
            return self._rescore_ip(queries, idx)
        return _fix_missing(dist, idx, self.metric_type)

    def _rescore_ip(self, queries: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner products of the rows an augmented HNSW returned, best first."""
        base = self._exact_base()[0]
        assert base is not None  # an augmented HNSW always has its flat storage
        ip = np.einsum("qkd,qd->qk", base[np.maximum(idx, 0)], queries).astype(np.float32)
        ip[idx < 0] = -np.inf
        order = np.argsort(-ip, axis=1, kind="stable")
        return np.take_along_axis(ip, order, 1), np.take_along_axis(idx, order, 1)

    def _search_bin_ivf(self, queries: np.ndarray, k: int, nprobe: int,
                        mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        assert self._vectors is not None and self._centroids is not None
        assert self._list_offsets is not None and self._list_rows is not None
        nlist = self._centroids.shape[0]
        _, probes = brute_force_search(self._centroids, queries, min(nprobe, nlist), "HAMMING")
        out_d = np.empty((queries.shape[0], k), np.float32)
        out_i = np.empty((queries.shape[0], k), np.int64)
        offsets, rows = self._list_offsets, self._list_rows
        for qi in range(queries.shape[0]):
            lists = probes[qi][probes[qi] >= 0]
            cand = np.concatenate([rows[offsets[c]:offsets[c + 1]] for c in lists])
            if mask is not None:
                cand = cand[mask[cand]]
            if cand.size == 0:
                out_d[qi], out_i[qi] = np.inf, -1
                continue
            d, i = brute_force_search(self._vectors[cand], queries[qi:qi + 1], k,
                                      self.metric_type)
            out_d[qi], out_i[qi] = d[0], np.where(i[0] >= 0, cand[np.maximum(i[0], 0)], -1)
        return out_d, out_i

    # ---------------------------------------------------------------- GPU
    def _gpu_index(self) -> Any:
        """The GPU copy of an IVF index when a GPU is usable, else the CPU index."""
        if self.index_type not in _GPU_TYPES or backend.gpu_count() == 0:
            return self._faiss
        with self._gpu_lock:
            if self._gpu is None:
                try:
                    self._gpu = faiss.index_cpu_to_gpu(_gpu_resources(), 0, self._faiss)
                except Exception:  # noqa: BLE001 - e.g. a type the GPU build lacks
                    self._gpu = self._faiss
            return self._gpu

    def _search_exact_gpu(self, queries: np.ndarray, k: int, base: np.ndarray, norms: Any,
                          metric: str) -> tuple[np.ndarray, np.ndarray]:
        xp = backend.array_module()
        with self._gpu_lock:
            if self._gpu is None:
                self._gpu = (xp.asarray(base), None if norms is None else xp.asarray(norms))
            dev_base, dev_norms = self._gpu
        d, i = brute_force_search(dev_base, xp.asarray(queries), k, metric, xp=xp,
                                  base_sq_norms=dev_norms)
        return backend.to_numpy(d), backend.to_numpy(i)


def build_index(vectors: np.ndarray, index_type: str, metric_type: str,
                params: Mapping[str, Any] | None = None) -> VectorIndex:
    """Build an index over ``vectors`` (see the module docstring for the rules)."""
    vectors = np.asarray(vectors)
    binary = vectors.dtype == np.uint8
    if vectors.ndim != 2:
        raise ParameterInvalid("vectors must be a 2-D array")
    dim = vectors.shape[1] * 8 if binary else vectors.shape[1]
    dtype = DataType.BINARY_VECTOR if binary else DataType.FLOAT_VECTOR
    cfg = validate_index_params(index_type, metric_type, params or {}, dtype, dim)
    itype, metric = cfg.pop("index_type"), cfg.pop("metric_type")
    n = vectors.shape[0]
    vectors = np.ascontiguousarray(vectors, dtype=np.uint8 if binary else np.float32)
    common = {"index_type": itype, "metric_type": metric, "params": cfg, "dim": dim,
              "num_rows": n}
    if itype in ("FLAT", "BIN_FLAT") or n < MIN_ROWS_FOR_STRUCTURE:
        return VectorIndex(**common, vectors=vectors)
    if itype == "BIN_IVF_FLAT":
        return _build_bin_ivf(vectors, cfg, common)
    data = normalize(vectors, np) if metric == "COSINE" else vectors
    fmetric = _FAISS_METRIC[metric]
    eff: dict[str, Any] = {}
    if itype == "HNSW":
        if metric == "IP":  # MIPS -> L2 reduction (see the module docstring)
            norms = sq_norms(data, np)
            eff["ip_max_sq_norm"] = float(norms.max())
            extra = np.sqrt(np.maximum(eff["ip_max_sq_norm"] - norms, 0))[:, None]
            data = np.hstack([data, extra]).astype(np.float32)
            fmetric = faiss.METRIC_L2
        index = faiss.IndexHNSWFlat(data.shape[1], cfg["M"], fmetric)
        index.hnsw.efConstruction = cfg["efConstruction"]
    else:
        eff["nlist"] = min(cfg["nlist"], max(1, n // MIN_POINTS_PER_CENTROID))
        quantizer = faiss.IndexFlat(dim, fmetric)
        if itype == "IVF_FLAT":
            index = faiss.IndexIVFFlat(quantizer, dim, eff["nlist"], fmetric)
        elif itype == "IVF_SQ8":
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, eff["nlist"],
                                                  faiss.ScalarQuantizer.QT_8bit, fmetric)
        else:
            eff["nbits"] = min(cfg["nbits"], int(math.log2(n)))
            index = faiss.IndexIVFPQ(quantizer, dim, eff["nlist"], cfg["m"], eff["nbits"],
                                     fmetric)
            index.pq.cp.min_points_per_centroid = 1  # silence faiss's small-sample warning
        index.own_fields = True
        quantizer.this.disown()
        index.train(data)
    index.add(data)
    return VectorIndex(**common, effective_params=eff, faiss_index=index)


def load_index(data: bytes | bytearray | memoryview) -> VectorIndex:
    """Rebuild a ``VectorIndex`` from ``VectorIndex.serialize()`` output."""
    buf = memoryview(data)
    if bytes(buf[:len(MAGIC)]) != MAGIC:
        raise ParameterInvalid("not a serialized index (bad magic)")
    head_len = int.from_bytes(buf[len(MAGIC):len(MAGIC) + 4], "little")
    header = json.loads(bytes(buf[len(MAGIC) + 4:len(MAGIC) + 4 + head_len]))
    start = _aligned(len(MAGIC) + 4 + head_len)
    blobs = {}
    for spec in header["blobs"]:
        dt, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
        count = int(np.prod(shape)) if shape else 1
        blobs[spec["name"]] = np.frombuffer(buf, dtype=dt, count=count,
                                            offset=start + spec["offset"]).reshape(shape)
    fidx = _read_faiss(blobs["faiss"]) if "faiss" in blobs else None
    return VectorIndex(header["index_type"], header["metric_type"], header["params"],
                       header["dim"], header["num_rows"],
                       effective_params=header["effective_params"], faiss_index=fidx,
                       vectors=blobs.get("vectors"), centroids=blobs.get("centroids"),
                       list_offsets=blobs.get("list_offsets"), list_rows=blobs.get("list_rows"))


# ----------------------------------------------------------------------------------------------
def _build_bin_ivf(codes: np.ndarray, cfg: Mapping[str, Any],
                   common: dict[str, Any]) -> VectorIndex:
    """Binary k-means on the unpacked bits (as faiss's binary IVF trains), then lists by
    nearest centroid in Hamming distance."""
    n, dim = codes.shape[0], common["dim"]
    nlist = min(cfg["nlist"], max(1, n // MIN_POINTS_PER_CENTROID))
    rng = np.random.default_rng(1234)
    sample = codes if n <= 256 * nlist else codes[rng.choice(n, 256 * nlist, replace=False)]
    km = faiss.Kmeans(dim, nlist, niter=20, seed=1234, verbose=False)
    km.train(np.unpackbits(sample, axis=1).astype(np.float32))
    centroids = np.packbits(km.centroids >= 0.5, axis=1)
    assign = np.empty(n, np.int64)
    for s in range(0, n, 16384):
        assign[s:s + 16384] = brute_force_search(centroids, codes[s:s + 16384], 1, "HAMMING")[1][:, 0]
    rows = np.argsort(assign, kind="stable").astype(np.int64)
    offsets = np.searchsorted(assign[rows], np.arange(nlist + 1)).astype(np.int64)
    return VectorIndex(**common, effective_params={"nlist": nlist}, vectors=codes,
                       centroids=centroids, list_offsets=offsets, list_rows=rows)


class _Borrowed:
    """Exposes an array of memory ``owner`` holds (faiss's storage) while keeping ``owner``
    alive: ``np.asarray(_Borrowed(a, owner))`` is an array whose base is this object."""

    def __init__(self, array: np.ndarray, owner: object) -> None:
        self.__array_interface__ = array.__array_interface__
        self._owner = owner


def _faiss_bytes(index: Any) -> np.ndarray:
    """``faiss.serialize_index(index)`` written chunk by chunk into one buffer (faiss's own
    helper holds a second whole copy in a std::vector before making the array)."""
    sink = io.BytesIO()
    writer = faiss.PyCallbackIOWriter(sink.write)
    faiss.write_index(index, writer)
    del writer  # flushes
    return np.frombuffer(sink.getbuffer(), dtype=np.uint8)


def _read_faiss(blob: np.ndarray) -> Any:
    """A faiss index from its serialization, read in chunks (``faiss.deserialize_index`` first
    copies the whole blob into a std::vector)."""
    data = blob.data.cast("B")
    position = 0

    def read(n: int) -> bytes:
        nonlocal position
        chunk = data[position:position + n]
        position += len(chunk)
        return bytes(chunk)

    return faiss.read_index(faiss.PyCallbackIOReader(read, _IO_CHUNK))


def _empty(nq: int, k: int, ascending: bool) -> tuple[np.ndarray, np.ndarray]:
    return (np.full((nq, k), np.inf if ascending else -np.inf, np.float32),
            np.full((nq, k), -1, np.int64))


@functools.lru_cache(maxsize=256)
def _search_parameters(kind: type, **values: int) -> Any:
    """A faiss SearchParameters object without selector, shared by every search with the same
    values (faiss only reads it; making one costs more than an HNSW search step)."""
    return kind(**values)


def _fix_missing(dist: np.ndarray, idx: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """faiss marks empty slots with label -1 and ±FLT_MAX; use ±inf like brute force."""
    if idx.size and idx.min() < 0:
        dist = dist.copy()
        dist[idx < 0] = np.inf if metric == "L2" else -np.inf
    return dist.astype(np.float32, copy=False), idx.astype(np.int64, copy=False)


def _gpu_resources() -> Any:
    global _GPU_RESOURCES
    with _GPU_LOCK:
        if _GPU_RESOURCES is None:
            _GPU_RESOURCES = faiss.StandardGpuResources()
        return _GPU_RESOURCES


def _aligned(offset: int) -> int:
    return (offset + _ALIGN - 1) // _ALIGN * _ALIGN
