"""The log on NATS JetStream (``mq.type: natsmq``): :class:`NatsLog` implements ``Log``
(common/interfaces/log.py) with the official nats-server as the replicated, durable store.

Layout: **one stream per channel.** Channel ``c`` is stream ``milvuspy-<esc(c)>`` capturing the
single subject ``milvuspy.<esc(c)>`` (``esc`` keeps letters, digits and ``-`` and writes ``_`` as
``__`` and ``.`` as ``_d``, since neither a stream name nor a subject token may hold a dot). This
is what Milvus's own natsmq does (milvus-io/milvus ``pkg/mq/msgstream/mqwrapper/nmq``: a stream
per topic, its subject the topic, a message id the stream sequence), and what the Log contract
needs:

- a stream's sequence numbers are dense (1, 2, 3, ...), so a channel offset *is* a stream
  position, ``offset = seq - 1``, and a datanode's checkpoint is a position in the stream. With
  one stream holding a subject per channel, the sequence would interleave every channel and
  per-channel offsets would have gaps;
- ``truncate`` is a purge below a sequence and ``drop`` deletes the stream, without touching
  other channels;
- each stream is its own Raft group with its own leader, so the channels' write load spreads
  over the servers of a cluster (the cost: one Raft group per channel, which is what
  ``mq.natsmq_replicas`` replicates).

Records: a message's payload is the record's timestamp (8 bytes, big-endian) then its payload.
``produce`` of one record is one JetStream publish; of several, one *atomic batch*
(nats-server >= 2.12, the stream has ``allow_atomic``): all or none are stored, at consecutive
sequences, even with producers in other processes; the callers rely on both (an upsert's
delete and insert are one append, see ``nodes/querynode/shard.py`` ``whole_appends``). Measured
here (1 server, fsync per ack): one record 0.9 ms, an atomic batch of two 4.8 ms (the server's
batch commit); only an upsert appends two records to a channel, inserts and deletes append one.
Publishing them one by one would not be atomic, and ``Nats-Expected-Last-Sequence`` on the second
would only detect an interleaving after the first was stored. A produce returns only once
JetStream acknowledged it (with R replicas: a quorum stored it); anything else (timeout, lost
connection, error) raises ``MqFailed``. Records are never handed to a connection that is down
(nats-py would buffer them and send them after the error was reported).

Reads: ``fetch`` pulls from an ephemeral, AckNone pull consumer that starts at the requested
offset; the consumer is kept and reused by the next fetch that continues where it stopped
(a sequential reader costs one request per fetch, the server long-polls with ``no_wait`` plus
``expires``: it answers at once with what it has, or with the first record that comes).

nats-py is asyncio: each ``NatsLog`` runs its own event loop in one thread; the methods are
synchronous and thread-safe (all NATS state lives in that loop's thread).
"""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import logging
import re
import struct
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription

from common.errors import MqFailed
from common.interfaces.log import DEFAULT_MAX_BYTES, Record
from common.mq.log import OffsetOutOfRange
from common.mq.protocol import validate_channel

__all__ = ["NatsLog", "stream_name", "channel_of_stream", "parse_servers"]

_log = logging.getLogger("milvuspy.natsmq")
T = TypeVar("T")

STREAM_PREFIX = "milvuspy-"
SUBJECT_PREFIX = "milvuspy."
MAX_NAME_LEN = 255                  # JetStream's limit on a stream name
MAX_BATCH = 1000                    # nats-server's default limit of an atomic batch
MAX_REPLICAS = 5
TS = struct.Struct(">Q")
CONSUMER_IDLE_S = 300               # the server deletes a reader's consumer unused this long
PULL_GRACE_S = 2.0                  # a pull's answer may be this late before the reader is reset
MAX_IDLE_READERS = 4                # kept per channel for fetches that continue later
REPLICA_WAIT_S = 10.0               # a forming cluster may lack peers for this long at start
ERROR_LOG_INTERVAL_S = 10.0         # connection errors are logged as warnings at most this often
API_ATTEMPT_S = 2.0                 # an API request unanswered this long is asked again
PUBLISH_ATTEMPT_S = 1.0             # a record unacknowledged this long is published again (same id)
CONSUMER_CREATE_S = 1.0             # a consumer not created this fast: read without one ...
CONSUMERS_DOWN_S = 2.0              # ... for this long before trying again
GET_MAX_RECORDS = 64                # records per fetch read without a consumer
GET_IDLE_WAIT_S = 0.1               # the long poll of a fetch without a consumer
PROBE_TIMEOUT_S = 2.0               # each request of the start check (a forming cluster is slow)
# JetStream API error codes used here.
ERR_STREAM_NOT_FOUND = 10059
ERR_CONSUMER_NOT_FOUND = 10014
ERR_STREAM_NAME_IN_USE = 10058
ERR_INSUFFICIENT_RESOURCES = 10023
ERR_TEMPORARILY_UNAVAILABLE = 10008
ERR_NO_MESSAGE = 10037

