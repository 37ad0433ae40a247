"""Placeholder columns in the layout of ``common/schema.py``: buffers to fill, zero-row
columns of empty results, the NULL rows of a nullable field."""
from __future__ import annotations

import numpy as np

from common.schema import FieldSchema
from common.types import NUMPY_DTYPES, DataType


def empty_column(field: FieldSchema, num_rows: int = 0) -> np.ndarray:
    """``num_rows`` placeholder rows of ``field``: zeros ``(num_rows, dim)`` float32 for a float
    vector and ``(num_rows, dim // 8)`` uint8 for a binary vector, zeros / False of
    ``NUMPY_DTYPES`` for fixed-width scalars, None in an object column (VarChar, JSON, Array)."""
    if field.dtype == DataType.FLOAT_VECTOR:
        return np.zeros((num_rows, field.dim), dtype=np.float32)
    if field.dtype == DataType.BINARY_VECTOR:
        return np.zeros((num_rows, field.dim // 8), dtype=np.uint8)
    if field.dtype in NUMPY_DTYPES:
        return np.zeros(num_rows, dtype=NUMPY_DTYPES[field.dtype])
    return np.empty(num_rows, dtype=object)
