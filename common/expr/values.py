"""Value semantics shared by constant folding and evaluation: kinds, scalar arithmetic, the
runtime-typed comparison rules for JSON values, LIKE patterns and fast integer membership."""
from __future__ import annotations

import json
import math
import operator
import re
from enum import Enum
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from common.types import DataType

# orjson is optional: faster JSON parsing of $meta / JSON cells when installed
_orjson_loads: Callable[[bytes | bytearray | memoryview | str], Any] | None
try:
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson_loads = None

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class Kind(Enum):
    """The type of a value in an expression, after schema resolution."""

    BOOL = "Bool"
    INT = "Int64"
    FLOAT = "Double"
    STRING = "VarChar"
    JSON = "JSON"
    ARRAY = "Array"


class _Missing:
    """A JSON path that does not exist in a row (distinct from a JSON ``null``, which is None)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

DTYPE_NAMES = {
    DataType.BOOL: "Bool", DataType.INT8: "Int8", DataType.INT16: "Int16",
    DataType.INT32: "Int32", DataType.INT64: "Int64", DataType.FLOAT: "Float",
    DataType.DOUBLE: "Double", DataType.STRING: "String", DataType.VARCHAR: "VarChar",
    DataType.ARRAY: "Array", DataType.JSON: "JSON", DataType.BINARY_VECTOR: "BinaryVector",
    DataType.FLOAT_VECTOR: "FloatVector", DataType.FLOAT16_VECTOR: "Float16Vector",
    DataType.BFLOAT16_VECTOR: "BFloat16Vector",
    DataType.SPARSE_FLOAT_VECTOR: "SparseFloatVector",
}


def kind_of_value(value: Any) -> Kind:
    """The kind of a Python constant (after template conversion)."""
    if isinstance(value, bool):
        return Kind.BOOL
    if isinstance(value, int):
        return Kind.INT
    if isinstance(value, float):
        return Kind.FLOAT
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, list):
        return Kind.ARRAY
    return Kind.JSON


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# ---- scalar arithmetic (Milvus semantics: int op int stays int; / and % truncate toward 0) ----

def _int_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _int_mod(a: int, b: int) -> int:
    return a - b * _int_div(a, b)


def scalar_arith(op: str, a: Any, b: Any) -> Any:
    """Apply ``op`` to two Python numbers; raises ZeroDivisionError / OverflowError / ValueError."""
    both_int = isinstance(a, int) and isinstance(b, int)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            raise ZeroDivisionError("divide by zero")
        return _int_div(a, b) if both_int else a / b
    if op == "%":
        if b == 0:
            raise ZeroDivisionError("modulo by zero")
        return _int_mod(a, b) if both_int else math.fmod(a, b)
    if op == "**":
        return math.pow(float(a), float(b))
    raise ValueError(f"unknown arithmetic operator {op}")


def json_arith(op: str, a: Any, b: Any) -> Any:
    """Per-row arithmetic on runtime-typed values: anything but two numbers gives MISSING."""
    if not (is_number(a) and is_number(b)):
        return MISSING
    try:
        return scalar_arith(op, a, b)
    except (ZeroDivisionError, OverflowError, ValueError):
        return MISSING


# ---- runtime-typed comparison (JSON values) ----

def _cls(v: Any) -> str | None:
    if v is None or v is MISSING:
        return None
    if isinstance(v, bool):
        return "b"
    if isinstance(v, (int, float)):
        return "n"
    if isinstance(v, str):
        return "s"
    if isinstance(v, (list, tuple)):
        return "l"
    if isinstance(v, dict):
        return "d"
    return "?"


def json_equal(a: Any, b: Any) -> bool:
    """Equality where booleans never equal numbers, 1 == 1.0, and lists compare element-wise."""
    ca, cb = _cls(a), _cls(b)
    if ca is None or ca != cb:
        return False
    if ca == "l":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if ca == "d":
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


_ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def json_compare(op: str, a: Any, b: Any) -> bool:
    """``a op b`` for runtime-typed values: a missing value or a type mismatch is false, except
    for ``!=`` which is then true; ordering applies to two numbers or two strings only."""
    if op == "==":
        return json_equal(a, b)
    if op == "!=":
        return not json_equal(a, b)
    ca = _cls(a)
    if ca in ("n", "s") and ca == _cls(b):
        return bool(_ORDER_OPS[op](a, b))
    return False


def json_key(v: Any) -> Any:
    """A hashable key such that ``json_key(a) == json_key(b)`` iff ``json_equal(a, b)``."""
    c = _cls(v)
    if c == "l":
        return ("l", tuple(json_key(x) for x in v))
    if c == "d":
        return ("d", tuple(sorted((k, json_key(x)) for k, x in v.items())))
    if c == "n":
        return ("n", v)
    return (c, v)


def json_truthy(v: Any) -> bool:
    return v is True


def loads(cell: Any) -> Any:
    """Parse one JSON cell (bytes/str); already-parsed values pass through; None is MISSING."""
    if cell is None:
        return MISSING
    if isinstance(cell, (bytes, bytearray, memoryview, str)):
        if len(cell) == 0:
            return MISSING
        if _orjson_loads is not None:
            try:
                return _orjson_loads(cell)
            except Exception:  # orjson rejects some valid JSON (e.g. huge integers)
                pass
        try:
            return json.loads(bytes(cell) if isinstance(cell, memoryview) else cell)
        except ValueError:
            return MISSING
    return cell


def loads_column(cells: Any) -> list[Any]:
    """``loads`` of every cell of a JSON column (one orjson pass when every cell parses)."""
    if _orjson_loads is not None:
        try:
            return list(map(_orjson_loads, cells))
        except Exception:  # a None/empty/odd cell: take the careful path for the column
            pass
    return [loads(c) for c in cells]


def walk(doc: Any, path: tuple[str | int, ...]) -> Any:
    """Follow a JSON path (keys and list indexes) into a parsed document; MISSING if absent."""
    for step in path:
        if isinstance(doc, dict):
            key = step if isinstance(step, str) else str(step)
            if key not in doc:
                return MISSING
            doc = doc[key]
        elif isinstance(doc, list) and isinstance(step, int) and not isinstance(step, bool):
            if not 0 <= step < len(doc):
                return MISSING
            doc = doc[step]
        else:
            return MISSING
    return doc


# ---- LIKE ----

def like_matcher(pattern: str) -> tuple[str, str | re.Pattern[str]]:
    """Classify a LIKE pattern (``%`` any run, ``_`` one character, ``\\`` escapes the next
    character) as ``("eq"|"prefix"|"suffix"|"infix", text)`` or ``("regex", compiled)``."""
    parts: list[tuple[str, str]] = []  # ("lit", text) | ("any", "") | ("one", "")
    buf: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            buf.append(pattern[i + 1])
            i += 2
            continue
        if ch in "%_":
            if buf:
                parts.append(("lit", "".join(buf)))
                buf = []
            parts.append(("any" if ch == "%" else "one", ""))
        else:
            buf.append(ch)
        i += 1
    if buf:
        parts.append(("lit", "".join(buf)))
    merged: list[tuple[str, str]] = []
    for p in parts:  # collapse runs of %
        if p[0] == "any" and merged and merged[-1][0] == "any":
            continue
        merged.append(p)
    kinds = [k for k, _ in merged]
    lits = [t for k, t in merged if k == "lit"]
    if "one" not in kinds and len(lits) <= 1:
        text = lits[0] if lits else ""
        shape = tuple(k for k in kinds)
        if shape in (("lit",), ()):
            return ("eq", text)
        if shape == ("lit", "any"):
            return ("prefix", text)
        if shape == ("any", "lit"):
            return ("suffix", text)
        if shape == ("any", "lit", "any"):
            return ("infix", text)
        if shape == ("any",):
            return ("prefix", "")
    regex = "".join(re.escape(t) if k == "lit" else (".*" if k == "any" else ".")
                    for k, t in merged)
    return ("regex", re.compile(regex, re.DOTALL))


def like_scalar(matcher: tuple[str, str | re.Pattern[str]], s: object) -> bool:
    if not isinstance(s, str):
        return False
    how, arg = matcher
    if isinstance(arg, re.Pattern):
        return arg.fullmatch(s) is not None
    if how == "eq":
        return s == arg
    if how == "prefix":
        return s.startswith(arg)
    if how == "suffix":
        return s.endswith(arg)
    return arg in s  # infix


# ---- membership on integer columns ----

_TABLE_MAX = 1 << 22
_HASH_BITS = 20


def isin_int(x: NDArray[np.integer], vals: list[int]) -> NDArray[np.bool_]:
    """``np.isin`` for an integer column and integer values that fit its dtype, in a few passes:
    a direct table when the values span a small range, else a low-bits hash table as a
    pre-filter followed by an exact check of the (few) candidates."""
    n = x.shape[0]
    if not vals:
        return np.zeros(n, dtype=bool)
    if len(vals) <= 4:
        out: NDArray[np.bool_] = x == vals[0]
        for val in vals[1:]:
            out |= x == val
        return out
    x = x.astype(np.int64, copy=False)
    v = np.unique(np.asarray(vals, dtype=np.int64))
    lo, hi = int(v[0]), int(v[-1])
    if hi - lo < _TABLE_MAX:
        size = hi - lo + 1
        table = np.zeros(size + 2, dtype=bool)
        table[v - lo + 1] = True
        idx = x - (lo - 1) if lo > INT64_MIN else np.maximum(x, lo) - lo + 1
        np.clip(idx, 0, size + 1, out=idx)
        return table.take(idx)
    mask = (1 << _HASH_BITS) - 1
    table = np.zeros(1 << _HASH_BITS, dtype=bool)
    table[v & mask] = True
    cand = np.flatnonzero(table.take(np.bitwise_and(x, mask)))
    xc = x[cand]
    pos = np.searchsorted(v, xc)
    pos[pos == len(v)] = 0
    out = np.zeros(n, dtype=bool)
    out[cand[v[pos] == xc]] = True
    return out
