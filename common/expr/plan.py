"""Typed plan nodes and their vectorised evaluation.

Every node evaluates to ``(values, valid)`` for a batch of ``n`` rows: ``values`` is a NumPy
array (or, for a constant, a Python scalar/list) and ``valid`` is None (every row valid) or a
bool array; invalid rows are SQL NULLs. Boolean nodes keep ``values`` False where invalid, and
``and``/``or``/``not`` follow three-valued logic, so a NULL never satisfies a filter, even
under ``not``. A JSON path that is absent in a row is not NULL: it compares false (``!=`` true).
"""
from __future__ import annotations

import abc
import itertools
import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, cast

import numpy as np
from numpy.typing import NDArray
import pyarrow as pa
import pyarrow.compute as pc

from common import errors
from common.schema import FieldSchema, valid_column
from common.types import NUMPY_DTYPES, DataType

from .values import (
    MISSING, Kind, is_number, isin_int, json_arith, json_compare, json_key, json_truthy,
    like_matcher, like_scalar, loads_column, walk,
)

Result = tuple[Any, "np.ndarray | None"]
Mask = NDArray[np.bool_]  # one bool per row

_NP_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


def _cmp_column(op: str, col: np.ndarray, c: object) -> Mask:
    """``col <op> c`` row by row (``operator`` is typed loosely: on an array it gives a mask)."""
    return cast(Mask, _NP_CMP[op](col, c))


FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _columns_of(f: FieldSchema) -> set[str]:
    """The batch columns a reference to ``f`` reads: its values, and its validity if nullable."""
    return {f.name, valid_column(f.name)} if f.nullable else {f.name}


def _and_valid(a: Mask | None, b: Mask | None) -> Mask | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _full(n: int, value: bool) -> Mask:
    return np.ones(n, dtype=bool) if value else np.zeros(n, dtype=bool)


