"""Client of the log broker (see ``common/mq/server.py``; wire format in ``protocol.py``).

:class:`BrokerClient` is thread-safe: each call borrows a DEALER socket from a pool (one per
concurrent caller), sends one request and waits for its answer. A call that gets no answer in
time raises ``MqFailed`` and throws its socket away, so a later call starts on a fresh
connection (e.g. to a broker restarted on the same endpoint). A PRODUCE that timed out may or
may not have been stored; a retry may store the records twice.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

import zmq

from common.errors import MqFailed
from common.interfaces.log import DEFAULT_MAX_BYTES, Record
from common.mq import protocol as p
from common.mq.log import OffsetOutOfRange

__all__ = ["BrokerClient", "Subscription"]


class BrokerClient:
    """The ``Log`` (common/interfaces/log.py) of the broker at ``endpoint``; every call waits at
    most ``timeout_s`` (plus the long-poll wait of a FETCH) for its answer."""

    def __init__(self, endpoint: str, timeout_s: float = 10.0) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._ctx = zmq.Context()
        self._lock = threading.Lock()
        self._idle: list[zmq.Socket[bytes]] = []
        self._live = 0            # sockets open (idle or in use)
        self._ids = itertools.count(1)
        self._closed = False

    # ------------------------------------------------------------------ API

    def produce(self, channel: str, records: Sequence[tuple[int, bytes]]) -> int:
        """Append ``(ts, payload)`` records to ``channel`` (created on first use); returns the
        offset of the first. Returns only once the broker has fsynced them.

        Payload buffers are sent without copying: do not modify them during the call."""
        p.validate_channel(channel)
        table, frames = p.pack_records(records)
        body, _ = self._call(p.OP_PRODUCE, channel, table, frames)
        return int(p.U64.unpack_from(body)[0])

    def fetch(self, channel: str, offset: int, max_records: int = 1000,
              max_bytes: int = DEFAULT_MAX_BYTES, wait_ms: int = 0) -> list[Record]:
        """Records of ``channel`` from ``offset`` on: at most ``max_records`` and ``max_bytes``
        (the broker also caps a reply at 16 MiB), but at least one record when one is available.

        At the end of the channel, waits up to ``wait_ms`` for records to arrive (long poll)
        and returns ``[]`` if none do. Raises ``OffsetOutOfRange`` for an offset below the
        channel's start (truncated) or beyond its end."""
        p.validate_channel(channel)
        if offset < 0:
            raise OffsetOutOfRange(f"offset {offset} is negative")
        body = p.FETCH_REQ.pack(offset, max(0, min(max_records, p.MAX_U32)),
                                max(0, min(max_bytes, (1 << 64) - 1)),
                                max(0, min(int(wait_ms), p.MAX_U32)))
        rep, frames = self._call(p.OP_FETCH, channel, body, (), wait_s=max(0, wait_ms) / 1000)
        (first,) = p.U64.unpack_from(rep)
        records, _ = p.unpack_records(rep[p.U64.size:], frames)
        return [Record(first + i, ts, bytes(payload)) for i, (ts, payload) in enumerate(records)]

    def end_offset(self, channel: str) -> int:
        """The offset after the last durable record of ``channel`` (0 if it does not exist)."""
        p.validate_channel(channel)
        body, _ = self._call(p.OP_END_OFFSET, channel)
        return int(p.U64.unpack_from(body)[0])

    def truncate(self, channel: str, before_offset: int) -> int:
        """Let the broker delete whole files of records below ``before_offset``; returns the
        channel's new start offset (records at or above ``before_offset`` are always kept)."""
        p.validate_channel(channel)
        body, _ = self._call(p.OP_TRUNCATE, channel, p.U64.pack(max(0, before_offset)))
        return int(p.U64.unpack_from(body)[0])

    def drop(self, channel: str) -> None:
        """Delete ``channel`` and all its records (no error if it does not exist)."""
        p.validate_channel(channel)
        self._call(p.OP_DROP, channel)

    def list_channels(self) -> list[str]:
        """Names of all channels, sorted."""
        body, _ = self._call(p.OP_LIST, "")
        text = bytes(body).decode()
        return text.split("\n") if text else []

    def close(self) -> None:
        """Close the client (idempotent). Calls in flight finish or fail on their own."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            last = self._live == 0
        for s in idle:
            s.close(linger=0)
        if last:
            self._ctx.term()

    def __enter__(self) -> BrokerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _acquire(self) -> zmq.Socket[bytes]:
        with self._lock:
            if self._closed:
                raise MqFailed(f"broker client for {self.endpoint} is closed")
            if self._idle:
                return self._idle.pop()
            self._live += 1
        try:
            s = self._ctx.socket(zmq.DEALER)
            s.linger = 0
            s.sndhwm = 0
            s.rcvhwm = 0
            s.sndtimeo = max(1, int(self.timeout_s * 1000))
            s.connect(self.endpoint)
        except zmq.ZMQError as e:
            self._forget(None)
            raise MqFailed(f"cannot connect to broker {self.endpoint}: {e}") from e
        return s

    def _release(self, s: zmq.Socket[bytes]) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(s)
                return
        self._forget(s)

    def _forget(self, s: zmq.Socket[bytes] | None) -> None:
        """Close a socket for good (after a timeout, an error, or once the client is closed)."""
        if s is not None:
            s.close(linger=0)
        with self._lock:
            self._live -= 1
            last = self._closed and self._live == 0
        if last:
            self._ctx.term()

    def _call(self, op: int, channel: str, body: bytes = b"", frames: Sequence[Any] = (),
              wait_s: float = 0.0) -> tuple[memoryview, list[zmq.Frame]]:
        req_id = next(self._ids)   # itertools.count is atomic under the GIL
        head = p.encode_request(op, req_id, channel, body)
        timeout = self.timeout_s + wait_s
        deadline = time.monotonic() + timeout
        sock = self._acquire()
        healthy = False
        try:
            sock.send_multipart([head, *frames], copy=False)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sock.poll(max(1, int(remaining * 1000)), zmq.POLLIN):
                    raise MqFailed(f"broker {self.endpoint} did not answer {p.OP_NAMES[op]} "
                                   f"{channel!r} within {timeout:.1f}s")
                msg = sock.recv_multipart(copy=False)
                status, rid, rep = p.decode_reply(msg[0].bytes)
                if rid == req_id:
                    break   # anything else is a stale answer and is skipped
            healthy = True
        except zmq.ZMQError as e:
            raise MqFailed(f"broker {self.endpoint}: {p.OP_NAMES[op]} {channel!r} failed: {e}"
                           ) from e
        finally:
            if healthy:
                self._release(sock)
            else:
                self._forget(sock)
        if status == p.STATUS_OK:
            return rep, msg[1:]
        message = bytes(rep).decode(errors="replace")
        if status == p.STATUS_OUT_OF_RANGE:
            raise OffsetOutOfRange(message)
        raise MqFailed(message)


class Subscription:
    """Reads a channel forward from ``start_offset``; ``position`` is the next offset to read."""

    def __init__(self, client: BrokerClient, channel: str, start_offset: int = 0, *,
                 max_records: int = 1000, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        p.validate_channel(channel)
        self.client = client
        self.channel = channel
        self.position = start_offset
        self.max_records = max_records
        self.max_bytes = max_bytes

    def poll(self, wait_ms: int = 0) -> list[Record]:
        """The next records (waiting up to ``wait_ms`` for some); advances ``position``."""
        records = self.client.fetch(self.channel, self.position, self.max_records,
                                    self.max_bytes, wait_ms)
        if records:
            self.position = records[-1].offset + 1
        return records
