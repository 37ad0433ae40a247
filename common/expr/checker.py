"""Syntax tree → typed plan: resolves names against the schema, fills templates, applies the
type rules once (so evaluation never meets a type error) and folds constant sub-expressions."""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping, NoReturn

from common.schema import CollectionSchema, FieldSchema
from common.types import FLOAT_TYPES, INTEGER_TYPES, STRING_TYPES, DataType

from . import plan as P
from . import syntax as S
from .parser import fail
from .values import (
    DTYPE_NAMES, INT64_MAX, INT64_MIN, Kind, is_number, json_compare, kind_of_value,
    scalar_arith,
)

_NUMERIC = (Kind.INT, Kind.FLOAT)
_FUNCTIONS = {
    "json_contains": "one", "array_contains": "one",
    "json_contains_all": "all", "array_contains_all": "all",
    "json_contains_any": "any", "array_contains_any": "any",
}


def _dtype_kind(dtype: DataType) -> Kind:
    if dtype == DataType.BOOL:
        return Kind.BOOL
    if dtype in INTEGER_TYPES:
        return Kind.INT
    if dtype in FLOAT_TYPES:
        return Kind.FLOAT
    if dtype in STRING_TYPES:
        return Kind.STRING
    if dtype == DataType.JSON:
        return Kind.JSON
    return Kind.ARRAY


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = json.dumps(value, default=str) if isinstance(value, list) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def const(value: Any, kind: Kind | None = None) -> P.Const:
    kind = kind or kind_of_value(value)
    return P.Const(value, kind, desc=f"{kind.value} value {_show(value)}")


def template_value(value: Any) -> Any:
    """A template value as a plain Python constant. Accepts Python/NumPy values and the
    ``TemplateValue`` / ``TemplateArrayValue`` protobuf messages (duck-typed)."""
    if hasattr(value, "WhichOneof"):
        which = value.WhichOneof("val") if "val" in _oneofs(value) else value.WhichOneof("data")
        if which is None:
            raise ValueError("an empty template value")
        inner = getattr(value, which)
        if which == "array_val":
            return template_value(inner)
        if which == "array_data":
            return [template_value(v) for v in inner.data]
        if which == "json_data":
            return [json.loads(v) for v in inner.data]
        if which.endswith("_data"):
            return [template_value(v) for v in inner.data]
        return template_value(inner)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # NumPy scalar
        return template_value(value.item())
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8")
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        return [template_value(v) for v in items]
    if isinstance(value, dict):
        return {str(k): template_value(v) for k, v in value.items()}
    raise ValueError(f"unsupported template value of type {type(value).__name__}")


def _oneofs(msg: Any) -> set[str]:
    return set(msg.DESCRIPTOR.oneofs_by_name)