def _obj(values: Any) -> Any:
    """An ndarray as an object array of Python values (scalars stay as they are)."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        out = np.empty(values.shape[0], dtype=object)
        out[:] = values.tolist()
        return out
    return values


def _rowwise(fn: Callable[..., Any], *args: Any) -> np.ndarray:
    """Apply a Python function row by row (JSON/array cells only); constants are bound."""
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    if not arrays:
        return np.asarray(fn(*args))
    pos = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]

    def bound(*cells: Any) -> Any:
        full = list(args)
        for i, c in zip(pos, cells):
            full[i] = c
        return fn(*full)

    ufunc = np.frompyfunc(bound, len(arrays), 1)
    out = ufunc(*arrays)
    return out if isinstance(out, np.ndarray) else np.asarray([out], dtype=object)


def _bools(values: Any, n: int) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return values if values.dtype == bool else values.astype(bool)
    return _full(n, bool(values))


class EvalContext:
    """One evaluation: the batch, and per-evaluation caches (each JSON cell parsed once)."""

    def __init__(self, columns: Mapping[str, np.ndarray], n: int) -> None:
        self.columns = columns
        self.n = n
        self.results: dict[int, Result] = {}  # by id() of the plan node
        self.json_docs_cache: dict[str, tuple[NDArray[np.object_], Mask | None]] = {}
        self.array_data_cache: dict[str, ArrayData] = {}

    def column(self, f: FieldSchema) -> np.ndarray | None:
        col = self.columns.get(f.name)
        if col is None:
            if f.nullable:
                return None  # a nullable field added after this batch was written: all null
            raise errors.ServiceInternal(f"filter needs column {f.name}, which the batch lacks")
        col = np.asarray(col)
        if col.shape[0] != self.n:
            raise errors.ServiceInternal(
                f"column {f.name} has {col.shape[0]} rows, expected {self.n}")
        return col

    def valid(self, f: FieldSchema, col: np.ndarray | None) -> np.ndarray | None:
        if col is None:
            return np.zeros(self.n, dtype=bool)
        v = self.columns.get(valid_column(f.name))
        if v is not None:
            v = np.asarray(v, dtype=bool)
            return None if v.all() else v
        if f.nullable and col.dtype == object:  # None cells are NULL
            v = np.frompyfunc(lambda cell: cell is not None, 1, 1)(col).astype(bool)
            return None if v.all() else v
        return None

    def json_docs(self, f: FieldSchema) -> tuple[NDArray[np.object_], Mask | None]:
        if f.name not in self.json_docs_cache:
            col = self.column(f)
            valid = self.valid(f, col)
            cells = [MISSING] * self.n if col is None else loads_column(col)
            # fromiter, not slice assignment: equal-length lists must not become a 2-D array
            docs = np.fromiter(cells, dtype=object, count=self.n)
            self.json_docs_cache[f.name] = (docs, valid)
        return self.json_docs_cache[f.name]

    def array_data(self, f: FieldSchema) -> ArrayData:
        if f.name not in self.array_data_cache:
            col = self.column(f)
            valid = self.valid(f, col)
            self.array_data_cache[f.name] = ArrayData.build(col, valid, f.element_type, self.n)
        return self.array_data_cache[f.name]


@dataclass
class ArrayData:
    """An Array column flattened: ``flat`` holds every element, row i owns
    ``flat[starts[i]:starts[i] + lengths[i]]``; ``rows`` maps each element to its row."""

    flat: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray
    rows: np.ndarray
    valid: np.ndarray | None

    @staticmethod
    def build(col: np.ndarray | None, valid: np.ndarray | None, etype: DataType,
              n: int) -> ArrayData:
        dtype = np.dtype(NUMPY_DTYPES.get(etype, "object"))
        cells: list[Any] = [] if col is None else list(col)
        if valid is not None and cells:
            cells = [c if ok else () for c, ok in zip(cells, valid)]
        cells = [() if c is None else c for c in cells] if cells else [()] * n
        lengths = np.fromiter((len(c) for c in cells), dtype=np.int64, count=n)
        total = int(lengths.sum())
        flat = np.fromiter(itertools.chain.from_iterable(cells), dtype=dtype, count=total)
        starts = np.cumsum(lengths) - lengths
        rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
        return ArrayData(flat, lengths, starts, rows, valid)

    def any_per_row(self, hit: np.ndarray, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[self.rows[hit]] = True
        return out


class Node(abc.ABC):
    """A typed plan node. ``kind`` is its value type; ``desc`` names it in error messages."""

    kind: Kind = Kind.BOOL
    desc: str = "expression"

    def eval(self, ctx: EvalContext) -> Result:
        key = id(self)
        hit = ctx.results.get(key)
        if hit is None:
            hit = self._eval(ctx)
            ctx.results[key] = hit
        return hit

    @abc.abstractmethod
    def _eval(self, ctx: EvalContext) -> Result:
        """This node's value over the batch in ``ctx`` (uncached)."""

    def fields(self) -> set[str]:
        return set().union(*(c.fields() for c in self.children()))

    def children(self) -> tuple[Node, ...]:
        return ()


def predicate(node: Node, ctx: EvalContext) -> tuple[np.ndarray, np.ndarray | None]:
    """Evaluate a boolean (or JSON, true where the value is ``true``) node as a filter."""
    values, valid = node.eval(ctx)
    if node.kind is Kind.JSON:
        values = _rowwise(json_truthy, values)
    out = _bools(values, ctx.n)
    if valid is not None:
        out = out & valid
    return out, valid


@dataclass(eq=False)
class Const(Node):
    value: Any
    kind: Kind
    desc: str = "constant"

    def _eval(self, ctx: EvalContext) -> Result:
        return self.value, None


@dataclass(eq=False)
class Column(Node):
    """A scalar schema field (bool, integer, float or varchar)."""

    field: FieldSchema
    kind: Kind
    desc: str = ""

    def fields(self) -> set[str]:
        return _columns_of(self.field)

    def _eval(self, ctx: EvalContext) -> Result:
        col = ctx.column(self.field)
        valid = ctx.valid(self.field, col)
        if col is None:
            fill = {Kind.STRING: "", Kind.BOOL: False}.get(self.kind, 0)
            col = np.full(ctx.n, fill, dtype=object if self.kind is Kind.STRING else None)
        elif self.kind is Kind.STRING and valid is not None:
            col = col.copy()
            col[~valid] = ""
        return col, valid


