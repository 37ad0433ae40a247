"""Array fields, nullable fields and default values end to end inside the server: schema
validation, FieldData <-> columns (pymilvus's compacted form and our full-length form), Parquet
segment files, filters over NULLs and arrays, and query/search output with ``valid_data``."""
from __future__ import annotations

import json

import numpy as np
import pytest

from common.errors import CollectionIllegalSchema, ParameterInvalid
from common.expr import compile_expr
from common.schema import valid_column
from common.schema_proto import complete_schema, public_schema, schema_from_proto
from common.types import TIMESTAMP_COLUMN, DataType
from dataplane import segment_file
from dataplane.delete_record import DeleteRecord
from dataplane.fielddata import columns_from_insert, field_columns, field_data_from_column
from dataplane.insert_msg import encode_insert_columns, insert_msg_columns
from dataplane.segment_file import read_segment_file, write_segment_file
from nodes.querynode.executor import query, search
from nodes.querynode.segments import new_growing, snapshot
from nodes.querynode.shard import ReadView
from proto.internal import dml_pb2, querynode_pb2
from proto.milvus import common_pb2, schema_pb2
from tests.support.read_requests import compiled_filter, search_plan

MAX_TS = 2**63 - 1


def kv(**params: object) -> list[common_pb2.KeyValuePair]:
    return [common_pb2.KeyValuePair(key=k, value=str(v)) for k, v in params.items()]


def wire_field(name: str, dtype: DataType, **kw) -> schema_pb2.FieldSchema:  # type: ignore[no-untyped-def]
    params = kw.pop("params", {})
    return schema_pb2.FieldSchema(name=name, data_type=int(dtype), type_params=kv(**params), **kw)


def user_schema(*extra: schema_pb2.FieldSchema) -> schema_pb2.CollectionSchema:
    return schema_pb2.CollectionSchema(name="c", fields=[
        wire_field("id", DataType.INT64, is_primary_key=True),
        *extra,
        wire_field("vec", DataType.FLOAT_VECTOR, params={"dim": 2}),
    ])


def make_schema():  # type: ignore[no-untyped-def]
    return schema_from_proto(complete_schema(user_schema(
        wire_field("score", DataType.INT32, nullable=True),
        wire_field("nick", DataType.VARCHAR, nullable=True, params={"max_length": 8}),
        wire_field("level", DataType.INT16, default_value=schema_pb2.ValueField(long_data=7)),
        wire_field("city", DataType.VARCHAR, nullable=True, params={"max_length": 8},
                   default_value=schema_pb2.ValueField(string_data="x")),
        wire_field("meta", DataType.JSON, nullable=True),
        wire_field("tags", DataType.ARRAY, element_type=int(DataType.INT64), params={"max_capacity": 4}),
        wire_field("words", DataType.ARRAY, element_type=int(DataType.VARCHAR), nullable=True,
                   params={"max_capacity": 3, "max_length": 5}),
    ), "c"))


# ------------------------------------------------------------------------------ schema rules
@pytest.mark.parametrize(("field", "message"), [
    (wire_field("id2", DataType.INT64, nullable=True, is_primary_key=True), "primary key cannot be nullable"),
    (wire_field("v2", DataType.FLOAT_VECTOR, nullable=True, params={"dim": 2}), "vector field"),
    (wire_field("a", DataType.ARRAY, element_type=int(DataType.INT64)), "max_capacity is required"),
    (wire_field("a", DataType.ARRAY, element_type=int(DataType.INT64), params={"max_capacity": 5000}),
     "max_capacity 5000"),
    (wire_field("a", DataType.ARRAY, element_type=int(DataType.JSON), params={"max_capacity": 4}),
     "element type JSON"),
    (wire_field("a", DataType.ARRAY, element_type=int(DataType.VARCHAR), params={"max_capacity": 4}),
     "max_length is required"),
    (wire_field("b", DataType.BOOL, default_value=schema_pb2.ValueField(long_data=1)), "type mismatch"),
    (wire_field("i", DataType.INT8, default_value=schema_pb2.ValueField(int_data=300)), "out of the range"),
    (wire_field("f", DataType.FLOAT, default_value=schema_pb2.ValueField(string_data="1")), "type mismatch"),
    (wire_field("s", DataType.VARCHAR, params={"max_length": 2},
                default_value=schema_pb2.ValueField(string_data="abc")), "exceeds max length"),
    (wire_field("j", DataType.JSON, default_value=schema_pb2.ValueField(string_data="{}")),
     "cannot have a default value"),
    (wire_field("a", DataType.ARRAY, element_type=int(DataType.INT64), params={"max_capacity": 4},
                default_value=schema_pb2.ValueField(long_data=1)), "cannot have a default value"),
])
def test_schema_rejects_bad_nullable_default_and_array_fields(field, message) -> None:  # type: ignore[no-untyped-def]
    schema = user_schema(field)
    if field.is_primary_key:
        schema.fields[0].is_primary_key = False
    with pytest.raises((ParameterInvalid, CollectionIllegalSchema), match=message):
        complete_schema(schema, "c")