class Checker:
    def __init__(self, text: str, schema: CollectionSchema,
                 templates: Mapping[str, Any] | None) -> None:
        self.text = text
        self.schema = schema
        self.templates = templates or {}

    def fail(self, detail: str, col: int | None = None) -> NoReturn:
        fail(self.text, detail + (f" (column {col})" if col else ""))

    # ---- entry ----

    def check_root(self, node: S.Node) -> P.Node:
        out = self.check(node)
        if out.kind not in (Kind.BOOL, Kind.JSON):
            self.fail(f"the expression must be a boolean predicate, got {out.desc}", node.col)
        return out

    def check(self, node: S.Node) -> P.Node:
        method: Callable[[S.Node], P.Node] = getattr(self, "_" + type(node).__name__)
        return method(node)

    # ---- values ----

    def _Literal(self, node: S.Literal) -> P.Node:
        return const(node.value)

    def _ArrayLit(self, node: S.ArrayLit) -> P.Node:
        items = []
        for item in node.items:
            if type(item) is S.Literal:  # the common case, kept fast for 10k-id lists
                items.append(item.value)
                continue
            checked = self.check(item)
            if not isinstance(checked, P.Const):
                self.fail(f"array elements must be constants, got {checked.desc}", item.col)
            items.append(checked.value)
        return const(items, Kind.ARRAY)

    def _ConstList(self, node: S.ConstList) -> P.Node:
        return const(node.values, Kind.ARRAY)

    def _Template(self, node: S.Template) -> P.Node:
        if node.name not in self.templates:
            self.fail(f"template variable {{{node.name}}} has no value", node.col)
        try:
            value = template_value(self.templates[node.name])
        except (ValueError, TypeError) as err:
            self.fail(f"template variable {{{node.name}}}: {err}", node.col)
        if value is None:
            self.fail(f"template variable {{{node.name}}} is null", node.col)
        return const(value)

    def _FieldRef(self, node: S.FieldRef) -> P.Node:
        name, path = node.name, node.path
        f = self.schema.field(name)
        dyn = self.schema.dynamic_field
        if f is None or f.is_dynamic:
            if dyn is None:
                self.fail(f"field {name} does not exist", node.col)
            full = path if f is not None else (name, *path)
            label = "dynamic field " + (name if f is None else "$meta")
            return P.JsonPath(dyn, full, desc=f"{label}{_path_text(path)} (JSON)")
        tname = DTYPE_NAMES.get(f.dtype, f.dtype.name)
        if f.is_vector:
            self.fail(f"vector field {name} ({tname}) cannot be used in an expression", node.col)
        if f.dtype == DataType.JSON:
            return P.JsonPath(f, path, desc=f"field {name}{_path_text(path)} (JSON)")
        if f.dtype == DataType.ARRAY:
            ename = DTYPE_NAMES.get(f.element_type, f.element_type.name)
            elem = _dtype_kind(f.element_type)
            arr = P.ArrayColumn(f, elem, desc=f"field {name} (Array of {ename})")
            if not path:
                return arr
            if len(path) > 1 or not isinstance(path[0], int):
                self.fail(f"array field {name} takes a single integer index", node.col)
            return P.ArrayElement(arr, path[0], elem, desc=f"field {name}[{path[0]}] ({ename})")
        if path:
            self.fail(f"field {name} ({tname}) cannot be indexed", node.col)
        return P.Column(f, _dtype_kind(f.dtype), desc=f"field {name} ({tname})")

    def _Sign(self, node: S.Sign) -> P.Node:
        v = self.check(node.operand)
        if v.kind not in (*_NUMERIC, Kind.JSON):
            self.fail(f"unary {node.op} cannot be applied to {v.desc}", node.col)
        if node.op == "+":
            return v
        if isinstance(v, P.Const):
            return const(-v.value)
        return P.Neg(v, v.kind)

    def _Arith(self, node: S.Arith) -> P.Node:
        left, right = self.check(node.left), self.check(node.right)
        op = node.op
        for side in (left, right):
            if side.kind not in (*_NUMERIC, Kind.JSON):
                self.fail(f"arithmetic operator {op} cannot be applied to {side.desc}", node.col)
        kinds = {left.kind, right.kind}
        if op == "%" and Kind.FLOAT in kinds:
            self.fail(f"modulo can only be applied to integers, got "
                      f"{(left if left.kind is Kind.FLOAT else right).desc}", node.col)
        if isinstance(left, P.Const) and isinstance(right, P.Const):
            try:
                return const(scalar_arith(op, left.value, right.value))
            except (ZeroDivisionError, OverflowError, ValueError) as err:
                self.fail(f"cannot evaluate {op}: {err}", node.col)
        if op in "/%" and isinstance(right, P.Const) and right.value == 0:
            self.fail("divide by zero", node.col)
        for side in (left, right):
            if isinstance(side, P.Const) and isinstance(side.value, int) and not (
                    INT64_MIN <= side.value <= INT64_MAX):
                self.fail(f"{side.desc} is out of the Int64 range", node.col)
        if Kind.JSON in kinds:
            kind = Kind.JSON
        elif Kind.FLOAT in kinds or op == "**":
            kind = Kind.FLOAT
        else:
            kind = Kind.INT
        return P.Arith(op, left, right, kind)

    def _Call(self, node: S.Call) -> P.Node:
        name = node.name.lower()
        if name == "array_length":
            if len(node.args) != 1:
                self.fail("array_length takes one argument", node.col)
            src = self.check(node.args[0])
            if not isinstance(src, (P.ArrayColumn, P.JsonPath)):
                self.fail(f"array_length needs an Array or JSON field, got {src.desc}", node.col)
            return P.Length(src)
        mode = _FUNCTIONS.get(name)
        if mode is None:
            self.fail(f"function {node.name} is not supported", node.col)
        if len(node.args) != 2:
            self.fail(f"{name} takes two arguments", node.col)
        src, arg = self.check(node.args[0]), self.check(node.args[1])
        if not isinstance(src, (P.ArrayColumn, P.JsonPath)):
            self.fail(f"{name} needs an Array or JSON field, got {src.desc}", node.col)
        if not isinstance(arg, P.Const):
            self.fail(f"the second argument of {name} must be a constant, got {arg.desc}",
                      node.col)
        if mode == "one":
            values = [arg.value]
        else:
            if arg.kind is not Kind.ARRAY:
                self.fail(f"the second argument of {name} must be an array, got {arg.desc}",
                          node.col)
            values = arg.value
        if isinstance(src, P.ArrayColumn):
            values = self.coerce(src.elem_kind, values, src, node.col)
        return P.Contains(src, "all" if mode == "all" else "any", values)

    # ---- predicates ----

    def _Compare(self, node: S.Compare) -> P.Node:
        return self.compare(node.op, self.check(node.left), self.check(node.right), node.col)

    def _Range(self, node: S.Range) -> P.Node:
        mid = self.check(node.mid)
        lower = self.compare(node.op1, self.check(node.lo), mid, node.col)
        upper = self.compare(node.op2, mid, self.check(node.hi), node.col)
        return self.logical("and", lower, upper, node.col)

    def compare(self, op: str, left: P.Node, right: P.Node, col: int) -> P.Node:
        if isinstance(left, P.Const) and not isinstance(right, P.Const):
            left, right, op = right, left, P.FLIP[op]
        lk, rk = left.kind, right.kind
        mismatch = f"cannot compare {left.desc} with {right.desc}"
        if Kind.ARRAY in (lk, rk):
            if lk is Kind.JSON or rk is Kind.JSON:
                if not (isinstance(right, P.Const) or isinstance(left, P.Const)):
                    self.fail(mismatch, col)
            elif not (isinstance(left, P.ArrayColumn) and isinstance(right, P.Const)):
                self.fail(mismatch, col)
            if op not in ("==", "!="):
                self.fail(f"operator {op} is not supported between {left.desc} and "
                          f"{right.desc}", col)
            if isinstance(left, P.ArrayColumn) and isinstance(right, P.Const):  # else failed above
                right = const(self.coerce(left.elem_kind, right.value, left, col,
                                          drop_inexact=False), Kind.ARRAY)
        elif Kind.JSON in (lk, rk):
            pass
        elif lk in _NUMERIC and rk in _NUMERIC or lk is rk is Kind.STRING:
            pass
        elif lk is rk is Kind.BOOL:
            if op not in ("==", "!="):
                self.fail(f"operator {op} is not supported between {left.desc} and "
                          f"{right.desc}", col)
        else:
            self.fail(mismatch, col)
        if isinstance(left, P.Const) and isinstance(right, P.Const):
            return const(json_compare(op, left.value, right.value), Kind.BOOL)
        return P.Compare(op, left, right)

    def _In(self, node: S.In) -> P.Node:
        value, arr = self.check(node.left), self.check(node.right)
        if not (isinstance(arr, P.Const) and arr.kind is Kind.ARRAY):
            self.fail(f"the right side of 'in' must be an array, got {arr.desc}", node.right.col)
        if value.kind is Kind.ARRAY:
            self.fail(f"'in' is not supported on {value.desc}", node.col)
        values = self.coerce(value.kind, arr.value, value, node.col)
        if isinstance(value, P.Const):
            found = any(json_compare("==", value.value, v) for v in values)
            return const(found != node.negate, Kind.BOOL)
        return P.InList(value, values, node.negate)

    def coerce(self, kind: Kind, values: list[Any], target: P.Node, col: int,
               drop_inexact: bool = True) -> list[Any]:
        """Check constants against ``kind`` (error on a type mismatch) and convert them: an
        integral float becomes an int for an integer target; a fractional one can never match
        an integer and is dropped (kept when ``drop_inexact`` is False)."""
        if kind is Kind.JSON:
            return list(values)
        if kind is Kind.INT and all(type(v) is int for v in values):
            return list(values)
        out: list[Any] = []
        for v in values:
            vk = kind_of_value(v)
            if kind is Kind.INT and vk is Kind.FLOAT:
                if v == v and v not in (float("inf"), float("-inf")) and v == int(v):
                    out.append(int(v))
                elif not drop_inexact:
                    out.append(v)
            elif kind is Kind.FLOAT and vk in _NUMERIC:
                out.append(float(v))
            elif kind is vk:
                out.append(v)
            else:
                self.fail(f"cannot compare {target.desc} with {const(v).desc}", col)
        return out

    def _Like(self, node: S.Like) -> P.Node:
        value, pattern = self.check(node.left), self.check(node.pattern)
        if value.kind not in (Kind.STRING, Kind.JSON):
            self.fail(f"like can only be applied to VarChar or JSON values, got {value.desc}",
                      node.col)
        if not (isinstance(pattern, P.Const) and pattern.kind is Kind.STRING):
            self.fail(f"the pattern of like must be a string, got {pattern.desc}",
                      node.pattern.col)
        return P.LikeNode(value, pattern.value)

    def _IsNull(self, node: S.IsNull) -> P.Node:
        src = self.check(node.operand)
        if not isinstance(src, (P.Column, P.JsonPath, P.ArrayColumn)):
            self.fail(f"is null can only be applied to a field, got {src.desc}", node.col)
        return P.IsNull(src, node.negate)

    def _Exists(self, node: S.Exists) -> P.Node:
        src = self.check(node.operand)
        if not isinstance(src, P.JsonPath) or not src.path:
            self.fail(f"exists needs a JSON key such as meta[\"key\"], got {src.desc}", node.col)
        return P.ExistsNode(src)

    def _Not(self, node: S.Not) -> P.Node:
        operand = self.check(node.operand)
        self.need_bool("not", operand, node.col)
        if isinstance(operand, P.Const):
            return const(not operand.value, Kind.BOOL)
        return P.NotNode(operand)

    def _Logical(self, node: S.Logical) -> P.Node:
        return self.logical(node.op, self.check(node.left), self.check(node.right), node.col)

    def logical(self, op: str, left: P.Node, right: P.Node, col: int) -> P.Node:
        self.need_bool(op, left, col)
        self.need_bool(op, right, col)
        for a, b in ((left, right), (right, left)):
            if isinstance(a, P.Const):
                if a.value == (op == "or"):
                    return const(a.value, Kind.BOOL)  # true or x / false and x
                return b
        return P.LogicalNode(op, left, right)

    def need_bool(self, op: str, node: P.Node, col: int) -> None:
        if node.kind not in (Kind.BOOL, Kind.JSON):
            self.fail(f"'{op}' can only be applied to boolean expressions, got {node.desc}", col)