@dataclass(eq=False)
class JsonPath(Node):
    """A JSON field (or the dynamic ``$meta``) followed by a path of keys / indexes."""

    field: FieldSchema
    path: tuple[str | int, ...]
    kind: Kind = Kind.JSON
    desc: str = ""

    def fields(self) -> set[str]:
        return _columns_of(self.field)

    def _eval(self, ctx: EvalContext) -> Result:
        docs, valid = ctx.json_docs(self.field)
        if not self.path:
            return docs, valid
        path = self.path
        if len(path) == 1 and isinstance(path[0], str):  # the common meta["key"]: dict lookups
            key = path[0]
            return np.fromiter((d.get(key, MISSING) if type(d) is dict else walk(d, path) for d in docs),
                               dtype=object, count=ctx.n), valid
        return np.fromiter((walk(d, path) for d in docs), dtype=object, count=ctx.n), valid


@dataclass(eq=False)
class ArrayColumn(Node):
    field: FieldSchema
    elem_kind: Kind
    kind: Kind = Kind.ARRAY
    desc: str = ""

    def fields(self) -> set[str]:
        return _columns_of(self.field)

    def _eval(self, ctx: EvalContext) -> Result:
        data = ctx.array_data(self.field)
        return data, data.valid


@dataclass(eq=False)
class ArrayElement(Node):
    """``arr[i]``: rows whose array is shorter than ``i + 1`` are NULL."""

    array: ArrayColumn
    index: int
    kind: Kind
    desc: str = ""

    def children(self) -> tuple[Node, ...]:
        return (self.array,)

    def _eval(self, ctx: EvalContext) -> Result:
        data: ArrayData = self.array.eval(ctx)[0]
        has = data.lengths > self.index
        if data.flat.shape[0]:
            idx = np.where(has, data.starts + self.index, 0)
            values = data.flat[idx]
        else:
            values = np.zeros(ctx.n, dtype=data.flat.dtype)
        if values.dtype == object:
            values = values.copy()
            values[~has] = ""
        return values, _and_valid(has, data.valid)


@dataclass(eq=False)
class Length(Node):
    """``array_length(x)`` of an Array field or a JSON list (NULL when not a list)."""

    source: Node
    kind: Kind = Kind.INT
    desc: str = "array_length"

    def children(self) -> tuple[Node, ...]:
        return (self.source,)

    def _eval(self, ctx: EvalContext) -> Result:
        values, valid = self.source.eval(ctx)
        if isinstance(values, ArrayData):
            return values.lengths, valid
        lens = np.fromiter((len(v) if isinstance(v, list) else -1 for v in values),
                           dtype=np.int64, count=ctx.n)
        return lens, _and_valid(lens >= 0, valid)


@dataclass(eq=False)
class Neg(Node):
    operand: Node
    kind: Kind
    desc: str = "arithmetic expression"

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)

    def _eval(self, ctx: EvalContext) -> Result:
        values, valid = self.operand.eval(ctx)
        if self.operand.kind is Kind.JSON:
            return _rowwise(lambda v: json_arith("-", 0, v), values), valid
        if values.dtype.kind in "iu":
            values = values.astype(np.int64, copy=False)
        return np.negative(values), valid


@dataclass(eq=False)
class Arith(Node):
    op: str
    left: Node
    right: Node
    kind: Kind
    desc: str = "arithmetic expression"

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)

    def _eval(self, ctx: EvalContext) -> Result:
        lv, lvalid = self.left.eval(ctx)
        rv, rvalid = self.right.eval(ctx)
        valid = _and_valid(lvalid, rvalid)
        if self.kind is Kind.JSON:
            return _rowwise(lambda a, b: json_arith(self.op, a, b), _obj(lv), _obj(rv)), valid
        lv, rv = _numeric_operand(lv), _numeric_operand(rv)
        op = self.op
        if op == "**":
            return np.power(np.asarray(lv, np.float64), np.asarray(rv, np.float64)), valid
        if self.kind is Kind.FLOAT or op in "+-*":
            fn = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide,
                  "%": np.fmod}[op]
            return fn(lv, rv), valid
        # integer / and %: truncate toward zero (C semantics); a zero divisor gives NULL
        zero = np.equal(rv, 0)
        if np.any(zero):
            rv = np.where(zero, 1, rv)
            valid = _and_valid(valid, ~zero)
        rem = np.fmod(lv, rv)
        if op == "%":
            return rem, valid
        return (np.subtract(lv, rem)) // rv, valid


