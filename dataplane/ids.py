"""Primary keys between the wire (``schema.IDs``, or the ``FieldData`` of the primary key) and
the column layout of ``common/schema.py``: an int64 array for Int64 keys, an object array of
``str`` for VarChar keys."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.types import DataType
from proto.milvus import schema_pb2


def ids_to_proto(pks: np.ndarray | Sequence[int] | Sequence[str], dtype: DataType) -> schema_pb2.IDs:
    """Primary keys as wire IDs (int_id for Int64, str_id for VarChar)."""
    ids = schema_pb2.IDs()
    if dtype == DataType.INT64:
        ids.int_id.SetInParent()
        ids.int_id.data.extend(np.asarray(pks, dtype=np.int64).tolist())
    else:
        ids.str_id.SetInParent()
        ids.str_id.data.extend(np.asarray(pks, dtype=object).tolist())
    return ids


def ids_from_proto(ids: schema_pb2.IDs) -> np.ndarray:
    """Wire IDs as a column: int64 array or object array of str."""
    if ids.WhichOneof("id_field") == "str_id":
        column = np.empty(len(ids.str_id.data), dtype=object)
        column[:] = list(ids.str_id.data)
        return column
    return np.asarray(ids.int_id.data, dtype=np.int64)


def ids_column_of(data: schema_pb2.FieldData, dtype: DataType) -> np.ndarray:
    """The primary keys held by a primary-key FieldData (as a query returns it): int64 array
    or object array of str."""
    if dtype == DataType.INT64:
        return np.asarray(data.scalars.long_data.data, dtype=np.int64)
    column = np.empty(len(data.scalars.string_data.data), dtype=object)
    column[:] = list(data.scalars.string_data.data)
    return column
