"""The collection schema as plain Python objects, and the in-memory column layout.

Column layout (the one representation every module shares, for a batch of ``n`` rows):

- BOOL, INT8..INT64, FLOAT, DOUBLE: 1-D ``np.ndarray`` of ``types.NUMPY_DTYPES[dtype]``.
- VARCHAR: 1-D ``np.ndarray`` of dtype object holding ``str``.
- JSON (incl. the dynamic ``$meta`` column): 1-D object array of ``bytes`` (UTF-8 JSON text).
- ARRAY: 1-D object array; each cell is a 1-D ``np.ndarray`` of the element type
  (``NUMPY_DTYPES[element_type]``, or dtype object holding ``str`` for VarChar elements).
- FLOAT_VECTOR: 2-D ``float32`` array ``(n, dim)``; BINARY_VECTOR: 2-D ``uint8`` ``(n, dim // 8)``.
- ``$ts`` (``types.TIMESTAMP_COLUMN``): 1-D ``uint64`` insert timestamps (hybrid TSO values).
- A nullable field ``x`` has a second column ``valid_column("x")`` (``"x$valid"``): 1-D ``bool``,
  False where the row is NULL. At NULL rows the value column holds a placeholder: 0 / False for
  fixed-width types, None in object columns (VarChar, JSON, Array).

A batch is a ``dict[str, np.ndarray]`` keyed by column name (``CollectionSchema.column_fields``),
all of length ``n``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.types import DYNAMIC_FIELD_NAME, VECTOR_TYPES, DataType

VALID_SUFFIX = "$valid"


def valid_column(name: str) -> str:
    """The name of the validity column of the nullable field ``name``."""
    return name + VALID_SUFFIX


@dataclass(frozen=True)
class FieldSchema:
    """One field of a collection. ``dim``/``max_length``/``max_capacity`` are 0 when not applicable;
    ``max_length`` of an Array of VarChar bounds its elements. ``default_value`` is a plain Python
    value (bool, int, float or str) or None."""

    field_id: int
    name: str
    dtype: DataType
    is_primary: bool = False
    auto_id: bool = False
    dim: int = 0
    max_length: int = 0
    element_type: DataType = DataType.NONE
    max_capacity: int = 0
    nullable: bool = False
    default_value: Any = None
    is_dynamic: bool = False
    is_partition_key: bool = False
    description: str = ""
    type_params: tuple[tuple[str, str], ...] = ()

    @property
    def is_vector(self) -> bool:
        return self.dtype in VECTOR_TYPES


@dataclass(frozen=True)
class CollectionSchema:
    """A collection's fields in creation order. The dynamic ``$meta`` field, when enabled, is
    present in ``fields`` with ``is_dynamic=True``."""

    name: str
    fields: tuple[FieldSchema, ...]
    description: str = ""
    enable_dynamic_field: bool = False
    _by_name: dict[str, FieldSchema] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})

    def field(self, name: str) -> FieldSchema | None:
        """The field called ``name``, or None."""
        return self._by_name.get(name)

    @property
    def primary_field(self) -> FieldSchema:
        """The primary-key field. Raises StopIteration only for a schema that was never validated."""
        return next(f for f in self.fields if f.is_primary)

    @property
    def column_fields(self) -> list[FieldSchema]:
        """Every column of the layout except ``$ts``: each field, followed by a BOOL pseudo-field
        for its validity column when it is nullable."""
        out: list[FieldSchema] = []
        for f in self.fields:
            out.append(f)
            if f.nullable:
                out.append(FieldSchema(field_id=f.field_id, name=valid_column(f.name), dtype=DataType.BOOL))
        return out

    @property
    def vector_fields(self) -> list[FieldSchema]:
        return [f for f in self.fields if f.is_vector]

    @property
    def dynamic_field(self) -> FieldSchema | None:
        """The hidden ``$meta`` JSON field, present only when dynamic fields are enabled."""
        return self._by_name.get(DYNAMIC_FIELD_NAME) if self.enable_dynamic_field else None

    @property
    def user_fields(self) -> list[FieldSchema]:
        """Fields a user declared (everything except the dynamic ``$meta``)."""
        return [f for f in self.fields if not f.is_dynamic]