def test_schema_keeps_nullable_default_and_array_settings() -> None:
    wire = complete_schema(user_schema(
        wire_field("d", DataType.DOUBLE, default_value=schema_pb2.ValueField(long_data=2)),
        wire_field("a", DataType.ARRAY, element_type=int(DataType.VARCHAR), nullable=True,
                   params={"max_capacity": 3, "max_length": 5}),
    ), "c")
    shown = {f.name: f for f in public_schema(wire).fields}
    assert shown["a"].nullable and shown["a"].element_type == DataType.VARCHAR
    assert shown["d"].default_value.long_data == 2  # echoed as sent (pymilvus compares schemas)
    plain = schema_from_proto(wire)
    assert plain.field("d").default_value == 2.0 and isinstance(plain.field("d").default_value, float)
    a = plain.field("a")
    assert (a.max_capacity, a.max_length, a.element_type, a.nullable) == (3, 5, DataType.VARCHAR, True)
    assert [f.name for f in plain.column_fields] == ["id", "d", "a", valid_column("a"), "vec"]


# ------------------------------------------------------------------------- FieldData <-> columns
def compact_field(name: str, dtype: DataType, values: list, oneof: str) -> schema_pb2.FieldData:
    """A FieldData as pymilvus sends a nullable column: valid_data plus the non-null values."""
    fd = schema_pb2.FieldData(field_name=name, type=int(dtype), valid_data=[v is not None for v in values])
    getattr(fd.scalars, oneof).data.extend(v for v in values if v is not None)
    return fd


def array_field(name: str, rows: list, oneof: str, valid: bool) -> schema_pb2.FieldData:
    fd = schema_pb2.FieldData(field_name=name, type=int(DataType.ARRAY))
    fd.scalars.array_data.SetInParent()
    for row in rows:
        if row is not None:
            getattr(fd.scalars.array_data.data.add(), oneof).data.extend(row)
    if valid:
        fd.valid_data.extend(r is not None for r in rows)
    return fd


def insert_data() -> list[schema_pb2.FieldData]:
    ids = schema_pb2.FieldData(field_name="id", type=int(DataType.INT64))
    ids.scalars.long_data.data.extend([1, 2, 3, 4])
    vec = schema_pb2.FieldData(field_name="vec", type=int(DataType.FLOAT_VECTOR))
    vec.vectors.dim = 2
    vec.vectors.float_vector.data.extend([0, 0, 1, 0, 0, 1, 1, 1])
    return [
        ids, vec,
        compact_field("score", DataType.INT32, [5, None, -3, None], "int_data"),
        compact_field("nick", DataType.VARCHAR, [None, "bo", "cy", None], "string_data"),
        compact_field("level", DataType.INT16, [None, 2, None, 4], "int_data"),
        compact_field("city", DataType.VARCHAR, ["rome", None, None, "oslo"], "string_data"),
        compact_field("meta", DataType.JSON, [b'{"k": 1}', None, b'{"k": [2]}', b"null"], "json_data"),
        array_field("tags", [[1, 2], [], [3], [4, 5, 6, 7]], "long_data", valid=False),
        array_field("words", [["a"], None, ["b", "cc"], []], "string_data", valid=True),
    ]


