"""Text → syntax tree: the Lark LALR parser built from ``grammar.lark``, literal decoding, and
syntax errors worded with the column and what was expected.

Long arrays of plain literals (``pk in [1, 2, ...]`` from delete/get by ids) skip Lark: a
pre-pass decodes them with one regex and leaves a same-width placeholder, so a 10,000-id
expression parses in milliseconds and error columns stay those of the original text.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

from lark import Lark, Token, Transformer
from lark.exceptions import (
    UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError,
)

from common.errors import ExpressionError

from . import syntax as S

_MAX_QUOTED = 300


def quote_expr(text: str) -> str:
    """The expression as error messages show it (shortened when very long)."""
    if len(text) > _MAX_QUOTED:
        text = text[:_MAX_QUOTED] + "..."
    return f'"{text}"'


def fail(text: str, detail: str) -> NoReturn:
    raise ExpressionError(f"cannot parse expression: {quote_expr(text)}, {detail}")


# ---- literals ----

_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "a": "\a",
    "\\": "\\", '"': '"', "'": "'", "?": "?",
}
_ESCAPE_RE = re.compile(
    r"\\(?:(?P<oct>[0-7]{1,3})|x(?P<hex>[0-9a-fA-F]+)|u(?P<u4>[0-9a-fA-F]{4})"
    r"|U(?P<u8>[0-9a-fA-F]{8})|(?P<ch>.))", re.DOTALL)


def _unescape_match(m: re.Match[str]) -> str:
    if m.group("oct") is not None:
        return chr(int(m.group("oct"), 8))
    for name in ("hex", "u4", "u8"):
        if m.group(name) is not None:
            code = int(m.group(name), 16)
            return chr(code) if code <= 0x10FFFF else m.group(0)
    ch = m.group("ch")
    # unknown escapes (e.g. \% and \_ in LIKE patterns) are kept verbatim
    return _SIMPLE_ESCAPES.get(ch, "\\" + ch)


def decode_string(token: str) -> str:
    """A quoted string literal's value: C-style escapes; unknown escapes are left as written."""
    body = token[1:-1]
    return _ESCAPE_RE.sub(_unescape_match, body) if "\\" in body else body


def decode_int(token: str) -> int:
    if len(token) > 1 and token[0] == "0" and token[1] not in "xXbB":
        return int(token, 8)
    return int(token, 0)


# ---- the Lark transformer (applied while parsing) ----

# The children of a grammar rule, as Lark hands them to a callback: Tokens, the Nodes already
# built for sub-rules, and None for an absent optional part; each callback knows its layout.
_Children = list[Any]


def _col(tok: Token | S.Node) -> int:
    if isinstance(tok, Token):
        return tok.column or 1
    return tok.col