def _numeric_operand(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "iu":
            return v.astype(np.int64, copy=False)
        if v.dtype == bool:
            return v.astype(np.int64)
        return v
    if isinstance(v, int):
        return np.int64(v)
    return v


@dataclass(eq=False)
class Compare(Node):
    op: str
    left: Node
    right: Node
    desc: str = "comparison"

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)

    def _eval(self, ctx: EvalContext) -> Result:
        lv, lvalid = self.left.eval(ctx)
        rv, rvalid = self.right.eval(ctx)
        valid = _and_valid(lvalid, rvalid)
        lk, rk = self.left.kind, self.right.kind
        if Kind.JSON in (lk, rk):
            res = _json_vs_const(self.op, lv, rv) if isinstance(lv, np.ndarray) else None
            if res is None:
                res = _rowwise(lambda a, b: json_compare(self.op, a, b), _obj(lv), _obj(rv))
        elif lk is Kind.ARRAY:
            res = _array_equal(lv, rv, self.op == "!=", ctx.n)
        elif isinstance(lv, np.ndarray) and lv.dtype.kind in "iu" and is_number(rv):
            res = _int_vs_const(self.op, lv, rv)
        else:
            res = _NP_CMP[self.op](lv, rv)
        res = _bools(res, ctx.n)
        if valid is not None:
            res = res & valid
        return res, valid


_EXACT_FLOAT_INT = 2**53


def _json_vs_const(op: str, values: np.ndarray, c: Any) -> np.ndarray | None:
    """``json_compare(op, v, c)`` for every runtime-typed value ``v`` against a number or string
    constant, with one pass to type the values and NumPy for the comparison; None when the
    general per-row rule is needed (another constant, an object column of values that are not
    all JSON-parsed, or integers beyond 2**53 that float64 cannot hold exactly)."""
    if values.dtype != object:
        return None
    n = values.shape[0]
    if is_number(c):
        if isinstance(c, int) and abs(c) > _EXACT_FLOAT_INT:
            return None
        nums = np.fromiter((v if type(v) is int or type(v) is float else math.nan for v in values),
                           dtype=np.float64, count=n)
        if np.any(np.abs(nums) > _EXACT_FLOAT_INT):
            return None
        hit: Mask = nums == c if op in ("==", "!=") else _cmp_column(op, nums, c)
    elif isinstance(c, str):
        is_str = np.fromiter((type(v) is str for v in values), dtype=bool, count=n)
        hit = np.zeros(n, dtype=bool)
        if is_str.any():
            strs = values[is_str]
            hit[is_str] = np.asarray(_NP_CMP["==" if op == "!=" else op](strs, c), dtype=bool)
    else:
        return None
    return ~hit if op == "!=" else hit


def _int_vs_const(op: str, col: np.ndarray, c: int | float) -> np.ndarray:
    """Compare an integer column with a number exactly (no rounding through float64)."""
    if isinstance(c, float):
        if c != c or c in (float("inf"), float("-inf")):
            return _cmp_column(op, col.astype(np.float64), c)
        if c != int(c):
            if op in ("==", "!="):
                return _full(col.shape[0], op == "!=")
            # x > 2.5 is x > 2, x >= 2.5 is x >= 3, x < 2.5 is x < 3, x <= 2.5 is x <= 2
            c = math.floor(c) if op in (">", "<=") else math.ceil(c)
        c = int(c)
    info = np.iinfo(col.dtype)
    if c > info.max or c < info.min:
        above = c > info.max  # the constant is above every value
        truth = {"==": False, "!=": True, "<": above, "<=": above, ">": not above,
                 ">=": not above}[op]
        return _full(col.shape[0], truth)
    return _cmp_column(op, col, c)