def test_insert_columns_fill_nulls_defaults_and_arrays() -> None:
    schema = make_schema()
    cols = columns_from_insert(schema, insert_data(), 4, None)
    assert cols["score"].tolist() == [5, 0, -3, 0] and cols["score$valid"].tolist() == [True, False, True, False]
    assert cols["nick"].tolist() == [None, "bo", "cy", None]
    assert cols["level"].tolist() == [7, 2, 7, 4] and valid_column("level") not in cols  # default, not nullable
    assert cols["city"].tolist() == ["rome", "x", "x", "oslo"] and cols["city$valid"].all()  # nullable + default
    assert [c.tolist() for c in cols["tags"]] == [[1, 2], [], [3], [4, 5, 6, 7]] and cols["tags"][0].dtype == np.int64
    assert [None if c is None else c.tolist() for c in cols["words"]] == [["a"], None, ["b", "cc"], []]
    assert cols["meta$valid"].tolist() == [True, False, True, True]


def plain(column: np.ndarray) -> list:
    """A column as Python values (array cells as lists), for comparisons."""
    return [c.tolist() if isinstance(c, np.ndarray) else c for c in column.tolist()] \
        if column.dtype == object else column.tolist()


def test_result_field_data_is_full_length_and_reads_back() -> None:
    schema = make_schema()
    cols = columns_from_insert(schema, insert_data(), 4, None)
    out = {f.name: field_data_from_column(f, cols[f.name], cols.get(valid_column(f.name))) for f in schema.fields}
    assert list(out["score"].scalars.int_data.data) == [5, 0, -3, 0]
    assert list(out["score"].valid_data) == [True, False, True, False]
    assert list(out["nick"].scalars.string_data.data) == ["", "bo", "cy", ""]
    assert list(out["meta"].scalars.json_data.data)[1] == b"" and len(out["meta"].valid_data) == 4
    assert not out["level"].valid_data  # only nullable fields carry valid_data
    words = out["words"].scalars.array_data
    assert words.element_type == DataType.VARCHAR and len(words.data) == 4
    assert list(words.data[2].string_data.data) == ["b", "cc"]
    # The full-length form (what the proxy forwards to the nodes) decodes to the same columns.
    again = columns_from_insert(schema, list(out.values()), 4, None)
    assert {n: plain(c) for n, c in again.items()} == {n: plain(c) for n, c in cols.items()}



def test_insert_message_columns_in_both_formats_decode_to_the_validated_columns() -> None:
    """The proxy encodes a shard's validated columns once (``InsertMsg.columns``); consumers
    decode exactly those columns, as they decode a message written in the old format
    (``fields_data``), and fixed-width columns are read-only views of the message."""
    schema = make_schema()
    cols = columns_from_insert(schema, insert_data(), 4, None)
    want = {n: plain(c) for n, c in cols.items()}
    new = dml_pb2.InsertMsg(timestamp=9, num_rows=4, columns=encode_insert_columns(schema, cols))
    old = dml_pb2.InsertMsg(timestamp=9, num_rows=4, fields_data=insert_data())
    for msg in (new, old):
        got = insert_msg_columns(schema, dml_pb2.InsertMsg.FromString(msg.SerializeToString()))
        assert got.pop(TIMESTAMP_COLUMN).tolist() == [9] * 4
        assert {n: plain(c) for n, c in got.items()} == want
        assert {n: c.dtype for n, c in got.items()} == {n: c.dtype for n, c in cols.items()}
        assert got["vec"].shape == (4, 2) and got["tags"][0].dtype == np.int64
    decoded = insert_msg_columns(schema, new)
    assert not decoded["vec"].flags.writeable and not decoded["score"].flags.writeable  # no copy

    rows = np.array([3, 1])
    part = insert_msg_columns(schema, dml_pb2.InsertMsg(num_rows=2, columns=encode_insert_columns(schema, cols, rows)))
    assert {n: plain(c) for n, c in part.items() if n != TIMESTAMP_COLUMN} == \
        {n: [v[i] for i in rows] for n, v in want.items()}

    with pytest.raises(ParameterInvalid, match="num_rows says 5"):
        insert_msg_columns(schema, dml_pb2.InsertMsg(num_rows=5, columns=new.columns))
    with pytest.raises(ParameterInvalid, match="cannot be decoded"):
        insert_msg_columns(schema, dml_pb2.InsertMsg(num_rows=4, columns=new.columns[:40]))

