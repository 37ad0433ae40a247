"""The untyped syntax tree the parser produces (one class per construct, each with a 1-based
``col``umn of its first token, for error messages). The checker turns it into a typed plan."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Node:
    col: int


@dataclass(frozen=True)
class Literal(Node):
    """A scalar literal: ``value`` is an int, float, str or bool."""

    value: Any


@dataclass(frozen=True)
class ArrayLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class ConstList(Node):
    """An array of plain literals decoded by the parser's fast path (``values`` are Python)."""

    values: list[Any]


@dataclass(frozen=True)
class Template(Node):
    """``{name}``: a placeholder filled from the template values."""

    name: str


@dataclass(frozen=True)
class FieldRef(Node):
    """``name`` followed by ``[key]``/``[index]`` accessors (JSON path or array element)."""

    name: str
    path: tuple[str | int, ...]


@dataclass(frozen=True)
class Call(Node):
    """``name(args...)``: json_contains*, array_contains*, array_length."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Sign(Node):
    """Unary ``-`` or ``+``."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Arith(Node):
    """Binary arithmetic: ``+ - * / % **``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare(Node):
    """``== != < <= > >=``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Range(Node):
    """A chained comparison ``lo op1 mid op2 hi`` (both ops ``<``/``<=`` or both ``>``/``>=``)."""

    lo: Node
    op1: str
    mid: Node
    op2: str
    hi: Node


@dataclass(frozen=True)
class In(Node):
    left: Node
    right: Node
    negate: bool


@dataclass(frozen=True)
class Like(Node):
    left: Node
    pattern: Node


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node
    negate: bool


@dataclass(frozen=True)
class Exists(Node):
    operand: Node


@dataclass(frozen=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True)
class Logical(Node):
    """``and`` / ``or``."""

    op: str
    left: Node
    right: Node
