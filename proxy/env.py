"""What every proxy task needs: config, the metadata cache, the shard leaders, the typed peers
and the log (``context``), batched id allocation and timestamps."""
from __future__ import annotations

import threading
import time

from common.config import Config
from common.runtime import RoleContext
from common.tso import compose_ts
from proto.internal import datacoord_pb2, meta_pb2, querycoord_pb2, rootcoord_pb2
from proto.internal.datacoord_pb2 import CollectionRequest
from proxy.meta_cache import CachedCollection, MetaCache

ID_BATCH = 10000


class IdPool:
    """Hands out ids from blocks allocated by rootcoord, so most inserts need no id RPC."""

    def __init__(self, context: RoleContext) -> None:
        self._context = context
        self._lock = threading.Lock()
        self._next = 0
        self._end = 0

    def take(self, count: int) -> int:
        """The first of ``count`` consecutive unique ids."""
        with self._lock:
            if self._end - self._next < count:
                want = max(count, ID_BATCH)
                response = self._context.rootcoord.alloc_id(rootcoord_pb2.AllocRequest(count=want))
                self._next, self._end = response.begin, response.begin + response.count
            first = self._next
            self._next += count
            return first


class ShardRouter:
    """Where each channel of a loaded collection is served: leaders from querycoord, cached
    until a call fails (the querynodes themselves are ``context.querynode(address)``)."""

    def __init__(self, context: RoleContext) -> None:
        self._context = context
        self._lock = threading.Lock()
        self._leaders: dict[int, list[querycoord_pb2.ShardLeader]] = {}

    def leaders(self, collection: CachedCollection) -> list[querycoord_pb2.ShardLeader]:
        """One leader per channel. Raises CollectionNotLoaded when the collection is not loaded."""
        with self._lock:
            cached = self._leaders.get(collection.collection_id)
        if cached is not None:
            return cached
        response = self._context.querycoord.get_shard_leaders(CollectionRequest(collection_id=collection.collection_id))
        leaders = list(response.leaders)
        with self._lock:
            self._leaders[collection.collection_id] = leaders
        return leaders

    def forget(self, collection_id: int) -> None:
        with self._lock:
            self._leaders.pop(collection_id, None)


class IndexCache:
    """The index of each vector field, as datacoord describes it, cached for ``ttl_s`` (and
    dropped at once when this proxy creates or drops an index): a search needs the index's
    type and metric, and asking datacoord every time costs a round trip."""

    def __init__(self, context: RoleContext, ttl_s: float = 5.0) -> None:
        self._context = context
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._entries: dict[tuple[int, str], tuple[float, meta_pb2.IndexInfo | None]] = {}

    def get(self, collection_id: int, field_name: str) -> meta_pb2.IndexInfo | None:
        """The index on ``field_name``, or None when the field has none."""
        key = (collection_id, field_name)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self._ttl_s:
            return entry[1]
        indexes = self._context.datacoord.describe_index(datacoord_pb2.DescribeIndexRequest(
            collection_id=collection_id, field_name=field_name)).indexes
        index = indexes[0].index if indexes else None
        with self._lock:
            self._entries[key] = (now, index)
        return index

    def invalidate(self, collection_id: int) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[0] == collection_id]:
                del self._entries[key]


class ProxyEnv:
    """Shared state of the proxy's tasks."""

    def __init__(self, context: RoleContext) -> None:
        self.context = context
        self.config: Config = context.config
        self.cache = MetaCache(context)
        self.ids = IdPool(context)
        self.router = ShardRouter(context)
        self.indexes = IndexCache(context)

    def alloc_timestamp(self) -> int:
        """A fresh TSO timestamp from rootcoord (strictly after every earlier one)."""
        return self.context.rootcoord.alloc_timestamp(rootcoord_pb2.AllocRequest(count=1)).timestamp

    @staticmethod
    def local_timestamp(lag_s: float = 0.0) -> int:
        """A hybrid timestamp from this machine's clock, ``lag_s`` in the past (for reads that
        need no TSO round trip: Bounded and Eventually consistency)."""
        return compose_ts(int((time.time() - lag_s) * 1000), 0)