class _ToSyntax(Transformer[Token, S.Node]):
    def __init__(self, arrays: dict[str, tuple[int, list[Any]]]) -> None:
        super().__init__()
        self.arrays = arrays

    def int_lit(self, c: _Children) -> S.Node:
        return S.Literal(_col(c[0]), decode_int(str(c[0])))

    def float_lit(self, c: _Children) -> S.Node:
        return S.Literal(_col(c[0]), float(str(c[0])))

    def string_lit(self, c: _Children) -> S.Node:
        return S.Literal(_col(c[0]), decode_string(str(c[0])))

    def raw_string_lit(self, c: _Children) -> S.Node:
        return S.Literal(_col(c[0]), str(c[0])[2:-1])

    def true_lit(self, c: _Children) -> S.Node:
        return S.Literal(_col(c[0]), True)

    def false_lit(self, c: _Children) -> S.Node:
        return S.Literal(_col(c[0]), False)

    def field(self, c: _Children) -> S.Node:
        path: list[str | int] = []
        for tok in c[1:]:
            if tok.type == "INT":
                path.append(decode_int(str(tok)))
            elif tok.type == "RAW_STRING":
                path.append(str(tok)[2:-1])
            else:
                path.append(decode_string(str(tok)))
        return S.FieldRef(_col(c[0]), str(c[0]), tuple(path))

    def template(self, c: _Children) -> S.Node:
        name = str(c[1])
        if name in self.arrays:
            col, values = self.arrays[name]
            return S.ConstList(col, values)
        return S.Template(_col(c[0]), name)

    def array(self, c: _Children) -> S.Node:
        return S.ArrayLit(_col(c[0]), tuple(x for x in c[1:] if x is not None))

    def call(self, c: _Children) -> S.Node:
        return S.Call(_col(c[0]), str(c[0]), tuple(x for x in c[1:] if x is not None))

    def exists(self, c: _Children) -> S.Node:
        return S.Exists(_col(c[0]), c[0])

    def sign(self, c: _Children) -> S.Node:
        return S.Sign(_col(c[0]), str(c[0]), c[1])

    def arith(self, c: _Children) -> S.Node:
        return S.Arith(_col(c[0]), str(c[1]), c[0], c[2])

    def compare(self, c: _Children) -> S.Node:
        return S.Compare(_col(c[0]), str(c[1]), c[0], c[2])

    def range_(self, c: _Children) -> S.Node:
        return S.Range(_col(c[0]), c[0], str(c[1]), c[2], str(c[3]), c[4])

    def in_(self, c: _Children) -> S.Node:
        return S.In(_col(c[0]), c[0], c[1], False)

    def not_in(self, c: _Children) -> S.Node:
        return S.In(_col(c[0]), c[0], c[1], True)

    def like(self, c: _Children) -> S.Node:
        return S.Like(_col(c[0]), c[0], c[1])

    def is_null(self, c: _Children) -> S.Node:
        return S.IsNull(_col(c[0]), c[0], False)

    def is_not_null(self, c: _Children) -> S.Node:
        return S.IsNull(_col(c[0]), c[0], True)

    def not_(self, c: _Children) -> S.Node:
        return S.Not(_col(c[0]), c[0])

    def and_(self, c: _Children) -> S.Node:
        return S.Logical(_col(c[0]), "and", c[0], c[1])

    def or_(self, c: _Children) -> S.Node:
        return S.Logical(_col(c[0]), "or", c[0], c[1])


