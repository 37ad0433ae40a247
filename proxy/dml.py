"""Proxy tasks that write: insert, upsert and delete. A MutationResult is returned only after
the broker has durably appended every message of the request. The messages of one request for
one channel go in one append (an upsert's delete and insert too), so a consumer applies them
together: a read never sees an upserted key deleted but not yet re-inserted."""
from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from common.errors import ParameterInvalid, ParameterTooLarge
from common.expr import compile_expr
from common.status import success
from common.template_values import template_values_from_proto
from common.types import DataType
from dataplane.fielddata import columns_from_insert
from dataplane.ids import ids_to_proto
from dataplane.insert_msg import encode_insert_columns
from proto.internal import dml_pb2
from proto.milvus import milvus_pb2, schema_pb2
from proxy.env import ProxyEnv
from proxy.meta_cache import CachedCollection
from proxy.read import ReadTasks


def shard_of(pks: np.ndarray, shards: int) -> np.ndarray:
    """The shard index of every primary key: int64 keys by value modulo, strings by CRC32."""
    if shards == 1:
        return np.zeros(len(pks), dtype=np.int64)
    if pks.dtype == np.int64:
        return (pks.view(np.uint64) % np.uint64(shards)).astype(np.int64)
    return np.fromiter((zlib.crc32(str(pk).encode()) % shards for pk in pks), dtype=np.int64, count=len(pks))