def _array_equal(data: ArrayData, values: list[Any], negate: bool, n: int) -> np.ndarray:
    k = len(values)
    res = data.lengths == k
    rows = np.flatnonzero(res)
    for j, v in enumerate(values):
        if rows.shape[0] == 0:
            break
        ok = data.flat[data.starts[rows] + j] == v
        rows = rows[np.asarray(ok, dtype=bool)]
    res = np.zeros(n, dtype=bool)
    res[rows] = True
    return ~res if negate else res


@dataclass(eq=False)
class InList(Node):
    """``value in [...]``; ``values`` are already coerced to the value's kind (JSON: any)."""

    value: Node
    values: list[Any]
    negate: bool
    desc: str = "in"

    def children(self) -> tuple[Node, ...]:
        return (self.value,)

    def _eval(self, ctx: EvalContext) -> Result:
        v, valid = self.value.eval(ctx)
        kind = self.value.kind
        hit: np.ndarray | bool  # per row, or one answer for a constant
        if kind is Kind.JSON:
            keys = {json_key(x) for x in self.values}
            hit = _rowwise(lambda a: a is not MISSING and a is not None and json_key(a) in keys,
                           v)
        elif not isinstance(v, np.ndarray):
            hit = v in self.values
        elif v.dtype.kind in "iu":
            info = np.iinfo(v.dtype)
            hit = isin_int(v, [x for x in self.values if info.min <= x <= info.max])
        elif v.dtype == object:
            if len(self.values) <= 4:
                hit = _full(ctx.n, False)
                for x in self.values:
                    hit |= v == x
            else:
                hit = np.fromiter(map(set(self.values).__contains__, v), bool, ctx.n)
        else:
            hit = np.isin(v, np.asarray(self.values, dtype=v.dtype)) if self.values else False
        res = _bools(hit, ctx.n)
        if self.negate:
            res = ~res
        if valid is not None:
            res = res & valid
        return res, valid


_ARROW_LIKE = {"prefix": pc.starts_with, "suffix": pc.ends_with, "infix": pc.match_substring}


@dataclass(eq=False)
class LikeNode(Node):
    value: Node
    pattern: str
    desc: str = "like"

    def children(self) -> tuple[Node, ...]:
        return (self.value,)

    def _eval(self, ctx: EvalContext) -> Result:
        v, valid = self.value.eval(ctx)
        how, arg = m = like_matcher(self.pattern)
        if self.value.kind is Kind.JSON or not isinstance(v, np.ndarray):
            res = _rowwise(lambda s: like_scalar(m, s), v)
        elif how == "eq":
            res = v == arg
        elif how in _ARROW_LIKE or "\\" not in self.pattern:
            # Arrow's string kernels (its LIKE has the same % and _): 2-5x faster than per-row
            # str methods; patterns with escapes keep our own matcher
            arrow = pa.array(v, type=pa.string(), from_pandas=True)
            kernel = _ARROW_LIKE.get(how)
            hit = kernel(arrow, arg) if kernel is not None else pc.match_like(arrow, self.pattern)
            res = hit.fill_null(False).to_numpy(zero_copy_only=False)
        else:
            assert isinstance(arg, re.Pattern)  # the only matcher left: a regex
            regex = arg
            res = np.frompyfunc(lambda s: regex.fullmatch(s) is not None, 1, 1)(v)
        res = _bools(res, ctx.n)
        if valid is not None:
            res = res & valid
        return res, valid


@dataclass(eq=False)
class IsNull(Node):
    """``x is null``: a NULL row; for a JSON path also an absent key or a JSON null."""

    source: Node
    negate: bool
    desc: str = "is null"

    def children(self) -> tuple[Node, ...]:
        return (self.source,)

    def _eval(self, ctx: EvalContext) -> Result:
        values, valid = self.source.eval(ctx)
        null = _full(ctx.n, False) if valid is None else ~valid
        if self.source.kind is Kind.JSON:
            null = null | _bools(_rowwise(lambda v: v is MISSING or v is None, values), ctx.n)
        return (~null if self.negate else null), None