def test_absent_fields_and_bad_data() -> None:
    schema = make_schema()
    data = {fd.field_name: fd for fd in insert_data()}
    present = [data["id"], data["vec"], data["tags"]]
    cols = columns_from_insert(schema, present, 4, None)
    assert not cols["score$valid"].any() and cols["level"].tolist() == [7] * 4
    assert cols["city"].tolist() == ["x"] * 4 and cols["city$valid"].all()
    with pytest.raises(ParameterInvalid, match="missing field tags"):
        columns_from_insert(schema, [data["id"], data["vec"]], 4, None)

    def bad(fd: schema_pb2.FieldData, match: str) -> None:
        rest = [d for name, d in data.items() if name != fd.field_name]
        with pytest.raises(ParameterInvalid, match=match):
            columns_from_insert(schema, [*rest, fd], 4, None)

    bad(array_field("tags", [[1], [2], None, [3]], "long_data", valid=True), "not nullable")
    bad(array_field("tags", [[1], [2], [1, 2, 3, 4, 5], [3]], "long_data", valid=False), "max_capacity 4")
    bad(array_field("tags", [["1"], ["2"], ["3"], ["4"]], "string_data", valid=False), "expected INT64 elements")
    bad(array_field("words", [["toolong"], [], [], []], "string_data", valid=True), "max_length 5")
    wrong_type = array_field("tags", [[1], [2], [3], [4]], "long_data", valid=False)
    wrong_type.scalars.array_data.element_type = int(DataType.INT32)
    bad(wrong_type, "expected Array of INT64")
    bad(compact_field("score", DataType.INT32, [1, 2, None, None, None], "int_data"), "valid_data")
    short = compact_field("score", DataType.INT32, [1, 2, None, None], "int_data")
    del short.scalars.int_data.data[1:]
    bad(short, "1 values for 2 non-null rows")
    int8 = schema_from_proto(complete_schema(user_schema(
        wire_field("small", DataType.ARRAY, element_type=int(DataType.INT8), params={"max_capacity": 2})), "c"))
    with pytest.raises(ParameterInvalid, match="out of range of INT8"):
        field_columns(int8.field("small"), array_field("small", [[1, 300]], "int_data", valid=False), 1)


# ---------------------------------------------------------------------------- segment files
@pytest.mark.parametrize("batch_rows", [segment_file.READ_BATCH_ROWS, 3])
def test_segment_file_round_trip_with_nulls_and_arrays(batch_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment_file, "READ_BATCH_ROWS", batch_rows)  # 3: decoded in two batches
    schema = make_schema()
    cols = columns_from_insert(schema, insert_data(), 4, None)
    cols[TIMESTAMP_COLUMN] = np.arange(4, dtype=np.uint64)
    back = read_segment_file(write_segment_file(cols, schema), schema)
    assert set(back) == set(cols)
    assert back["score"].dtype == np.int32 and back["score"].tolist() == [5, 0, -3, 0]
    for name in ("score$valid", "nick$valid", "meta$valid", "words$valid", "city$valid"):
        assert back[name].tolist() == cols[name].tolist(), name
    assert back["nick"].tolist() == [None, "bo", "cy", None]
    assert [c.tolist() for c in back["tags"]] == [[1, 2], [], [3], [4, 5, 6, 7]] and back["tags"][3].dtype == np.int64
    assert [None if c is None else c.tolist() for c in back["words"]] == [["a"], None, ["b", "cc"], []]
    assert back["meta"][1] is None and json.loads(back["meta"][2]) == {"k": [2]}


# --------------------------------------------------------------------- filters and results
def loaded_view(schema, cols):  # type: ignore[no-untyped-def]
    growing = new_growing(1, 7, 70, "ch", schema)
    growing.append({**cols, TIMESTAMP_COLUMN: np.full(4, 10, np.uint64)})
    return ReadView(segments=[snapshot(growing)], deletes=DeleteRecord())