class DmlTasks:
    def __init__(self, env: ProxyEnv, read_tasks: ReadTasks) -> None:
        self._env = env
        self._read = read_tasks

    def insert(self, request: milvus_pb2.InsertRequest) -> milvus_pb2.MutationResult:
        collection = self._env.cache.get(request.collection_name)
        partition_id = collection.partition_id(request.partition_name)
        num_rows = self._check_rows(request.num_rows, request.fields_data)
        pk_field = collection.schema.primary_field
        generated = None
        if pk_field.auto_id:
            first = self._env.ids.take(num_rows)
            generated = np.arange(first, first + num_rows, dtype=np.int64)
        columns = columns_from_insert(collection.schema, request.fields_data, num_rows, generated)
        timestamp = self._env.alloc_timestamp()
        self._produce(timestamp, self._insert_messages(collection, partition_id, columns, num_rows, timestamp))
        return milvus_pb2.MutationResult(
            status=success(), IDs=ids_to_proto(columns[pk_field.name], pk_field.dtype),
            succ_index=range(num_rows), insert_cnt=num_rows, timestamp=timestamp,
        )

    def upsert(self, request: milvus_pb2.UpsertRequest) -> milvus_pb2.MutationResult:
        collection = self._env.cache.get(request.collection_name)
        pk_field = collection.schema.primary_field
        if pk_field.auto_id:
            raise ParameterInvalid("upsert is not supported on a collection whose primary key is autoID")
        partition_id = collection.partition_id(request.partition_name)
        num_rows = self._check_rows(request.num_rows, request.fields_data)
        columns = columns_from_insert(collection.schema, request.fields_data, num_rows, None)
        pks = columns[pk_field.name]
        if len(np.unique(pks)) != len(pks):
            raise ParameterInvalid("duplicate primary keys are not allowed in the same upsert batch")
        timestamp = self._env.alloc_timestamp()
        # A delete and an insert at the same timestamp: the delete hides only older rows. As in
        # Milvus, both apply to the upsert's partition only.
        self._produce(timestamp, self._delete_messages(collection, partition_id, pks, timestamp),
                      self._insert_messages(collection, partition_id, columns, num_rows, timestamp))
        return milvus_pb2.MutationResult(
            status=success(), IDs=ids_to_proto(pks, pk_field.dtype), succ_index=range(num_rows),
            upsert_cnt=num_rows, timestamp=timestamp,
        )

    def delete(self, request: milvus_pb2.DeleteRequest) -> milvus_pb2.MutationResult:
        collection = self._env.cache.get(request.collection_name)
        partition_id = collection.partition_id(request.partition_name) if request.partition_name else 0
        templates = template_values_from_proto(request.expr_template_values)
        plan = compile_expr(request.expr, collection.schema, templates)
        if plan.is_always_true:
            raise ParameterInvalid("delete plan can't be empty or always true: " + repr(request.expr))
        pk_field = collection.schema.primary_field
        if plan.pk_values is not None:
            pks = np.asarray(plan.pk_values, dtype=np.int64 if pk_field.dtype == DataType.INT64 else object)
        else:
            pks = self._read.matching_pks(collection, request.expr, request.expr_template_values,
                                          [request.partition_name] if request.partition_name else [])
        timestamp = self._env.alloc_timestamp()
        if len(pks):
            self._produce(timestamp, self._delete_messages(collection, partition_id, pks, timestamp))
        return milvus_pb2.MutationResult(status=success(), delete_cnt=len(pks), timestamp=timestamp)

    # -- helpers -----------------------------------------------------------------------------
    def _check_rows(self, num_rows: int, fields_data: Sequence[schema_pb2.FieldData]) -> int:
        if num_rows <= 0:
            raise ParameterInvalid("num_rows must be positive: the insert holds no rows")
        limit = self._env.config.get("proxy", "max_insert_rows")
        if num_rows > limit:
            raise ParameterTooLarge(f"an insert may hold at most {limit} rows, got {num_rows}")
        if not fields_data:
            raise ParameterInvalid("the insert holds no field data")
        return num_rows

    def _produce(self, timestamp: int, *batches: dict[str, bytes]) -> None:
        """Append, per channel, the payloads every batch (channel → payload) has for it, in
        batch order, in one broker call (one atomic append)."""
        channels = dict.fromkeys(channel for batch in batches for channel in batch)
        for channel in channels:
            records = [(timestamp, batch[channel]) for batch in batches if channel in batch]
            self._env.context.log.produce(channel, records)

    def _insert_messages(self, collection: CachedCollection, partition_id: int, columns: dict[str, np.ndarray],
                         num_rows: int, timestamp: int) -> dict[str, bytes]:
        """Channel → serialized InsertMsg of the rows that shard to it, each shard's rows
        encoded once from the validated ``columns`` (``dataplane/insert_msg.py``)."""
        schema = collection.schema
        channels = collection.info.channels
        shards = shard_of(columns[schema.primary_field.name], len(channels))
        messages: dict[str, bytes] = {}
        for shard, channel in enumerate(channels):
            rows = np.flatnonzero(shards == shard)
            if len(rows) == 0:
                continue
            encoded = encode_insert_columns(schema, columns, None if len(rows) == num_rows else rows)
            msg = dml_pb2.InsertMsg(collection_id=collection.collection_id, partition_id=partition_id,
                                    segment_id=self._env.ids.take(1), timestamp=timestamp, num_rows=len(rows),
                                    columns=encoded)
            messages[channel] = dml_pb2.DmlMsg(insert=msg).SerializeToString()
        return messages

    def _delete_messages(self, collection: CachedCollection, partition_id: int, pks: np.ndarray,
                         timestamp: int) -> dict[str, bytes]:
        """Channel → serialized DeleteMsg of the keys that shard to it."""
        pk_type = collection.schema.primary_field.dtype
        channels = collection.info.channels
        shards = shard_of(pks, len(channels))
        messages: dict[str, bytes] = {}
        for shard, channel in enumerate(channels):
            subset = pks[shards == shard]
            if len(subset) == 0:
                continue
            msg = dml_pb2.DeleteMsg(collection_id=collection.collection_id, partition_id=partition_id,
                                    primary_keys=ids_to_proto(subset, pk_type), timestamp=timestamp)
            messages[channel] = dml_pb2.DmlMsg(delete=msg).SerializeToString()
        return messages


