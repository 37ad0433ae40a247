"""Property test: random expressions over a random table, the engine's mask against a plain
row-by-row Python evaluator written here (SQL three-valued logic for NULLs, Milvus rules for
integer division and JSON values). Expressions are printed with only the parentheses the
precedence needs (sometimes more), so the parser's precedence is under test too."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.expr import compile_expr, decode_plan, encode_plan
from common.schema import CollectionSchema, FieldSchema
from common.types import DataType as D

SCHEMA = CollectionSchema("p", (
    FieldSchema(1, "pk", D.INT64, is_primary=True),
    FieldSchema(2, "i", D.INT64),
    FieldSchema(3, "j", D.INT32, nullable=True),
    FieldSchema(4, "f", D.DOUBLE),
    FieldSchema(5, "s", D.VARCHAR, max_length=8),
    FieldSchema(6, "b", D.BOOL),
    FieldSchema(7, "$meta", D.JSON, is_dynamic=True),
), enable_dynamic_field=True)

NULL = None


class _Absent:
    pass


ABSENT = _Absent()  # a JSON key missing from the row

# precedence levels of the printed forms
OR, AND, NOT, EQ, REL, ADD, MUL, UNARY, ATOM = 1, 2, 3, 4, 5, 6, 7, 8, 10

Row = dict[str, Any]


@dataclass
class E:
    text: str
    prec: int
    fn: Callable[[Row], Any]
    kind: str  # "int" | "float" | "str" | "bool" | "json"


def wrap(e: E, need: int, extra: bool) -> str:
    return f"({e.text})" if e.prec < need or extra else e.text


# ---- reference semantics ----

def ref_arith(op: str, a: Any, b: Any) -> Any:
    if a is NULL or b is NULL:
        return NULL
    if isinstance(a, int) and isinstance(b, int):
        if op == "/":
            q = abs(a) // abs(b)
            return q if (a < 0) == (b < 0) else -q
        if op == "%":
            q = abs(a) // abs(b)
            q = q if (a < 0) == (b < 0) else -q
            return a - b * q
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
            "/": lambda: a / b}[op]()


CMP = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
       "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def ref_cmp(op: str, a: Any, b: Any) -> Any:
    if a is NULL or b is NULL:
        return NULL
    return CMP[op](a, b)


def _jtype(v: Any) -> str:
    if v is ABSENT or v is None:
        return "none"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "num"
    return "str"


def ref_json_cmp(op: str, v: Any, c: Any) -> bool:
    same = _jtype(v) == _jtype(c) != "none"
    if op == "==":
        return same and v == c
    if op == "!=":
        return not (same and v == c)
    return same and _jtype(v) in ("num", "str") and CMP[op](v, c)


def ref_like(s: str, pattern: str) -> bool:
    if not pattern:
        return s == ""
    head, rest = pattern[0], pattern[1:]
    if head == "%":
        return any(ref_like(s[k:], rest) for k in range(len(s) + 1))
    if not s:
        return False
    return (head == "_" or head == s[0]) and ref_like(s[1:], rest)


def ref_and(a: Any, b: Any) -> Any:
    if a is False or b is False:
        return False
    return NULL if a is NULL or b is NULL else True


def ref_or(a: Any, b: Any) -> Any:
    if a is True or b is True:
        return True
    return NULL if a is NULL or b is NULL else False


def ref_not(a: Any) -> Any:
    return NULL if a is NULL else not a


# ---- expression generators ----

small_ints = st.integers(-20, 20)
floats = st.sampled_from([-2.5, -1.0, 0.0, 0.5, 1.0, 3.25, 10.0, 1e-3])


def int_const(v: int) -> E:
    return E(str(v), UNARY if v < 0 else ATOM, lambda r: v, "int")


def float_const(v: float) -> E:
    return E(repr(v), UNARY if v < 0 else ATOM, lambda r: v, "float")


@st.composite
def numeric(draw: st.DrawFn, depth: int = 2) -> E:
    choice = draw(st.integers(0, 9 if depth > 0 else 4))
    if choice == 0:
        return E("i", ATOM, lambda r: r["i"], "int")
    if choice == 1:
        return E("j", ATOM, lambda r: r["j"], "int")
    if choice == 2:
        return E("f", ATOM, lambda r: r["f"], "float")
    if choice == 3:
        return int_const(draw(small_ints))
    if choice == 4:
        return float_const(draw(floats))
    if choice == 5:
        e = draw(numeric(depth - 1))
        fn = e.fn
        return E(f"-{wrap(e, UNARY, draw(st.booleans()))}", UNARY,
                 lambda r: NULL if fn(r) is NULL else -fn(r), e.kind)
    left = draw(numeric(depth - 1))
    op = draw(st.sampled_from(["+", "-", "*", "/", "%"]))
    if op in "/%":
        if op == "%" and left.kind != "int":
            op = "*"
        right = int_const(draw(st.integers(1, 7)) * draw(st.sampled_from([1, -1])))
        if op == "/" and draw(st.booleans()):
            right = float_const(draw(st.sampled_from([0.5, 2.0, -4.0])))
    else:
        right = draw(numeric(depth - 1))
    prec = ADD if op in "+-" else MUL
    text = (f"{wrap(left, prec, draw(st.booleans()))} {op} "
            f"{wrap(right, prec + 1, draw(st.booleans()))}")
    lf, rf = left.fn, right.fn
    kind = "int" if left.kind == right.kind == "int" else "float"
    return E(text, prec, lambda r: ref_arith(op, lf(r), rf(r)), kind)


strings = st.text(alphabet="ab", max_size=3)


def quote(s: str) -> str:
    return json.dumps(s)


@st.composite
def predicate(draw: st.DrawFn, depth: int = 2) -> E:
    choice = draw(st.integers(0, 13 if depth > 0 else 9))
    ex = draw(st.booleans())
    if choice == 0:  # numeric comparison
        a, b = draw(numeric()), draw(numeric())
        op = draw(st.sampled_from(list(CMP)))
        prec = EQ if op in ("==", "!=") else REL
        af, bf = a.fn, b.fn
        return E(f"{wrap(a, ADD, ex)} {op} {wrap(b, ADD, draw(st.booleans()))}", prec,
                 lambda r: ref_cmp(op, af(r), bf(r)), "bool")
    if choice == 1:  # string comparison
        c = draw(strings)
        op = draw(st.sampled_from(list(CMP)))
        prec = EQ if op in ("==", "!=") else REL
        if draw(st.booleans()):
            return E(f"s {op} {quote(c)}", prec, lambda r: CMP[op](r["s"], c), "bool")
        return E(f"{quote(c)} {op} s", prec, lambda r: CMP[op](c, r["s"]), "bool")
    if choice == 2:  # in / not in on numbers
        a = draw(numeric(1))
        vals = draw(st.lists(st.one_of(small_ints, floats), max_size=8))
        neg = draw(st.booleans())
        af = a.fn

        def fn(r: Row) -> Any:
            v = af(r)
            if v is NULL:
                return NULL
            return (v in vals) != neg
        return E(f"{wrap(a, ADD, ex)} {'not in' if neg else 'in'} {vals}", REL, fn, "bool")
    if choice == 3:  # in on strings
        str_vals = draw(st.lists(strings, max_size=7))
        neg = draw(st.booleans())
        text = f"s {'not in' if neg else 'in'} [{', '.join(quote(v) for v in str_vals)}]"
        return E(text, REL, lambda r: (r["s"] in str_vals) != neg, "bool")
    if choice == 4:  # like
        pat = draw(st.text(alphabet="ab%_", max_size=4))
        return E(f"s like {quote(pat)}", REL, lambda r: ref_like(r["s"], pat), "bool")
    if choice == 5:  # chained range
        lo, hi = sorted(draw(st.lists(st.one_of(small_ints, floats), min_size=2, max_size=2)))
        mid = draw(st.sampled_from([("i", "i"), ("j", "j"), ("f", "f")]))
        o1, o2 = draw(st.sampled_from(["<", "<="])), draw(st.sampled_from(["<", "<="]))
        col = mid[0]
        if draw(st.booleans()):
            flip = {"<": ">", "<=": ">="}
            text = f"{hi} {flip[o2]} {col} {flip[o1]} {lo}"
        else:
            text = f"{lo} {o1} {col} {o2} {hi}"
        return E(text, REL, lambda r: ref_and(ref_cmp(o1, lo, r[col]), ref_cmp(o2, r[col], hi)),
                 "bool")
    if choice == 6:  # null tests
        col = draw(st.sampled_from(["i", "j", "k"]))
        neg = draw(st.booleans())

        def is_null(r: Row) -> bool:
            v = r[col]
            return (v is NULL or v is ABSENT) != neg
        return E(f"{col} is {'not ' if neg else ''}null", REL, is_null, "bool")
    if choice == 7:  # booleans
        v = draw(st.booleans())
        form = draw(st.integers(0, 2))
        if form == 0:
            return E("b", ATOM, lambda r: r["b"], "bool")
        op = draw(st.sampled_from(["==", "!="]))
        lit = draw(st.sampled_from(["true", "True", "TRUE"] if v else ["false", "False"]))
        return E(f"b {op} {lit}", EQ, lambda r: CMP[op](r["b"], v), "bool")
    if choice in (8, 9):  # dynamic JSON key
        key_value = draw(st.one_of(small_ints, floats, strings, st.booleans()))
        if draw(st.booleans()):
            op = draw(st.sampled_from(list(CMP)))
            if isinstance(key_value, bool):
                lit = "true" if key_value else "false"
            else:
                lit = json.dumps(key_value)
            return E(f"k {op} {lit}", EQ if op in ("==", "!=") else REL,
                     lambda r: ref_json_cmp(op, r["k"], key_value), "bool")
        key_values = draw(st.lists(st.one_of(small_ints, strings, st.booleans()), max_size=4))
        text = "k in [" + ", ".join(json.dumps(v) for v in key_values) + "]"
        return E(text, REL, lambda r: any(ref_json_cmp("==", r["k"], v) for v in key_values), "bool")
    if choice == 10:
        e = draw(predicate(depth - 1))
        word = draw(st.sampled_from(["not ", "!", "NOT "]))
        ef = e.fn
        return E(f"{word}{wrap(e, NOT, ex)}", NOT, lambda r: ref_not(ef(r)), "bool")
    a, b = draw(predicate(depth - 1)), draw(predicate(depth - 1))
    af, bf = a.fn, b.fn
    if choice == 11:
        word = draw(st.sampled_from(["and", "&&", "AND"]))
        return E(f"{wrap(a, AND, ex)} {word} {wrap(b, NOT, draw(st.booleans()))}", AND,
                 lambda r: ref_and(af(r), bf(r)), "bool")
    word = draw(st.sampled_from(["or", "||", "OR"]))
    return E(f"{wrap(a, OR, ex)} {word} {wrap(b, AND, draw(st.booleans()))}", OR,
             lambda r: ref_or(af(r), bf(r)), "bool")


json_values = st.one_of(st.just(ABSENT), st.none(), small_ints, floats, strings, st.booleans())


@st.composite
def tables(draw: st.DrawFn) -> tuple[dict[str, np.ndarray], list[Row]]:
    n = draw(st.integers(0, 25))
    rows: list[Row] = []
    for _ in range(n):
        rows.append({
            "i": draw(st.integers(-50, 50)),
            "j": draw(st.one_of(st.none(), st.integers(-50, 50))),
            "f": draw(st.one_of(floats, st.integers(-30, 30).map(float))),
            "s": draw(strings),
            "b": draw(st.booleans()),
            "k": draw(json_values),
        })
    meta = np.empty(n, dtype=object)
    meta[:] = [json.dumps({} if r["k"] is ABSENT else {"k": r["k"]}).encode() for r in rows]
    strs = np.empty(n, dtype=object)
    strs[:] = [r["s"] for r in rows]
    columns: dict[str, np.ndarray] = {
        "i": np.array([r["i"] for r in rows], dtype=np.int64),
        "j": np.array([0 if r["j"] is None else r["j"] for r in rows], dtype=np.int32),
        "j$valid": np.array([r["j"] is not None for r in rows], dtype=bool),
        "f": np.array([r["f"] for r in rows], dtype=np.float64),
        "s": strs,
        "b": np.array([r["b"] for r in rows], dtype=bool),
        "$meta": meta,
    }
    return columns, rows


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), expr=predicate(3))
def test_engine_matches_reference(table: tuple[dict[str, np.ndarray], list[Row]], expr: E) -> None:
    columns, rows = table
    plan = compile_expr(expr.text, SCHEMA)
    mask = plan.evaluate(columns, len(rows))
    expected = [expr.fn(r) is True for r in rows]
    assert mask.tolist() == expected, expr.text


@settings(max_examples=150, deadline=None)
@given(expr=predicate(3))
def test_redundant_parentheses_do_not_change_the_plan(expr: E) -> None:
    wrapped = f"(({expr.text}))"
    rng = np.random.default_rng(len(expr.text))
    n = 16
    meta = np.empty(n, dtype=object)
    meta[:] = [json.dumps({"k": int(v)}).encode() for v in rng.integers(-3, 3, n)]
    strs = np.empty(n, dtype=object)
    strs[:] = ["".join(rng.choice(list("ab"), rng.integers(0, 3))) for _ in range(n)]
    columns: dict[str, np.ndarray] = {
        "i": rng.integers(-20, 20, n), "j": rng.integers(-20, 20, n).astype(np.int32),
        "f": rng.integers(-8, 8, n) / 2, "s": strs, "b": rng.random(n) < 0.5, "$meta": meta}
    a = compile_expr(expr.text, SCHEMA).evaluate(columns, n)
    b = compile_expr(wrapped, SCHEMA).evaluate(columns, n)
    assert a.tolist() == b.tolist()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), expr=predicate(3))
def test_compiled_filter_round_trip_evaluates_identically(table: tuple[dict[str, np.ndarray], list[Row]],
                                                           expr: E) -> None:
    """What the proxy sends (``encode_plan``) is what the querynode evaluates (``decode_plan``)."""
    columns, rows = table
    plan = compile_expr(expr.text, SCHEMA)
    text = encode_plan(plan)
    decoded = decode_plan(text, SCHEMA)
    assert decoded.referenced_fields == plan.referenced_fields
    assert decoded.pk_values == plan.pk_values
    assert decoded.evaluate(columns, len(rows)).tolist() == plan.evaluate(columns, len(rows)).tolist(), expr.text
    assert encode_plan(decoded) == text  # stable: the decoded plan encodes to the same text