@lru_cache(maxsize=1)
def _grammar() -> str:
    return (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8")


_parser_cache: dict[str, Lark] = {}


def _lark() -> Lark:
    lark = _parser_cache.get("lalr")
    if lark is None:
        lark = Lark(_grammar(), parser="lalr", lexer="basic", maybe_placeholders=False)
        _parser_cache["lalr"] = lark
    return lark


# ---- fast path for long literal arrays ----

_STR = r'"(?:\\.|[^"\\\r\n])*"|\'(?:\\.|[^\'\\\r\n])*\''
_NUM = r"-?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+|0|[1-9][0-9]*)"
_LIT = rf"(?:{_NUM}|{_STR})"
_SCAN_RE = re.compile(
    rf"(?P<str>[rR]?(?:{_STR}))|(?P<arr>\[\s*{_LIT}(?:\s*,\s*{_LIT})*\s*,?\s*\])")
_ITEM_RE = re.compile(rf"(?P<num>{_NUM})|(?P<str>{_STR})")
_FAST_MIN_CHARS = 24


def _decode_literal(m: re.Match[str]) -> Any:
    num = m.group("num")
    if num is None:
        return decode_string(m.group("str"))
    if any(ch in num for ch in ".eE"):
        return float(num)
    return int(num)


def _decode_items(inner: str) -> list[Any]:
    if '"' not in inner and "'" not in inner and "." not in inner and "e" not in inner \
            and "E" not in inner:
        parts = inner.split(",")
        if parts and not parts[-1].strip():
            parts.pop()  # a trailing comma
        return list(map(int, parts))
    return [_decode_literal(im) for im in _ITEM_RE.finditer(inner)]


def _extract_arrays(text: str) -> tuple[str, dict[str, tuple[int, list[Any]]]]:
    if "[" not in text or len(text) < _FAST_MIN_CHARS or "{__array_" in text:
        return text, {}
    arrays: dict[str, tuple[int, list[Any]]] = {}
    out: list[str] = []
    last = 0
    for m in _SCAN_RE.finditer(text):
        if m.group("arr") is None or m.end() - m.start() < _FAST_MIN_CHARS:
            continue
        items = _decode_items(m.group("arr")[1:-1])
        if len(items) < 2:
            continue  # maybe an accessor like meta["a long key"], which Lark must see
        name = f"__array_{len(arrays)}"
        arrays[name] = (m.start() + 1, items)
        placeholder = "{" + name + "}"
        out.append(text[last:m.start()])
        out.append(placeholder.ljust(m.end() - m.start()))
        last = m.end()
    if not arrays:
        return text, {}
    out.append(text[last:])
    return "".join(out), arrays


# ---- syntax errors ----

_TOKEN_TEXT = {
    "INT": "an integer", "FLOAT": "a float", "STRING": "a string", "RAW_STRING": "a string",
    "NAME": "a field name", "TRUE": "a boolean", "FALSE": "a boolean", "LBRACE": "'{'",
    "LPAR": "'('", "LSQB": "'['", "RPAR": "')'", "RSQB": "']'", "RBRACE": "'}'", "COMMA": "','",
    "_EXISTS": "'exists'", "_NOT": "'not'", "BANG": "'!'", "_IN": "'in'", "_LIKE": "'like'",
    "_AND": "'and'", "_OR": "'or'", "IS_NULL": "'is null'", "IS_NOT_NULL": "'is not null'",
    "EQ": "'=='", "NE": "'!='", "LT": "'<'", "LE": "'<='", "GT": "'>'", "GE": "'>='",
    "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "PERCENT": "'%'",
    "POW": "'**'", "$END": "end of expression",
}
_VALUE_START = {"INT", "FLOAT", "STRING", "RAW_STRING", "NAME", "TRUE", "FALSE", "LBRACE",
                "LPAR", "LSQB", "_EXISTS", "MINUS", "PLUS", "_NOT", "BANG"}
_OPERATORS = {"EQ", "NE", "LT", "LE", "GT", "GE", "PLUS", "MINUS", "STAR", "SLASH", "PERCENT",
              "POW", "_IN", "_NOT", "_LIKE", "IS_NULL", "IS_NOT_NULL"}


def _describe_expected(expected: set[str]) -> str:
    names = set(expected)
    parts: list[str] = []
    if {"INT", "NAME", "STRING"} <= names:
        parts.append("a value")
        names -= _VALUE_START
    if len(names & _OPERATORS) >= 6:
        parts.append("an operator")
        names -= _OPERATORS
    parts.extend(sorted({_TOKEN_TEXT.get(n, n) for n in names}))
    return ", ".join(parts) if parts else "nothing"


def _accepted(err: UnexpectedInput, rewritten: str) -> set[str]:
    """The token types the parser could take where it stopped. Every token before the error
    was accepted, so replaying the text up to there (before the lookahead forced any
    reduction) and asking the parser gives the exact set."""
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        stop = err.token.start_pos
    elif isinstance(err, UnexpectedCharacters):
        stop = err.pos_in_stream
    else:
        stop = len(rewritten)
    try:
        interactive = _lark().parse_interactive(rewritten[:stop])
        interactive.exhaust_lexer()
        return set(interactive.accepts())
    except UnexpectedInput:
        return set(getattr(err, "expected", None) or ())


def _syntax_error(text: str, rewritten: str, err: UnexpectedInput) -> NoReturn:
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        tok = err.token
        shown = str(tok)
        if tok.type == "LBRACE" and rewritten[tok.start_pos:].startswith("{__array_"):
            shown = "["  # the placeholder of a literal array
        detail = f"unexpected '{shown}' at column {tok.column}"
    elif isinstance(err, UnexpectedCharacters):
        detail = f"unexpected '{err.char}' at column {err.column}"
    else:
        detail = f"unexpected end of expression at column {len(text.rstrip()) + 1}"
    expected = _accepted(err, rewritten)
    if expected:
        detail += f", expected {_describe_expected(expected)}"
    fail(text, detail)


# Expressions up to this length are parsed once per process (the same filter usually comes
# again, and parsing costs 0.2-1 ms); syntax trees are frozen, so sharing them is safe.
CACHED_PARSE_MAX_CHARS = 4096


def parse(text: str) -> S.Node | None:
    """Parse an expression; None for an empty one. Raises ExpressionError (code 1100)."""
    if len(text) <= CACHED_PARSE_MAX_CHARS:
        return _parse_cached(text)
    return _parse(text)


@lru_cache(maxsize=1024)
def _parse_cached(text: str) -> S.Node | None:
    return _parse(text)


def _parse(text: str) -> S.Node | None:
    if not text.strip():
        return None
    rewritten, arrays = _extract_arrays(text)
    parser = _lark()
    try:
        tree = parser.parse(rewritten)
    except UnexpectedInput as err:
        _syntax_error(text, rewritten, err)
    try:
        return _ToSyntax(arrays).transform(tree)
    except VisitError as err:  # a malformed number literal
        fail(text, str(err.orig_exc))