_SERVER_RE = re.compile(r"^nats://[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")


def parse_servers(text: str) -> list[str]:
    """The ``nats://host:port`` URLs of a comma-separated list; MqFailed names a malformed one."""
    servers = [s.strip() for s in text.split(",") if s.strip()]
    for s in servers:
        if not _SERVER_RE.match(s):
            raise MqFailed(f"invalid mq.natsmq_servers entry {s!r}: expected nats://host:port")
    return servers


def _escape(channel: str) -> str:
    return channel.replace("_", "__").replace(".", "_d")


def stream_name(channel: str) -> str:
    """The stream of ``channel`` (a valid channel name, see ``validate_channel``)."""
    name = STREAM_PREFIX + _escape(validate_channel(channel))
    if len(name) > MAX_NAME_LEN:
        raise MqFailed(f"channel name {channel!r} is too long for natsmq (stream names hold "
                       f"{MAX_NAME_LEN} characters, escaped: {len(name)})")
    return name


def channel_of_stream(name: str) -> str | None:
    """The channel a stream name stands for; None for a stream that is not a channel's."""
    if not name.startswith(STREAM_PREFIX):
        return None
    out: list[str] = []
    it = iter(name[len(STREAM_PREFIX):])
    for ch in it:
        if ch == "_":
            nxt = next(it, "")
            if nxt == "_":
                out.append("_")
            elif nxt == "d":
                out.append(".")
            else:
                return None
        else:
            out.append(ch)
    return "".join(out)


def _subject(channel: str) -> str:
    return SUBJECT_PREFIX + _escape(channel)


class _ApiError(Exception):
    """An error answer of the JetStream API."""

    def __init__(self, code: int, err_code: int, description: str) -> None:
        super().__init__(f"{description} (code {code}, err_code {err_code})")
        self.code = code
        self.err_code = err_code
        self.description = description


class _NoConsumers(Exception):
    """No consumer can be created now (no JetStream meta leader); ``end``: the channel's end."""

    def __init__(self, end: int) -> None:
        super().__init__(f"no consumers (end {end})")
        self.end = end


class _ReaderBroken(Exception):
    """The reader's consumer is gone or did not answer: open a new one."""


@dataclass(eq=False)
class _Reader:
    """A pull consumer of ``stream`` whose next record is at stream sequence ``next_seq``."""

    channel: str
    stream: str
    consumer: str
    inbox: str
    sub: NatsSubscription
    queue: asyncio.Queue[Msg]
    next_seq: int
    last_used: float = field(default_factory=time.monotonic)