def run_query(view, schema, expr: str, outputs=()):  # type: ignore[no-untyped-def]
    fields, _ = query(view, schema, querynode_pb2.ShardQueryRequest(
        scope=querynode_pb2.ReadScope(read_ts=MAX_TS, filter=compiled_filter(expr, schema),
                                      output_fields=list(outputs)), limit=-1))
    return {fd.field_name: fd for fd in fields}


@pytest.mark.parametrize(("expr", "ids"), [
    ("score > 0", [1]),
    ("not (score > 0)", [3]),  # NULL rows stay out under not
    ("score is null", [2, 4]),
    ("score is not null and nick is not null", [3]),
    ("nick like 'b%' or score < 0", [2, 3]),
    ("level == 7", [1, 3]),
    ("city == 'x'", [2, 3]),
    ('meta["k"] == 1', [1]),
    ("meta is null", [2, 4]),  # NULL row and JSON null
    ('json_contains(meta["k"], 2)', [3]),
    ("tags[1] == 2", [1]),
    ("array_length(tags) >= 1 and array_contains_any(tags, [3, 7])", [3, 4]),
    ("array_contains_all(tags, [4, 7])", [4]),
    ("words[0] in ['a', 'b']", [1, 3]),
    ("words is null", [2]),
    ("array_length(words) == 0", [4]),
    ("tags == [1, 2]", [1]),
])
def test_filters_over_nulls_and_arrays(expr: str, ids: list[int]) -> None:
    schema = make_schema()
    view = loaded_view(schema, columns_from_insert(schema, insert_data(), 4, None))
    assert list(run_query(view, schema, expr)["id"].scalars.long_data.data) == ids


def test_query_and_search_return_valid_data() -> None:
    schema = make_schema()
    view = loaded_view(schema, columns_from_insert(schema, insert_data(), 4, None))
    out = run_query(view, schema, "id > 0", ["score", "words", "tags", "meta"])
    assert list(out["score"].valid_data) == [True, False, True, False]
    assert list(out["words"].valid_data) == [True, False, True, True]
    assert [list(c.long_data.data) for c in out["tags"].scalars.array_data.data] == [[1, 2], [], [3], [4, 5, 6, 7]]
    res = search(view, schema, querynode_pb2.ShardSearchRequest(
        scope=querynode_pb2.ReadScope(read_ts=MAX_TS, filter=compiled_filter("score is null", schema),
                                      output_fields=["score", "nick"]),
        plan=search_plan(schema.field("vec"), np.array([[1, 1]], np.float32), 5, metric="L2")), [])
    assert list(res.ids.int_id.data) == [4, 2]
    got = {fd.field_name: fd for fd in res.fields_data}
    assert list(got["score"].valid_data) == [False, False] and list(got["nick"].valid_data) == [False, True]
    assert list(got["nick"].scalars.string_data.data) == ["", "bo"]


def test_plan_reads_validity_columns() -> None:
    schema = make_schema()
    assert compile_expr("score > 1", schema).referenced_fields == frozenset({"score", "score$valid"})


def test_pk_lookup_honours_mvcc_and_deletes() -> None:
    schema = make_schema()
    view = loaded_view(schema, columns_from_insert(schema, insert_data(), 4, None))
    view.deletes.add(np.array([2], dtype=np.int64), 20)

    def ids(expr: str, read_ts: int) -> list[int]:
        fields, _ = query(view, schema, querynode_pb2.ShardQueryRequest(
            scope=querynode_pb2.ReadScope(read_ts=read_ts, filter=compiled_filter(expr, schema)), limit=-1))
        return list(fields[0].scalars.long_data.data)

    assert compile_expr("id in [2, 4, 9]", schema).pk_values == [2, 4, 9]
    assert ids("id in [2, 4, 9]", 15) == [2, 4]
    assert ids("id in [2, 4, 9]", 25) == [4]
    assert ids("id == 4", 5) == []  # inserted at ts 10
