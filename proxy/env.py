"""What every proxy task needs: config, the metadata cache, the shard leaders, the typed peers
and the log (``context``), batched id allocation and group-allocated timestamps."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from common.config import Config
from common.errors import MilvusError
from common.runtime import RoleContext
from common.tso import compose_ts
from proto.internal import datacoord_pb2, meta_pb2, rootcoord_pb2
from proxy.meta_cache import MetaCache
from proxy.routing import ShardRouter

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


class TimestampGroup:
    """Hands out TSO timestamps, letting concurrent requests share one AllocTimestamp round
    trip (group allocation): a request waits for the round trip in flight, if any, to end, and
    then it and every request that arrived meanwhile take consecutive timestamps of one
    ``AllocTimestamp(count=n)``. A sequential caller pays one round trip per timestamp, as
    before; N concurrent callers pay one where they paid N.

    Consistency. Every timestamp handed out comes from a round trip *sent after the request
    asked for it* (a request never joins a round trip already in flight). The TSO's ranges are
    strictly increasing in the order rootcoord serves them, so a timestamp handed out is greater
    than every timestamp any proxy or coordinator obtained before the request began. Hence:

    - A write acknowledged before a Strong or Session read started has a smaller timestamp than
      the read's (the read's comes from a later round trip), and it is in its channel before
      the read asks for the channel end: the read sees it. Likewise a read's ``travel_timestamp``
      check ("not in the future") compares with a fresh timestamp.
    - Causally ordered writes keep their order, across proxies too: a delete or upsert issued
      after an insert was acknowledged (through any proxy) has a greater timestamp, so MVCC
      (a delete hides rows inserted at <= its timestamp) applies it. Likewise a delete by
      expression is newer than the Strong read that found its keys, and a write that starts
      after a ``Flush`` answered is newer than its ``flush_ts`` and lies after its SealMsg in
      the channel, as ``GetFlushState`` and the checkpoints assume.
    - The timestamps one proxy hands out are strictly increasing, and unique cluster-wide.

    A block of timestamps allocated ahead (as ``IdPool`` does for ids) would break the second
    point whatever its age bound: a proxy holding a block from time t0 would give a delete
    issued at t1 > t0 a timestamp below that of an insert another proxy acknowledged in
    between, and the delete would not hide it. Ids need only be unique; timestamps must also
    order causally, which only a fresh round trip gives.
    """

    def __init__(self, alloc: Callable[[int], int]) -> None:
        """``alloc(n)`` reserves ``n`` consecutive TSO timestamps and returns the first."""
        self._alloc = alloc
        self._cond = threading.Condition()
        self._waiting: list[_Ticket] = []  # asked since the round trip in flight was sent
        self._in_flight = False
        self.round_trips = 0

    def next(self) -> int:
        """A fresh timestamp (see the class doc). Raises what ``alloc`` raised for this
        request's round trip."""
        ticket = _Ticket()
        with self._cond:
            self._waiting.append(ticket)
            while not ticket.done:
                if self._in_flight:
                    self._cond.wait()
                    continue
                batch, self._waiting = self._waiting, []
                self._in_flight = True
                self.round_trips += 1
                self._cond.release()
                try:
                    first, error = self._alloc(len(batch)), None
                except Exception as exc:  # noqa: BLE001 - handed to every request of the batch
                    first, error = 0, exc
                finally:
                    self._cond.acquire()
                    self._in_flight = False
                for i, waiter in enumerate(batch):
                    waiter.done, waiter.timestamp, waiter.error = True, first + i, error
                self._cond.notify_all()
        if ticket.error is not None:
            raise ticket.error
        return ticket.timestamp


class _Ticket:
    """One request's place in a TimestampGroup batch."""

    __slots__ = ("done", "timestamp", "error")

    def __init__(self) -> None:
        self.done = False
        self.timestamp = 0
        self.error: Exception | None = None


class IndexCache:
    """The index of each vector field, as datacoord describes it, cached for ``ttl_s`` (and
    dropped at once when this proxy creates or drops an index): a search needs the index's
    type and metric, and asking datacoord every time costs a round trip. While datacoord cannot
    answer (a retriable error: its active instance died and the standby has not taken over yet)
    an expired entry is used, so searches do not stop for the coordinator's failover."""

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
        try:
            indexes = self._context.datacoord.describe_index(datacoord_pb2.DescribeIndexRequest(
                collection_id=collection_id, field_name=field_name)).indexes
        except MilvusError as exc:
            if entry is None or not exc.retriable:
                raise
            return entry[1]
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
        self.timestamps = TimestampGroup(self._alloc_timestamps)

    def alloc_timestamp(self) -> int:
        """A fresh TSO timestamp, greater than every timestamp obtained anywhere before this
        call began; concurrent calls share a round trip to rootcoord (``TimestampGroup``)."""
        return self.timestamps.next()

    def _alloc_timestamps(self, count: int) -> int:
        return self.context.rootcoord.alloc_timestamp(rootcoord_pb2.AllocRequest(count=count)).timestamp

    @staticmethod
    def local_timestamp(lag_s: float = 0.0) -> int:
        """A hybrid timestamp from this machine's clock, ``lag_s`` in the past (for reads that
        need no TSO round trip: Bounded and Eventually consistency)."""
        return compose_ts(int((time.time() - lag_s) * 1000), 0)