class NatsLog:
    """The ``Log`` on the JetStream of ``servers`` (``nats://host:port`` URLs of one cluster),
    each channel a stream of ``replicas`` replicas (1-5).

    The constructor connects (retrying with backoff for up to ``connect_timeout_s``; then
    MqFailed names the servers) and checks that JetStream can keep ``replicas`` replicas and
    that no existing channel stream has fewer (MqFailed otherwise: never a silent downgrade).
    Each call then waits at most ``timeout_s`` for an answer (plus a fetch's long poll).
    """

    def __init__(self, servers: Sequence[str], replicas: int = 1, *, timeout_s: float = 10.0,
                 connect_timeout_s: float = 60.0, name: str = "milvus-py") -> None:
        if not servers:
            raise MqFailed("natsmq needs at least one server (mq.natsmq_servers)")
        for s in servers:
            parse_servers(s)
        if not 1 <= int(replicas) <= MAX_REPLICAS:
            raise MqFailed(f"mq.natsmq_replicas must be 1-{MAX_REPLICAS}, got {replicas}")
        self.servers = list(servers)
        self.replicas = int(replicas)
        self.timeout_s = timeout_s
        self._name = name
        self._known: set[str] = set()                 # channels whose stream was checked
        self._consumers_down_until = 0.0              # read without consumers until then
        self._readers: dict[str, list[_Reader]] = {}   # idle readers per channel (loop thread)
        self._closed = False
        self._last_error_log = -1e9
        self._loop = asyncio.new_event_loop()
        self._lost = asyncio.Event()   # set (and replaced) when the connection is lost
        self._thread = threading.Thread(target=self._loop.run_forever, name="natsmq-loop", daemon=True)
        self._thread.start()
        self._nc: NatsClient | None = None
        try:
            self._nc = self._run(self._connect(connect_timeout_s), connect_timeout_s + 5)
            self._run(self._check_cluster(connect_timeout_s), connect_timeout_s + REPLICA_WAIT_S + 5)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"NatsLog({','.join(self.servers)}, R{self.replicas})"

    # ------------------------------------------------------------------ Log API

    def produce(self, channel: str, records: Sequence[tuple[int, bytes]]) -> int:
        """Append ``records`` to ``channel`` (its stream is created on first use) as one atomic
        append at consecutive offsets; returns the first offset once JetStream acknowledged
        them. At most 1000 records per call (an atomic batch's limit)."""
        stream_name(channel)
        if not records:
            raise MqFailed("produce needs at least one record")
        if len(records) > MAX_BATCH:
            raise MqFailed(f"natsmq appends at most {MAX_BATCH} records atomically, got {len(records)}")
        datas = [TS.pack(int(ts)) + bytes(payload) for ts, payload in records]
        return self._run(self._produce(channel, datas), self.timeout_s * 2 + 5)

    def fetch(self, channel: str, offset: int, max_records: int = 1000,
              max_bytes: int = DEFAULT_MAX_BYTES, wait_ms: int = 0) -> list[Record]:
        """Records of ``channel`` from ``offset`` on: at most ``max_records`` and about
        ``max_bytes``, at least one when one is available; at the end, waits up to ``wait_ms``.
        Raises ``OffsetOutOfRange`` for an offset below the start or beyond the end."""
        stream_name(channel)
        if offset < 0:
            raise OffsetOutOfRange(f"offset {offset} is negative")
        wait_s = max(0, int(wait_ms)) / 1000
        return self._run(self._fetch(channel, int(offset), max(1, min(int(max_records), 1 << 30)),
                                     max(1, min(int(max_bytes), 1 << 62)), wait_s),
                         wait_s + 2 * self.timeout_s + 5)

    def end_offset(self, channel: str) -> int:
        """The offset after the last acknowledged record of ``channel`` (0 if it does not exist)."""
        name = stream_name(channel)
        return self._run(self._end_offset(name), self.timeout_s + 5)

    def truncate(self, channel: str, before_offset: int) -> int:
        """Purge the records below ``before_offset``; returns the channel's new start offset."""
        name = stream_name(channel)
        return self._run(self._truncate(name, int(before_offset)), 2 * self.timeout_s + 5)

    def drop(self, channel: str) -> None:
        """Delete ``channel``'s stream (no error if it does not exist)."""
        name = stream_name(channel)
        self._run(self._drop(channel, name), self.timeout_s + 5)

    def list_channels(self) -> list[str]:
        """Names of all channels (streams of this layout), sorted."""
        return self._run(self._list_channels(), self.timeout_s * 4 + 5)

    def close(self) -> None:
        """Close the connection and stop the loop thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._nc is not None and self._loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                fut.result(5)
            except Exception as exc:  # noqa: BLE001 - closing anyway
                _log.debug("closing NATS connection: %s", exc)
        try:
            asyncio.run_coroutine_threadsafe(self._cancel_rest(), self._loop).result(5)
        except Exception as exc:  # noqa: BLE001 - stopping anyway
            _log.debug("cancelling NATS tasks: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> NatsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    async def _cancel_rest(self) -> None:
        """Cancel and await what still runs on the loop (a connect given up, a reader closing)."""
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def _run(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Run ``coro`` on the loop thread and wait for it; errors become MqFailed."""
        if self._closed:
            coro.close()
            raise MqFailed(f"natsmq client for {','.join(self.servers)} is closed")
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            done, _ = concurrent.futures.wait([fut], timeout_s)
            if not done:
                fut.cancel()
                raise MqFailed(f"NATS at {','.join(self.servers)} did not answer within {timeout_s:.1f}s")
            return fut.result()
        except concurrent.futures.CancelledError:
            raise MqFailed(f"natsmq client for {','.join(self.servers)} was closed during the call") from None
        except MqFailed:
            raise
        except _ApiError as exc:
            raise MqFailed(f"JetStream at {','.join(self.servers)}: {exc}") from exc
        except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
            what = "no answer in time" if isinstance(exc, asyncio.TimeoutError) else f"{type(exc).__name__}: {exc}"
            raise MqFailed(f"NATS at {','.join(self.servers)}: {what}") from exc

    @property
    def _conn(self) -> NatsClient:
        assert self._nc is not None
        return self._nc

    async def _connect(self, timeout_s: float) -> NatsClient:
        """Connect, retrying with backoff until ``timeout_s``; then MqFailed names the servers."""
        deadline = time.monotonic() + timeout_s
        delay = 0.1
        last: BaseException | None = None
        while True:
            try:
                nc = await asyncio.wait_for(nats.connect(
                    servers=self.servers, name=self._name, connect_timeout=2, allow_reconnect=True,
                    max_reconnect_attempts=1, reconnect_time_wait=0.2, ping_interval=2,
                    max_outstanding_pings=3, error_cb=self._on_error, disconnected_cb=self._on_disconnect,
                    reconnected_cb=self._on_reconnect), max(0.1, deadline - time.monotonic()))
            except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
                if not isinstance(exc, asyncio.TimeoutError) or last is None:
                    last = exc
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MqFailed(f"cannot reach NATS at {', '.join(self.servers)} within {timeout_s:g}s: "
                                   f"{type(last).__name__}: {last}") from exc
                _log.warning("cannot reach NATS at %s (%s); retrying in %.1fs", ", ".join(self.servers),
                             exc, min(delay, left))
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 2.0)
                continue
            # Connected: from now on nats-py reconnects (to any server of the list) for ever. It
            # took 1 above only so that an unreachable cluster fails the attempt (which is
            # retried here, with a word) instead of looping inside nats.connect.
            nc.options["max_reconnect_attempts"] = -1
            return nc

    async def _on_error(self, exc: Exception) -> None:
        now = time.monotonic()
        quiet = now - self._last_error_log < ERROR_LOG_INTERVAL_S
        if not quiet:
            self._last_error_log = now
        _log.log(logging.DEBUG if quiet else logging.WARNING, "NATS %s: %s", ",".join(self.servers), exc)

    async def _on_disconnect(self) -> None:
        """Fail the produces waiting for an ack on the lost connection at once: their answer
        cannot come any more (the records may or may not be stored)."""
        self._lost.set()
        self._lost = asyncio.Event()

    async def _on_reconnect(self) -> None:
        _log.warning("NATS: reconnected to %s", self._conn.connected_url.netloc if self._conn.connected_url else "?")

    async def _api(self, subject: str, body: dict[str, Any] | None = None,
                   timeout_s: float | None = None) -> dict[str, Any]:
        """One JetStream API request (``$JS.API.<subject>``); raises _ApiError on an error.

        An unanswered request is asked again every ``API_ATTEMPT_S`` until ``timeout_s``
        (default: the client's): while a cluster elects a new leader, requests go unanswered
        for a few seconds. Every request sent here may be repeated (none appends records)."""
        data = json.dumps(body).encode() if body is not None else b""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            attempt = max(0.05, min(API_ATTEMPT_S, deadline - time.monotonic()))
            try:
                msg = await self._conn.request(f"$JS.API.{subject}", data, timeout=attempt)
                break
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError) as exc:
                if time.monotonic() + 0.05 >= deadline:
                    if isinstance(exc, nats.errors.TimeoutError):
                        raise
                    raise _ApiError(503, ERR_TEMPORARILY_UNAVAILABLE,
                                    "JetStream is not available (not enabled, or no meta leader)") from None
                if isinstance(exc, nats.errors.NoRespondersError):
                    await asyncio.sleep(0.1)
        resp: dict[str, Any] = json.loads(msg.data)
        err = resp.get("error")
        if err:
            raise _ApiError(int(err.get("code", 0)), int(err.get("err_code", 0)), str(err.get("description", "")))
        return resp

    async def _check_cluster(self, timeout_s: float) -> None:
        """JetStream is on, can place ``replicas`` replicas, and no channel stream has fewer."""
        deadline = time.monotonic() + timeout_s
        short = time.monotonic() + REPLICA_WAIT_S
        servers = ", ".join(self.servers)
        while True:
            try:
                await self._api("INFO", timeout_s=PROBE_TIMEOUT_S)
                if self.replicas > 1:
                    probe = f"{STREAM_PREFIX}_probe-{self._conn.new_inbox().rsplit('.', 1)[-1]}"
                    await self._api(f"STREAM.CREATE.{probe}", {
                        "name": probe, "subjects": [f"{SUBJECT_PREFIX}_probe.{probe}"], "storage": "memory",
                        "num_replicas": self.replicas, "max_msgs": 1}, timeout_s=PROBE_TIMEOUT_S)
                    await self._api(f"STREAM.DELETE.{probe}")
                break
            except (_ApiError, nats.errors.TimeoutError) as exc:
                err_code = exc.err_code if isinstance(exc, _ApiError) else ERR_TEMPORARILY_UNAVAILABLE
                retry_until = short if err_code == ERR_INSUFFICIENT_RESOURCES else deadline
                if err_code not in (ERR_TEMPORARILY_UNAVAILABLE, ERR_INSUFFICIENT_RESOURCES) \
                        or time.monotonic() > retry_until:
                    raise MqFailed(f"NATS JetStream at {servers} cannot keep streams of {self.replicas} "
                                   f"replica(s) (mq.natsmq_replicas): {exc}") from None
                _log.warning("NATS JetStream at %s not ready for R%d streams (%s); retrying",
                             servers, self.replicas, exc)
                await asyncio.sleep(0.5)
        weak = [(channel_of_stream(cfg["name"]), cfg.get("num_replicas", 1))
                for cfg in await self._stream_configs() if cfg.get("num_replicas", 1) < self.replicas]
        if weak:
            listed = ", ".join(f"{c} (R{r})" for c, r in weak[:10])
            raise MqFailed(f"{len(weak)} channel stream(s) on NATS at {servers} have fewer replicas than "
                           f"mq.natsmq_replicas={self.replicas}: {listed}")

    async def _stream_configs(self) -> list[dict[str, Any]]:
        """The configs of every channel stream (paged STREAM.LIST)."""
        out: list[dict[str, Any]] = []
        while True:
            resp = await self._api("STREAM.LIST", {"offset": len(out), "subject": f"{SUBJECT_PREFIX}>"})
            page = [s["config"] for s in resp.get("streams") or []]
            out += page
            if not page or len(out) >= int(resp.get("total", 0)):
                return [c for c in out if channel_of_stream(c["name"]) is not None]

    async def _ensure_stream(self, channel: str) -> None:
        """Create ``channel``'s stream, or check the existing one's replicas (once per client)."""
        if channel in self._known:
            return
        name = stream_name(channel)
        config = {"name": name, "subjects": [_subject(channel)], "retention": "limits", "storage": "file",
                  "discard": "old", "num_replicas": self.replicas, "allow_atomic": True,
                  "max_msgs": -1, "max_bytes": -1, "max_age": 0, "max_msg_size": -1}
        try:
            info = await self._api(f"STREAM.INFO.{name}")
        except _ApiError as exc:
            if exc.err_code != ERR_STREAM_NOT_FOUND:
                raise
            try:
                info = await self._api(f"STREAM.CREATE.{name}", config)
            except _ApiError as exc2:
                if exc2.err_code != ERR_STREAM_NAME_IN_USE:
                    raise
                info = await self._api(f"STREAM.INFO.{name}")   # another producer created it
        have = int(info["config"].get("num_replicas", 1))
        if have < self.replicas:
            raise MqFailed(f"stream {name} of channel {channel!r} has {have} replica(s), "
                           f"mq.natsmq_replicas asks for {self.replicas}")
        if not info["config"].get("allow_atomic"):
            raise MqFailed(f"stream {name} of channel {channel!r} does not allow atomic batches "
                           f"(created by something else than milvus-py?)")
        self._known.add(channel)

    async def _produce(self, channel: str, datas: list[bytes]) -> int:
        for attempt in (0, 1):
            await self._ensure_stream(channel)
            try:
                return await self._publish(channel, datas)
            except nats.errors.NoRespondersError:
                # The stream was dropped since we checked it: create it again, once.
                self._known.discard(channel)
                if attempt:
                    raise MqFailed(f"no JetStream stream takes channel {channel!r}") from None
        raise AssertionError("unreachable")

    async def _publish(self, channel: str, datas: list[bytes]) -> int:
        """Publish ``datas`` to ``channel``'s stream; the offset of the first once acknowledged.

        One record carries a ``Nats-Msg-Id`` and is asked again every ``PUBLISH_ATTEMPT_S``
        while unacknowledged (no stream leader during an election, a lost connection), until
        ``timeout_s``: JetStream stores a message id once (its duplicate window), so a retry of a
        record that was stored after all answers with the record's first position. A batch is
        sent once (its records must be consecutive; a retried batch could be stored twice)."""
        nc, subject = self._conn, _subject(channel)
        big = max(len(d) for d in datas)
        if big > nc.max_payload:
            raise MqFailed(f"a record of {big - TS.size} bytes exceeds the NATS server's max_payload "
                           f"({nc.max_payload} bytes)")
        deadline = time.monotonic() + self.timeout_s
        if len(datas) > 1:
            await self._connected(channel, len(datas), deadline)
            batch = nc.new_inbox().rsplit(".", 1)[-1]
            for i, data in enumerate(datas[:-1], 1):
                await nc.publish(subject, data, headers={"Nats-Batch-Id": batch, "Nats-Batch-Sequence": str(i)})
            resp, why = await self._ask(subject, datas[-1], self.timeout_s, {
                "Nats-Batch-Id": batch, "Nats-Batch-Sequence": str(len(datas)), "Nats-Batch-Commit": "1"})
        else:
            headers = {"Nats-Msg-Id": nc.new_inbox().rsplit(".", 1)[-1]}
            while True:
                await self._connected(channel, 1, deadline)
                attempt = max(0.05, min(PUBLISH_ATTEMPT_S, deadline - time.monotonic()))
                resp, why = await self._ask(subject, datas[0], attempt, headers)
                if resp is not None or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        if resp is None:
            raise MqFailed(f"{why} {len(datas)} record(s) to {channel!r} within {self.timeout_s:.1f}s: "
                           "they may or may not be stored")
        if len(datas) > 1 and int(resp.get("count", 0)) != len(datas):
            raise MqFailed(f"JetStream stored a batch of {resp.get('count')} records to {channel!r}, "
                           f"{len(datas)} were sent")
        return int(resp["seq"]) - len(datas)

    async def _connected(self, channel: str, count: int, deadline: float) -> None:
        """Wait for the connection: never hand records to one that is down (nats-py would buffer
        them and send them on reconnect, after the call had reported a failure)."""
        nc = self._conn
        while not nc.is_connected:
            if nc.is_closed or time.monotonic() >= deadline:
                raise MqFailed(f"no connection to NATS at {', '.join(self.servers)} for {self.timeout_s:.1f}s: "
                               f"{count} record(s) to {channel!r} were not sent")
            await asyncio.sleep(0.02)

    async def _ask(self, subject: str, data: bytes, timeout_s: float,
                   headers: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
        """Publish ``data`` and wait up to ``timeout_s`` for JetStream's acknowledgement: (the
        ack, "") when stored; (None, why) when unanswered or answered "unavailable", which may be
        asked again; MqFailed when JetStream refused the record."""
        lost = self._lost
        request = asyncio.ensure_future(self._conn.request(subject, data, timeout=timeout_s, headers=headers))
        disconnect = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait((request, disconnect), return_when=asyncio.FIRST_COMPLETED)
        finally:
            disconnect.cancel()
            if not request.done():
                request.cancel()
        if request.cancelled():
            return None, "the connection to NATS was lost before JetStream acknowledged"
        try:
            msg = request.result()
        except nats.errors.TimeoutError:
            return None, "JetStream did not acknowledge"
        resp = json.loads(msg.data) if msg.data else {}
        if "seq" in resp and "error" not in resp:
            return resp, ""
        err = resp.get("error", {})
        if err.get("code") == 503:  # no stream leader yet (an election): ask again
            return None, f"JetStream was unavailable ({err.get('description', '')}) for"
        raise MqFailed(f"JetStream did not store the record(s) to {subject!r}: "
                       f"{err.get('description', resp or msg.headers)}")

    async def _stream_state(self, name: str) -> dict[str, Any] | None:
        try:
            info = await self._api(f"STREAM.INFO.{name}")
        except _ApiError as exc:
            if exc.err_code == ERR_STREAM_NOT_FOUND:
                return None
            raise
        state: dict[str, Any] = info["state"]
        return state

    async def _end_offset(self, name: str) -> int:
        state = await self._stream_state(name)
        return 0 if state is None else int(state["last_seq"])

    async def _truncate(self, name: str, before_offset: int) -> int:
        state = await self._stream_state(name)
        if state is None:
            return 0
        start = max(0, int(state["first_seq"]) - 1)
        keep_from = min(before_offset, int(state["last_seq"]))   # never purge past the end
        if keep_from > start:
            try:
                await self._api(f"STREAM.PURGE.{name}", {"seq": keep_from + 1})
            except _ApiError as exc:
                if exc.err_code == ERR_STREAM_NOT_FOUND:
                    return 0
                raise
            state = await self._stream_state(name)
            if state is None:
                return 0
            start = max(0, int(state["first_seq"]) - 1)
        return start

    async def _drop(self, channel: str, name: str) -> None:
        self._known.discard(channel)
        for reader in self._readers.pop(channel, []):
            await self._close_reader(reader, delete=False)
        try:
            await self._api(f"STREAM.DELETE.{name}")
        except _ApiError as exc:
            if exc.err_code != ERR_STREAM_NOT_FOUND:
                raise

    async def _list_channels(self) -> list[str]:
        names = [channel_of_stream(cfg["name"]) for cfg in await self._stream_configs()]
        return sorted(n for n in names if n is not None)

    # ------------------------------------------------------------------ readers

    async def _fetch(self, channel: str, offset: int, max_records: int, max_bytes: int,
                     wait_s: float) -> list[Record]:
        deadline = time.monotonic() + wait_s
        for attempt in (0, 1):
            reader = self._take_reader(channel, offset)
            if reader is None:
                try:
                    reader = await self._open_reader(channel, offset, deadline)
                except _NoConsumers as exc:
                    return await self._get_range(channel, offset, exc.end, max_records, max_bytes, deadline)
                if reader is None:
                    return []
            try:
                records = await self._pull(reader, max_records, max_bytes, deadline)
            except _ReaderBroken as exc:
                await self._close_reader(reader)
                if attempt:
                    raise MqFailed(f"reading channel {channel!r} at offset {offset} failed: {exc}") from None
                continue
            except BaseException:
                await self._close_reader(reader)
                raise
            self._keep_reader(reader)
            return records
        raise AssertionError("unreachable")

    def _take_reader(self, channel: str, offset: int) -> _Reader | None:
        idle = self._readers.get(channel, [])
        for i, reader in enumerate(idle):
            if reader.next_seq == offset + 1:
                return idle.pop(i)
        return None

    def _keep_reader(self, reader: _Reader) -> None:
        reader.last_used = time.monotonic()
        idle = self._readers.setdefault(reader.channel, [])
        idle.append(reader)
        if len(idle) > MAX_IDLE_READERS:
            oldest = min(idle, key=lambda r: r.last_used)
            idle.remove(oldest)
            asyncio.ensure_future(self._close_reader(oldest))

    async def _close_reader(self, reader: _Reader, delete: bool = True) -> None:
        try:
            await reader.sub.unsubscribe()
            if delete:
                await self._api(f"CONSUMER.DELETE.{reader.stream}.{reader.consumer}", timeout_s=0.5)
        except (_ApiError, nats.errors.Error, asyncio.TimeoutError) as exc:
            _log.debug("closing reader of %s: %s", reader.channel, exc)   # the server expires it anyway

    async def _open_reader(self, channel: str, offset: int, deadline: float) -> _Reader | None:
        """A consumer of ``channel`` from ``offset``; None when the channel does not exist (after
        waiting until ``deadline`` for it to be created)."""
        name = stream_name(channel)
        while True:
            state = await self._stream_state(name)
            if state is None:
                if offset > 0:
                    raise OffsetOutOfRange(f"offset {offset} is beyond the end (0) of channel {channel!r}")
                if not await self._wait_created(channel, name, deadline):
                    return None
                continue
            start, end = max(0, int(state["first_seq"]) - 1), int(state["last_seq"])
            if offset < start or offset > end:
                raise OffsetOutOfRange(f"offset {offset} of channel {channel!r} is outside [{start}, {end}]")
            if time.monotonic() < self._consumers_down_until:
                raise _NoConsumers(end)
            try:
                resp = await self._api(f"CONSUMER.CREATE.{name}", {"stream_name": name, "config": {
                    "deliver_policy": "by_start_sequence", "opt_start_seq": offset + 1, "ack_policy": "none",
                    "inactive_threshold": CONSUMER_IDLE_S * 1_000_000_000, "mem_storage": True,
                    "num_replicas": 1}}, timeout_s=CONSUMER_CREATE_S)
            except _ApiError as exc:
                if exc.err_code == ERR_STREAM_NOT_FOUND:
                    continue   # dropped meanwhile
                if exc.err_code != ERR_TEMPORARILY_UNAVAILABLE:
                    raise
                self._consumers_down_until = time.monotonic() + CONSUMERS_DOWN_S
                raise _NoConsumers(end) from None
            except nats.errors.TimeoutError:
                # No meta leader (it takes a cluster 5-10 s to elect a new one after losing it):
                # read without a consumer meanwhile.
                self._consumers_down_until = time.monotonic() + CONSUMERS_DOWN_S
                raise _NoConsumers(end) from None
            queue: asyncio.Queue[Msg] = asyncio.Queue()

            async def deliver(msg: Msg, queue: asyncio.Queue[Msg] = queue) -> None:
                queue.put_nowait(msg)

            inbox = self._conn.new_inbox()
            sub = await self._conn.subscribe(inbox, cb=deliver, pending_msgs_limit=-1, pending_bytes_limit=-1)
            return _Reader(channel, name, str(resp["name"]), inbox, sub, queue, offset + 1)

    async def _get_range(self, channel: str, offset: int, end: int, max_records: int, max_bytes: int,
                         deadline: float) -> list[Record]:
        """``fetch`` without a consumer, while none can be created: records one by one from the
        stream's leader (``STREAM.MSG.GET``, at most ``GET_MAX_RECORDS``); at the end, a short
        sleep stands in for the long poll."""
        name = stream_name(channel)
        out: list[Record] = []
        size = 0
        for seq in range(offset + 1, min(end, offset + min(max_records, GET_MAX_RECORDS)) + 1):
            try:
                resp = await self._api(f"STREAM.MSG.GET.{name}", {"seq": seq})
            except _ApiError as exc:
                if exc.err_code in (ERR_NO_MESSAGE, ERR_STREAM_NOT_FOUND) and not out:
                    raise OffsetOutOfRange(f"offset {seq - 1} of channel {channel!r} was truncated") from None
                break
            data = base64.b64decode(resp["message"].get("data", ""))
            (ts,) = TS.unpack_from(data)
            out.append(Record(seq - 1, ts, data[TS.size:]))
            size += len(data) - TS.size
            if size >= max_bytes:
                break
        if not out:
            await asyncio.sleep(max(0.0, min(GET_IDLE_WAIT_S, deadline - time.monotonic())))
        return out

    async def _wait_created(self, channel: str, name: str, deadline: float) -> bool:
        """Wait until something is published to ``channel`` or ``deadline``; True when its stream
        exists then."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        woke = asyncio.Event()

        async def wake(_: Msg) -> None:
            woke.set()

        sub = await self._conn.subscribe(_subject(channel), cb=wake)
        try:
            await self._conn.flush(timeout=max(1, int(self.timeout_s)))
            if await self._stream_state(name) is not None:
                return True
            try:
                await asyncio.wait_for(woke.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                return False
            return True
        finally:
            await sub.unsubscribe()

    async def _pull(self, r: _Reader, max_records: int, max_bytes: int, deadline: float) -> list[Record]:
        """One pull request of at most ``max_records``/``max_bytes`` (at least one record when
        one is available), long-polling until ``deadline`` for the first."""
        out: list[Record] = []
        at_least_one = False
        while True:
            wait = max(0.0, deadline - time.monotonic())
            request: dict[str, Any] = {"batch": max_records - len(out), "no_wait": True}
            if not at_least_one:
                request["max_bytes"] = max_bytes
            if wait >= 0.001:
                request["expires"] = int(wait * 1e9)
            await self._conn.publish(f"$JS.API.CONSUMER.MSG.NEXT.{r.stream}.{r.consumer}",
                                     json.dumps(request).encode(), reply=r.inbox)
            timeout = wait + PULL_GRACE_S
            asked = request["batch"]
            got = 0
            while got < asked:
                try:
                    msg = r.queue.get_nowait() if not r.queue.empty() else \
                        await asyncio.wait_for(r.queue.get(), timeout)
                except asyncio.TimeoutError:
                    raise _ReaderBroken(f"no answer from consumer {r.consumer} within {timeout:.1f}s") from None
                timeout = PULL_GRACE_S
                status = msg.headers.get("Status") if msg.headers else None
                if status:
                    description = str(msg.headers.get("Description", "")) if msg.headers else ""
                    if status in ("404", "408"):
                        return out
                    if status == "409" and "MaxBytes" in description:
                        if out:
                            return out
                        at_least_one = True   # the next record alone is larger: take it anyway
                        max_records = 1
                        break
                    if status == "100" or (status == "409" and "Batch Completed" in description):
                        continue   # a heartbeat, or the end of an earlier pull that filled its batch
                    raise _ReaderBroken(f"consumer {r.consumer}: {status} {description}")
                seq = _stream_seq(msg.reply)
                if seq != r.next_seq:
                    raise OffsetOutOfRange(f"offset {r.next_seq - 1} of channel {r.channel!r} was truncated "
                                           f"(the next record is at {seq - 1})")
                data = msg.data
                (ts,) = TS.unpack_from(data)
                out.append(Record(seq - 1, ts, data[TS.size:]))
                r.next_seq += 1
                got += 1
            else:
                return out

    async def _shutdown(self) -> None:
        readers = [r for idle in self._readers.values() for r in idle]
        self._readers.clear()
        await asyncio.gather(*(self._close_reader(r) for r in readers))
        await self._conn.close()


def _stream_seq(reply: str) -> int:
    """The stream sequence in a JetStream message's ACK subject (v1: 9 tokens; v2: 12 with a
    domain and an account hash)."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5])
    if len(tokens) >= 11:
        return int(tokens[7])
    raise MqFailed(f"not a JetStream message (reply subject {reply!r})")
