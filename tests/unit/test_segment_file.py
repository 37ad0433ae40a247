"""Parquet segment and delta files: round trips of every column type."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.errors import FieldNotFound, ParameterInvalid, Unimplemented
from common.schema import CollectionSchema, FieldSchema
from common.types import DYNAMIC_FIELD_NAME, TIMESTAMP_COLUMN, DataType
from dataplane import segment_file
from dataplane.segment_file import (
    read_delta_file,
    read_segment_file,
    write_delta_file,
    write_segment_file,
)

SCHEMA = CollectionSchema("c", (
    FieldSchema(100, "pk", DataType.INT64, is_primary=True),
    FieldSchema(101, "b", DataType.BOOL),
    FieldSchema(102, "i8", DataType.INT8),
    FieldSchema(103, "i16", DataType.INT16),
    FieldSchema(104, "i32", DataType.INT32),
    FieldSchema(105, "f", DataType.FLOAT),
    FieldSchema(106, "d", DataType.DOUBLE),
    FieldSchema(107, "s", DataType.VARCHAR, max_length=64),
    FieldSchema(108, "j", DataType.JSON),
    FieldSchema(109, "vec", DataType.FLOAT_VECTOR, dim=8),
    FieldSchema(110, "bvec", DataType.BINARY_VECTOR, dim=32),
    FieldSchema(111, DYNAMIC_FIELD_NAME, DataType.JSON, is_dynamic=True),
), enable_dynamic_field=True)


def make_columns(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    strings = np.empty(n, dtype=object)
    strings[:] = [f"row-{i}-é" for i in range(n)]
    docs = np.empty(n, dtype=object)
    docs[:] = [json.dumps({"i": i, "tag": ["a", "b"][i % 2]}).encode() for i in range(n)]
    meta = np.empty(n, dtype=object)
    meta[:] = [b"{}" for _ in range(n)]
    return {
        "pk": np.arange(n, dtype=np.int64) * 7,
        "b": rng.random(n) < 0.5,
        "i8": rng.integers(-128, 127, n).astype(np.int8),
        "i16": rng.integers(-1000, 1000, n).astype(np.int16),
        "i32": rng.integers(-10**9, 10**9, n).astype(np.int32),
        "f": rng.standard_normal(n).astype(np.float32),
        "d": rng.standard_normal(n),
        "s": strings,
        "j": docs,
        "vec": rng.standard_normal((n, 8)).astype(np.float32),
        "bvec": rng.integers(0, 256, (n, 4), dtype=np.uint8),
        DYNAMIC_FIELD_NAME: meta,
        TIMESTAMP_COLUMN: np.arange(n, dtype=np.uint64) + (1 << 40),
    }


EXPECTED_DTYPES = {
    "pk": np.int64, "b": np.bool_, "i8": np.int8, "i16": np.int16, "i32": np.int32,
    "f": np.float32, "d": np.float64, "s": object, "j": object, "vec": np.float32,
    "bvec": np.uint8, DYNAMIC_FIELD_NAME: object, TIMESTAMP_COLUMN: np.uint64,
}


@pytest.mark.parametrize("n", [0, 1, 257])
@pytest.mark.parametrize("batch_rows", [segment_file.READ_BATCH_ROWS, 64])
def test_round_trip_every_type(n, batch_rows, monkeypatch):
    monkeypatch.setattr(segment_file, "READ_BATCH_ROWS", batch_rows)  # 64: decoded in 5 batches
    cols = make_columns(n)
    data = write_segment_file(cols, SCHEMA)
    back = read_segment_file(data, SCHEMA)
    assert list(back) == list(cols)  # schema order, then $ts
    for name, want in cols.items():
        got = back[name]
        assert got.dtype == EXPECTED_DTYPES[name], name
        assert got.shape == want.shape, name
        if want.dtype == object:
            assert list(got) == list(want), name
            assert all(isinstance(v, bytes if name in ("j", DYNAMIC_FIELD_NAME) else str)
                       for v in got)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)


def test_column_selection_and_partial_write():
    cols = make_columns(50)
    data = write_segment_file(cols, SCHEMA)
    back = read_segment_file(data, SCHEMA, fields=["vec", TIMESTAMP_COLUMN])
    assert list(back) == ["vec", TIMESTAMP_COLUMN]
    np.testing.assert_array_equal(back["vec"], cols["vec"])
    partial = {k: cols[k] for k in ("pk", "vec", TIMESTAMP_COLUMN)}
    back = read_segment_file(write_segment_file(partial, SCHEMA), SCHEMA)
    assert list(back) == ["pk", "vec", TIMESTAMP_COLUMN]
    with pytest.raises(FieldNotFound):
        read_segment_file(write_segment_file(partial, SCHEMA), SCHEMA, fields=["s"])


def test_file_layout_uses_fixed_width_vectors_and_zstd():
    data = write_segment_file(make_columns(20), SCHEMA)
    meta = pq.read_metadata(pa.BufferReader(data))
    arrow = pq.read_schema(pa.BufferReader(data))
    assert arrow.field("vec").type == pa.binary(32)
    assert arrow.field("bvec").type == pa.binary(4)
    assert arrow.field(TIMESTAMP_COLUMN).type == pa.uint64()
    codecs = {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i).compression
              for i in range(meta.num_columns)}
    assert codecs["s"] == "ZSTD" and codecs["pk"] == "ZSTD"


def test_vectors_read_back_without_copy_semantics():
    cols = make_columns(100)
    back = read_segment_file(write_segment_file(cols, SCHEMA), SCHEMA, fields=["vec"])
    assert back["vec"].flags.c_contiguous and back["vec"].shape == (100, 8)


def test_write_errors():
    cols = make_columns(5)
    with pytest.raises(FieldNotFound):
        write_segment_file({**cols, "nope": cols["pk"]}, SCHEMA)
    with pytest.raises(ParameterInvalid):
        write_segment_file({"pk": cols["pk"], "vec": cols["vec"][:, :4]}, SCHEMA)
    with pytest.raises(ParameterInvalid):
        write_segment_file({"pk": cols["pk"], "f": cols["f"][:3]}, SCHEMA)
    f16_schema = CollectionSchema("c", (
        FieldSchema(1, "pk", DataType.INT64, is_primary=True),
        FieldSchema(2, "h", DataType.FLOAT16_VECTOR, dim=4)))
    with pytest.raises(Unimplemented):
        write_segment_file({"h": np.zeros((1, 4), dtype=np.float16)}, f16_schema)


def test_delta_round_trip_int_and_str():
    pks = np.array([5, -1, 1 << 60], dtype=np.int64)
    ts = np.array([10, 11, 12], dtype=np.uint64)
    got_pks, got_ts = read_delta_file(write_delta_file(pks, ts))
    assert got_pks.dtype == np.int64 and got_ts.dtype == np.uint64
    np.testing.assert_array_equal(got_pks, pks)
    np.testing.assert_array_equal(got_ts, ts)
    spks = np.array(["a", "β", ""], dtype=object)
    got_pks, got_ts = read_delta_file(write_delta_file(spks, ts))
    assert got_pks.dtype == object and list(got_pks) == ["a", "β", ""]
    got_pks, got_ts = read_delta_file(write_delta_file(np.empty(0, np.int64),
                                                       np.empty(0, np.uint64)))
    assert got_pks.shape == (0,) and got_ts.shape == (0,)
    with pytest.raises(ParameterInvalid):
        write_delta_file(pks, ts[:2])
