"""Where the proxy sends each shard's part of a read: the shard leaders of a loaded collection's
replicas, and which of them a read tries first.

Querycoord lists every serviceable leader of each channel, one per replica (GetShardLeaders).
The router caches that list per collection for ``LEADERS_TTL_S`` (so replicas that become
serviceable again are used within seconds) or until ``forget``. When querycoord cannot answer
(a retriable error: its active instance died and the standby has not taken over yet, up to
``etcd.coordinator_session_ttl_s``), the expired list is used until it answers again: reads then
keep going to the replicas they went to, failing over among them as below, instead of stopping
for the coordinator's failover.

Choice among a channel's leaders (``order``): the leaders not marked unreachable first, the one
with the fewest reads of this proxy in flight first, round robin among equals (Milvus's proxy
balances by load likewise); the marked ones last, so a read still reaches them when nothing else
is left. A leader is marked unreachable (``mark_unreachable``) when a read to it failed because
it could not be reached: a dead process answers at once (connection refused or reset); a hung
one is detected by the querynode client's liveness probe (``common/fastrpc.py``: an answer
overdue by ``LIVENESS_INTERVAL_S`` makes it ask the node's gRPC GetComponentState, which must
answer within ``PROBE_TIMEOUT_S``), about 3 s, while a slow but live node is waited for. The
caller then tries the channel's next leader at once. A background thread probes the marked
nodes (GetComponentState) every ``PROBE_INTERVAL_S`` and clears the mark of one that answers;
a mark of an address no cached leader list names any more is dropped after ``FORGET_MARK_S``.
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Iterator

from common.errors import MilvusError
from common.runtime import RoleContext
from proto.internal import meta_pb2, querycoord_pb2
from proto.internal.datacoord_pb2 import CollectionRequest
from proxy.meta_cache import CachedCollection

log = logging.getLogger("milvuspy.proxy.routing")

# How long a collection's leader list is used before it is asked for again.
LEADERS_TTL_S = 3.0
# How often the marked (unreachable) querynodes are probed.
PROBE_INTERVAL_S = 0.5
# How long a mark stays once no cached leader list names its address (a replaced node).
FORGET_MARK_S = 60.0
# How long ``close`` waits for the prober.
CLOSE_WAIT_S = 5.0

ShardLeader = querycoord_pb2.ShardLeader


class ShardRouter:
    """The leaders of each channel of the loaded collections, and the order a read tries them
    in (see the module docstring). Thread-safe; ``close`` stops the prober."""

    def __init__(self, context: RoleContext) -> None:
        self._context = context
        self._lock = threading.Lock()
        self._leaders: dict[int, tuple[float, list[list[ShardLeader]]]] = {}
        self._in_flight: dict[str, int] = {}
        self._marked: dict[str, float] = {}  # address -> when marked
        self._turn = itertools.count()
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None

    # -- leaders -----------------------------------------------------------------------------
    def shards(self, collection: CachedCollection) -> list[list[ShardLeader]]:
        """The serviceable leaders of each channel (one list per channel, one leader per
        replica). Raises CollectionNotLoaded when the collection is not loaded, ServiceUnavailable
        while a channel has no serviceable leader."""
        now = time.monotonic()
        with self._lock:
            cached = self._leaders.get(collection.collection_id)
        if cached is not None and now - cached[0] < LEADERS_TTL_S:
            return cached[1]
        try:
            response = self._context.querycoord.get_shard_leaders(
                CollectionRequest(collection_id=collection.collection_id))
        except MilvusError as exc:
            if cached is None or not exc.retriable:
                raise
            log.debug("querycoord cannot answer (%s): the leaders of collection %d as cached", exc,
                      collection.collection_id)
            return cached[1]
        by_channel: dict[str, list[ShardLeader]] = {}
        for leader in response.leaders:
            by_channel.setdefault(leader.channel, []).append(leader)
        shards = list(by_channel.values())
        with self._lock:
            self._leaders[collection.collection_id] = (now, shards)
        return shards

    def forget(self, collection_id: int) -> None:
        """Ask querycoord again on the next read of the collection."""
        with self._lock:
            self._leaders.pop(collection_id, None)

    # -- choice ------------------------------------------------------------------------------
    def order(self, leaders: list[ShardLeader]) -> list[ShardLeader]:
        """``leaders`` (of one channel) in the order a read tries them: unmarked first, fewest
        reads in flight first, round robin among equals."""
        if len(leaders) == 1:
            return leaders
        turn = next(self._turn)
        n = len(leaders)
        with self._lock:
            keys = [(leader.address in self._marked, self._in_flight.get(leader.address, 0), (i - turn) % n)
                    for i, leader in enumerate(leaders)]
        return [leaders[i] for i in sorted(range(n), key=keys.__getitem__)]

    @contextlib.contextmanager
    def reading(self, address: str) -> Iterator[None]:
        """Count a read to ``address`` as in flight while the block runs."""
        with self._lock:
            self._in_flight[address] = self._in_flight.get(address, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._in_flight[address] - 1
                if left:
                    self._in_flight[address] = left
                else:
                    del self._in_flight[address]

    def is_marked(self, address: str) -> bool:
        with self._lock:
            return address in self._marked

    def mark_unreachable(self, address: str) -> None:
        """A read could not reach ``address``: later reads try it last until a probe answers."""
        with self._lock:
            if address not in self._marked:
                log.warning("querynode %s is unreachable: reads go to other replicas until it answers", address)
            self._marked[address] = time.monotonic()
            if self._prober is None and not self._stop.is_set():
                self._prober = threading.Thread(target=self._probe_loop, name="proxy-replica-prober", daemon=True)
                self._prober.start()

    # -- prober ------------------------------------------------------------------------------
    def _probe_loop(self) -> None:
        while not self._stop.wait(PROBE_INTERVAL_S):
            with self._lock:
                marked = list(self._marked.items())
                named = {leader.address for _, shards in self._leaders.values() for leaders in shards
                         for leader in leaders}
            for address, since in marked:
                if self._stop.is_set():
                    return
                if self._answers(address):
                    with self._lock:
                        self._marked.pop(address, None)
                    log.info("querynode %s answers again", address)
                elif address not in named and time.monotonic() - since > FORGET_MARK_S:
                    with self._lock:
                        self._marked.pop(address, None)

    def _answers(self, address: str) -> bool:
        try:
            self._context.querynode(address).get_component_state(meta_pb2.Empty())
        except MilvusError:
            return False
        return True

    def close(self) -> None:
        """Stop the prober: waits up to ``CLOSE_WAIT_S`` for a probe under way (a probe of a
        hung node waits for the client's timeout; the daemon thread then ends on its own)."""
        self._stop.set()
        with self._lock:
            prober = self._prober
        if prober is not None:
            prober.join(CLOSE_WAIT_S)