@dataclass(eq=False)
class ExistsNode(Node):
    """``exists j["k"]``: the key is present (even when its value is a JSON null)."""

    source: JsonPath
    desc: str = "exists"

    def children(self) -> tuple[Node, ...]:
        return (self.source,)

    def _eval(self, ctx: EvalContext) -> Result:
        values, valid = self.source.eval(ctx)
        res = _bools(_rowwise(lambda v: v is not MISSING, values), ctx.n)
        if valid is not None:
            res = res & valid
        return res, valid


@dataclass(eq=False)
class Contains(Node):
    """json_contains / array_contains (``mode`` "one"), ``_all`` ("all") and ``_any`` ("any")."""

    source: Node
    mode: str
    values: list[Any]
    desc: str = "contains"

    def children(self) -> tuple[Node, ...]:
        return (self.source,)

    def _eval(self, ctx: EvalContext) -> Result:
        data, valid = self.source.eval(ctx)
        n = ctx.n
        if isinstance(data, ArrayData):
            vals = self.values
            if self.mode == "all":
                res = _full(n, True)
                for v in dict.fromkeys(vals):
                    res &= data.any_per_row(data.flat == v, n)
            elif not vals:
                res = _full(n, False)
            elif data.flat.dtype == object:
                hit = np.frompyfunc(set(vals).__contains__, 1, 1)(data.flat).astype(bool)
                res = data.any_per_row(hit, n)
            else:
                res = data.any_per_row(np.isin(data.flat, np.asarray(vals, data.flat.dtype)), n)
        else:
            keys = [json_key(v) for v in self.values]
            mode = self.mode

            def test(cell: Any) -> bool:
                if not isinstance(cell, list):
                    return False
                have = {json_key(x) for x in cell}
                if mode == "all":
                    return all(k in have for k in keys)
                return any(k in have for k in keys)

            res = _bools(_rowwise(test, data), n)
        if valid is not None:
            res = res & valid
        return res, valid


@dataclass(eq=False)
class NotNode(Node):
    operand: Node
    desc: str = "not"

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)

    def _eval(self, ctx: EvalContext) -> Result:
        v, valid = predicate(self.operand, ctx)
        res = ~v
        if valid is not None:
            res &= valid
        return res, valid


@dataclass(eq=False)
class LogicalNode(Node):
    op: str  # "and" | "or"
    left: Node
    right: Node
    desc: str = "logical expression"

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)

    def _eval(self, ctx: EvalContext) -> Result:
        a, ak = predicate(self.left, ctx)
        b, bk = predicate(self.right, ctx)
        if self.op == "and":
            res = a & b
            if ak is None and bk is None:
                return res, None
            # known when both are known, or when either side is a known false
            ak_ = _full(ctx.n, True) if ak is None else ak
            bk_ = _full(ctx.n, True) if bk is None else bk
            return res, (ak_ & bk_) | (ak_ & ~a) | (bk_ & ~b)
        res = a | b
        if ak is None and bk is None:
            return res, None
        ak_ = _full(ctx.n, True) if ak is None else ak
        bk_ = _full(ctx.n, True) if bk is None else bk
        return res, (ak_ & bk_) | res


@dataclass(eq=False)
class ExprPlan:
    """A compiled, type-checked filter. Evaluate it on any batch with the schema's layout."""

    text: str
    root: Node | None
    referenced_fields: frozenset[str] = frozenset()  # the columns evaluation reads (incl. x$valid)
    pk_values: list[Any] | None = None

    @property
    def is_always_true(self) -> bool:
        """True for an empty expression (which matches every row)."""
        return self.root is None

    def evaluate(self, columns: Mapping[str, np.ndarray], num_rows: int) -> np.ndarray:
        """The rows of the batch that satisfy the expression, as a bool mask of ``num_rows``."""
        if self.root is None:
            return np.ones(num_rows, dtype=bool)
        ctx = EvalContext(columns, num_rows)
        with np.errstate(all="ignore"):
            mask, _ = predicate(self.root, ctx)
        # always a fresh array: a bare bool column must not be handed back to be mutated
        return np.array(np.broadcast_to(mask, (num_rows,)), dtype=bool)