def _path_text(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{json.dumps(p)}]" for p in path)


def extract_pk_values(root: P.Node | None, schema: CollectionSchema) -> list[Any] | None:
    """The primary keys of a plan that is exactly ``pk in [...]`` or ``pk == v``, else None."""
    pk: FieldSchema | None = next((f for f in schema.fields if f.is_primary), None)
    if pk is None or root is None:
        return None
    if isinstance(root, P.InList) and not root.negate and _is_pk(root.value, pk):
        values = root.values
    elif (isinstance(root, P.Compare) and root.op == "==" and _is_pk(root.left, pk)
          and isinstance(root.right, P.Const)):
        values = [root.right.value]
    else:
        return None
    types = set(map(type, values))
    if pk.dtype in INTEGER_TYPES:
        if types <= {int}:  # the common case (an Int64 key compared with integers), at C speed
            unique = list(dict.fromkeys(values))
            if not unique or (INT64_MIN <= min(unique) and max(unique) <= INT64_MAX):
                return unique
        ints = (int(v) for v in values if is_number(v) and v == int(v))
        return list(dict.fromkeys(v for v in ints if INT64_MIN <= v <= INT64_MAX))
    if types <= {str}:
        return list(dict.fromkeys(values))
    return list(dict.fromkeys(v for v in values if isinstance(v, str)))


def _is_pk(node: P.Node, pk: FieldSchema) -> bool:
    return isinstance(node, P.Column) and node.field.name == pk.name
