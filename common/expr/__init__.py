"""The Milvus boolean expression language (delete, query and filtered search).

``compile_expr(text, schema, template_values)`` parses ``text`` with Lark (``grammar.lark``),
type-checks it once against the schema and returns an :class:`ExprPlan`;
``plan.evaluate(columns, num_rows)`` gives the matching rows as a bool mask, vectorised over
NumPy columns. ``encode_plan(plan)`` / ``decode_plan(text, schema)`` (``codec.py``) carry a
compiled plan from the proxy to the querynodes, which evaluate it without compiling again.
Every bad expression raises ``common.errors.ExpressionError`` (code 1100) at compile time,
worded ``cannot parse expression: "<text>", <what> (column N)``; nothing is evaluated.

The language
  literals      ``1``, ``0x1F``, ``1.5e3``, ``"a\\"b"``/``'a'`` (C escapes), ``r"raw"``,
                ``true``/``True``/``TRUE``, arrays ``[1, 2, 3]``, templates ``{name}``
  fields        schema fields; ``meta["a"]["b"][0]`` into a JSON field; ``arr[2]`` an Array
                element; a name not in the schema is ``$meta["name"]`` when the collection has
                a dynamic field (``$meta["name"]`` also works)
  operators     ``== != < <= > >=``, ranges ``1 < x <= 5`` / ``5 >= x > 1``, ``in [..]``,
                ``not in [..]``, ``like`` (``%`` any run, ``_`` one char, ``\\`` escapes),
                ``+ - * / % **``, ``and``/``&&``, ``or``/``||``, ``not``/``!``, parentheses,
                ``is null``/``is not null``, ``exists j["k"]``
  functions     json_contains[_all|_any](x, v), array_contains[_all|_any](x, v),
                array_length(x) (the json_/array_ spellings are interchangeable)
  precedence    or < and < not < ``== !=`` < ``< <= > >= in like is null`` < ``+ -`` <
                ``* / %`` < unary ``-`` < ``**`` (left-associative, as in Milvus). Milvus
                binds ``not`` tighter than comparisons, so ``not x > 1`` is an error there; here
                it means ``not (x > 1)`` (the two agree wherever Milvus accepts the text).

Type rules: integers and floats compare and mix freely (an Int field against 1.5 is exact,
not rounded); ``int / int`` and ``%`` truncate toward zero; ``%`` needs integers; ``**`` is
floating. VarChar compares only with strings, Bool only with booleans (``==``/``!=``); a
mismatch names the field and both types. Vector fields cannot appear. JSON values are typed
per row: a comparison of a missing key or of another type is false (``!=`` true),
booleans never equal numbers, ordering applies to numbers and strings.

NULLs (nullable fields; ``f"{name}$valid"`` columns): a comparison with NULL is false and stays
false under ``not`` (three-valued logic); ``is null`` is true for them. A JSON path ``is null``
when the row is NULL, the key is absent or its value is JSON null. A nullable field whose column
the batch lacks is all NULL.

Column layout (``common/schema.py``), plus:
  - Array fields: a 1-D object array; each cell is a 1-D NumPy array or a Python list of the
    element type (None or an invalid ``$valid`` row for NULL).
  - JSON / ``$meta``: object array of UTF-8 JSON ``bytes`` (``str`` or already-parsed values
    are accepted too); each cell is parsed once per evaluation.

Only JSON and Array cells are touched one by one; scalar columns are evaluated with whole-array
NumPy operations.
"""
from __future__ import annotations

from typing import Any, Mapping

from common.schema import CollectionSchema

from .checker import Checker, extract_pk_values
from .codec import decode_plan, encode_plan
from .parser import parse
from .plan import ExprPlan


def compile_expr(text: str, schema: CollectionSchema,
                 template_values: Mapping[str, Any] | None = None) -> ExprPlan:
    """Parse and type-check ``text`` against ``schema``. An empty text matches every row.
    Raises ``ExpressionError`` (code 1100) for syntax errors, unknown fields and type errors."""
    text = text or ""
    tree = parse(text)
    if tree is None:
        return ExprPlan(text, None)
    checker = Checker(text, schema, template_values)
    root = checker.check_root(tree)
    return ExprPlan(text, root, frozenset(root.fields()), extract_pk_values(root, schema))


__all__ = ["ExprPlan", "compile_expr", "decode_plan", "encode_plan"]
