"""The log broker server: durable per-channel logs served over a ZeroMQ ROUTER socket.

One thread (the loop) owns the socket and every :class:`ChannelLog`; a second thread only
fsyncs. Requests are handled like this:

- **Writes** (PRODUCE, TRUNCATE, DROP) are queued in arrival order. When no commit is in
  flight, the loop takes every queued PRODUCE up to the next TRUNCATE/DROP (group commit),
  appends them to their channels' logs, and hands the set of touched channels to the sync
  thread, which fsyncs each once. When it is done the loop answers those PRODUCEs and wakes
  the long polls of their channels. Requests that arrive during the fsync are queued for the
  next commit. TRUNCATE and DROP run between commits, so they are ordered with the produces.
- **Reads** (FETCH, END_OFFSET, LIST) are answered at once, also while an fsync is in
  flight. They see only durable records: a record is visible to consumers only after its
  producer could have been told it is stored, so offsets a consumer saw never go away.
- A FETCH at the end of a channel with ``wait_ms > 0`` is parked (a long poll) until that
  channel's durable end moves or the wait expires; other clients are served meanwhile.

A produce that fails (bad request, I/O error) gets an error reply; if its fsync failed the
channel is closed and reopened from disk on next use, so the records may still appear (a
producer that retries after an error may store a record twice: at-least-once).

Run as a process: ``python -m common.mq.server --data-dir DIR --endpoint tcp://127.0.0.1:PORT``.
"""
from __future__ import annotations

import argparse
import heapq
import itertools
import logging
import os
import queue
import shutil
import signal
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from common.errors import MilvusError, MqFailed
from common.mq import protocol as p
from common.mq.log import DEFAULT_SEGMENT_BYTES, ChannelLog, OffsetOutOfRange

__all__ = ["BrokerServer", "main"]

log = logging.getLogger(__name__)

_MAX_DRAIN = 1000                 # requests taken from the socket per loop turn
_MAX_COMMIT_BYTES = 256 << 20     # payload bytes appended per group commit (at least one request)
_IDLE_POLL_MS = 250               # the loop looks at the stop flag at least this often
_MAX_FETCH_BYTES = 16 << 20       # a FETCH reply holds at most this (but at least 1 record):
                                  # smaller replies stream better and hold up the loop less


@dataclass
class _Write:
    kind: str            # "produce" | "truncate" | "drop"
    identity: bytes
    req_id: int
    channel: str
    records: list[tuple[int, memoryview]] = field(default_factory=list)
    before: int = 0
    frames: Any = None   # keeps the zmq frames under ``records`` alive


@dataclass
class _Commit:
    answers: list[tuple[bytes, int, str, int]]     # identity, req_id, channel, first offset
    logs: dict[str, ChannelLog]
    errors: dict[str, Exception] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False)
class _Waiter:
    identity: bytes
    req_id: int
    channel: str
    offset: int
    max_records: int
    max_bytes: int
    deadline: float
    done: bool = False


class BrokerServer:
    """Serves the channel logs under ``data_dir`` (one directory per channel) on ``endpoint``.

    ``start()`` runs the loop in a background thread and returns the bound endpoint (use port
    0 for a free port); ``serve_forever()`` runs it in the calling thread; ``stop()`` ends it
    (idempotent; the loop finishes the commit in flight first).
    """

    def __init__(self, data_dir: Path, endpoint: str = "tcp://127.0.0.1:0", *,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        self.data_dir = Path(data_dir)
        self.segment_bytes = segment_bytes
        self._requested = endpoint
        self.endpoint: str | None = None
        self._ctx = zmq.Context()
        self._wake_addr = f"inproc://mq-broker-wake-{uuid.uuid4().hex}"
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._finished = threading.Event()
        self._start_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._ran = False
        # Loop-thread state.
        self._logs: dict[str, ChannelLog] = {}
        self._writes: deque[_Write] = deque()
        self._commit: _Commit | None = None
        self._waiters: dict[str, list[_Waiter]] = {}
        self._deadlines: list[tuple[float, int, _Waiter]] = []
        self._seq = itertools.count()
        self._router: zmq.Socket[bytes] | None = None
        self._sync_q: queue.SimpleQueue[_Commit | None] = queue.SimpleQueue()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Start serving in a background thread; returns the bound endpoint."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run_quietly, name="mq-broker",
                                                daemon=True)
                self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            raise MqFailed(f"broker failed to start on {self._requested}: {self._start_error}")
        assert self.endpoint is not None
        return self.endpoint

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called."""
        with self._lock:
            if self._ran:
                raise MqFailed("a BrokerServer runs once; create a new one to serve again")
            self._ran = True
        try:
            self._run()
        finally:
            self._ready.set()

    def stop(self) -> None:
        """Stop serving and close every log (idempotent, safe from a signal handler)."""
        self._stopping.set()
        self._poke()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()

    def __enter__(self) -> BrokerServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_quietly(self) -> None:
        with self._lock:
            self._ran = True
        try:
            self._run()
        except Exception:
            if self._start_error is None:   # a failed start is reported by start() itself
                log.exception("broker loop failed")
        finally:
            self._ready.set()

    def _poke(self) -> None:
        if not self._ready.is_set() or self._finished.is_set():
            return
        try:
            s = self._ctx.socket(zmq.PUSH)
            try:
                s.linger = 200
                s.connect(self._wake_addr)
                s.send(b"stop", zmq.NOBLOCK)
            finally:
                s.close()
        except zmq.ZMQError:
            pass  # the loop is going away anyway; it checks the flag every few hundred ms

    def _run(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            for leftover in self.data_dir.glob(".dropped-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            router = self._ctx.socket(zmq.ROUTER)
            router.linger = 1000
            router.sndhwm = 0
            router.rcvhwm = 0
            wake = self._ctx.socket(zmq.PULL)
            wake.linger = 0
            wake.bind(self._wake_addr)
            endpoint = self._requested
            if endpoint.startswith("tcp://") and endpoint.endswith(":0"):
                endpoint = endpoint[:-2] + ":*"
            try:
                router.bind(endpoint)
            except zmq.ZMQError:
                router.close(0)
                wake.close(0)
                raise
            self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
            self._router = router
        except BaseException as e:
            self._start_error = e
            self._finished.set()
            self._ready.set()
            self._ctx.term()
            raise
        sync_q = self._sync_q
        syncer = threading.Thread(target=self._sync_worker, args=(sync_q,), name="mq-broker-sync",
                                  daemon=True)
        syncer.start()
        log.info("broker serving %s from %s", self.endpoint, self.data_dir)
        self._ready.set()
        try:
            self._loop(router, wake)
        finally:
            try:
                if self._commit is not None:   # answer the commit in flight
                    self._commit.done.wait()
                    self._finish_commit()
            finally:
                sync_q.put(None)
                syncer.join()
                for lg in self._logs.values():
                    lg.close()
                self._logs.clear()
                self._finished.set()
                router.close()
                wake.close()
                self._ctx.term()
                log.info("broker on %s stopped", self.endpoint)

    # ------------------------------------------------------------------ loop

    def _loop(self, router: zmq.Socket[bytes], wake: zmq.Socket[bytes]) -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(wake, zmq.POLLIN)
        while not self._stopping.is_set():
            timeout = _IDLE_POLL_MS
            if self._deadlines:
                timeout = min(timeout, max(0, int((self._deadlines[0][0] - time.monotonic())
                                                  * 1000) + 1))
            events = dict(poller.poll(timeout))
            if wake in events:
                while True:
                    try:
                        wake.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
            if self._commit is not None and self._commit.done.is_set():
                self._finish_commit()
            if router in events:
                for _ in range(_MAX_DRAIN):
                    try:
                        msg = router.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    self._handle(msg)
            self._expire_waiters()
            if self._commit is None and self._writes:
                self._start_commit()

    def _sync_worker(self, q: Any) -> None:
        notify = self._ctx.socket(zmq.PUSH)
        notify.linger = 0
        notify.connect(self._wake_addr)
        pool: ThreadPoolExecutor | None = None
        try:
            while True:
                job: _Commit | None = q.get()
                if job is None:
                    return
                items = list(job.logs.items())
                if len(items) > 1:   # fsyncs of several files overlap (and share a journal commit)
                    pool = pool or ThreadPoolExecutor(8, thread_name_prefix="mq-broker-fsync")
                    results = list(pool.map(lambda kv: self._sync_one(*kv), items))
                else:
                    results = [self._sync_one(*kv) for kv in items]
                for (name, _), err in zip(items, results):
                    if err is not None:
                        job.errors[name] = err
                job.done.set()
                try:
                    notify.send(b"sync", zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass
        finally:
            if pool is not None:
                pool.shutdown()
            notify.close()

    @staticmethod
    def _sync_one(name: str, lg: ChannelLog) -> Exception | None:
        try:
            lg.sync()
            return None
        except Exception as e:
            log.error("fsync of channel %s failed: %s", name, e)
            return e

    # ------------------------------------------------------------------ requests

    def _send(self, identity: bytes, status: int, req_id: int, body: bytes = b"",
              frames: list[Any] | None = None) -> None:
        assert self._router is not None
        parts: list[Any] = [identity, p.encode_reply(status, req_id, body)]
        if frames:
            parts.extend(frames)
        try:
            self._router.send_multipart(parts, copy=False)
        except zmq.ZMQError as e:   # the peer went away; nothing to do
            log.debug("reply to a gone client dropped: %s", e)

    def _send_error(self, identity: bytes, req_id: int, err: BaseException) -> None:
        status = p.STATUS_OUT_OF_RANGE if isinstance(err, OffsetOutOfRange) else p.STATUS_ERROR
        msg = err.message if isinstance(err, MilvusError) else f"internal broker error: {err!r}"
        self._send(identity, status, req_id, msg.encode())

    def _handle(self, msg: list[zmq.Frame]) -> None:
        if len(msg) < 2:
            log.warning("dropping a malformed message of %d frame(s)", len(msg))
            return
        identity = msg[0].bytes
        head = msg[1].bytes
        req_id = p.peek_request_id(head) or 0
        try:
            op, req_id, channel, body = p.decode_request(head)
            if op == p.OP_LIST:
                self._send(identity, p.STATUS_OK, req_id, "\n".join(self._list()).encode())
                return
            p.validate_channel(channel)
            if op == p.OP_PRODUCE:
                records, _ = p.unpack_records(body, msg[2:])
                self._writes.append(_Write("produce", identity, req_id, channel, records,
                                           frames=msg))
            elif op == p.OP_FETCH:
                if len(body) < p.FETCH_REQ.size:
                    raise MqFailed("malformed FETCH request")
                offset, max_records, max_bytes, wait_ms = p.FETCH_REQ.unpack_from(body)
                w = _Waiter(identity, req_id, channel, offset, max_records,
                            min(max_bytes, _MAX_FETCH_BYTES), time.monotonic() + wait_ms / 1000)
                self._fetch(w)
            elif op == p.OP_END_OFFSET:
                lg = self._log(channel, create=False)
                end = lg.durable_offset if lg is not None else 0
                self._send(identity, p.STATUS_OK, req_id, p.U64.pack(end))
            elif op == p.OP_TRUNCATE:
                if len(body) < p.U64.size:
                    raise MqFailed("malformed TRUNCATE request")
                (before,) = p.U64.unpack_from(body)
                self._writes.append(_Write("truncate", identity, req_id, channel, before=before))
            elif op == p.OP_DROP:
                self._writes.append(_Write("drop", identity, req_id, channel))
            else:
                raise MqFailed(f"unknown broker operation {op}")
        except Exception as e:
            if not isinstance(e, MilvusError):
                log.exception("broker request failed")
            self._send_error(identity, req_id, e)

    def _log(self, channel: str, create: bool) -> ChannelLog | None:
        lg = self._logs.get(channel)
        if lg is None:
            path = self.data_dir / channel
            if not create and not path.is_dir():
                return None
            lg = ChannelLog(path, self.segment_bytes)
            self._logs[channel] = lg
        return lg

    def _list(self) -> list[str]:
        names = []
        for entry in self.data_dir.iterdir():
            if entry.is_dir() and p._CHANNEL_RE.match(entry.name):
                names.append(entry.name)
        return sorted(names)

    # ------------------------------------------------------------------ fetch / long poll

    def _fetch(self, w: _Waiter) -> None:
        """Answer a FETCH now, or park it until data arrives or its deadline passes."""
        lg = self._log(w.channel, create=False)
        durable = lg.durable_offset if lg is not None else 0
        if w.offset > durable:
            raise OffsetOutOfRange(f"offset {w.offset} is beyond the end {durable} of channel "
                                   f"{w.channel}")
        if lg is not None and w.offset < lg.start_offset:
            raise OffsetOutOfRange(f"offset {w.offset} is below the start {lg.start_offset} of "
                                   f"channel {w.channel} (truncated)")
        if lg is not None and w.offset < durable and w.max_records > 0:
            records = lg.read(w.offset, min(w.max_records, durable - w.offset), w.max_bytes)
            table, frames = p.pack_records([(r.ts, r.payload) for r in records])
            self._send(w.identity, p.STATUS_OK, w.req_id, p.U64.pack(w.offset) + table, frames)
        elif w.max_records > 0 and w.deadline > time.monotonic():
            self._waiters.setdefault(w.channel, []).append(w)
            heapq.heappush(self._deadlines, (w.deadline, next(self._seq), w))
        else:
            self._reply_empty(w)

    def _reply_empty(self, w: _Waiter) -> None:
        w.done = True
        self._send(w.identity, p.STATUS_OK, w.req_id, p.U64.pack(w.offset) + p.U32.pack(0))

    def _expire_waiters(self) -> None:
        now = time.monotonic()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, _, w = heapq.heappop(self._deadlines)
            if w.done:
                continue
            waiting = self._waiters.get(w.channel, [])
            if w in waiting:
                waiting.remove(w)
                if not waiting:
                    del self._waiters[w.channel]
            self._reply_empty(w)

    def _wake(self, channel: str) -> None:
        for w in self._waiters.pop(channel, []):
            if w.done:
                continue
            w.done = True   # its deadline entry is now stale; _fetch may park a fresh copy
            try:
                self._fetch(_Waiter(w.identity, w.req_id, w.channel, w.offset, w.max_records,
                                    w.max_bytes, w.deadline))
            except Exception as e:
                self._send_error(w.identity, w.req_id, e)

    # ------------------------------------------------------------------ writes

    def _start_commit(self) -> None:
        answers: list[tuple[bytes, int, str, int]] = []
        logs: dict[str, ChannelLog] = {}
        nbytes = 0
        while self._writes and nbytes < _MAX_COMMIT_BYTES:
            wr = self._writes[0]
            if wr.kind != "produce":
                if answers:
                    break   # TRUNCATE/DROP wait until the produces before them are durable
                self._writes.popleft()
                self._admin(wr)
                continue
            self._writes.popleft()
            try:
                lg = self._log(wr.channel, create=True)
                assert lg is not None
                first = lg.append(wr.records)
            except Exception as e:
                if not isinstance(e, MilvusError):
                    log.exception("append to channel %s failed", wr.channel)
                self._send_error(wr.identity, wr.req_id, e)
                continue
            nbytes += sum(v.nbytes for _, v in wr.records)
            answers.append((wr.identity, wr.req_id, wr.channel, first))
            logs[wr.channel] = lg
        if answers:
            self._commit = _Commit(answers, logs)
            self._sync_q.put(self._commit)

    def _finish_commit(self) -> None:
        job = self._commit
        assert job is not None
        self._commit = None
        for identity, req_id, channel, first in job.answers:
            err = job.errors.get(channel)
            if err is None:
                self._send(identity, p.STATUS_OK, req_id, p.U64.pack(first))
            else:
                self._send_error(identity, req_id, MqFailed(
                    f"channel {channel}: records were not made durable: {err}"))
        for channel, lg in job.logs.items():
            if channel in job.errors:
                self._logs.pop(channel, None)
                lg.close()   # reopened from disk on next use
            else:
                self._wake(channel)

    def _admin(self, wr: _Write) -> None:
        try:
            if wr.kind == "truncate":
                lg = self._log(wr.channel, create=False)
                start = lg.truncate_before(wr.before) if lg is not None else 0
                self._send(wr.identity, p.STATUS_OK, wr.req_id, p.U64.pack(start))
            else:
                self._drop(wr.channel)
                self._send(wr.identity, p.STATUS_OK, wr.req_id)
        except Exception as e:
            if not isinstance(e, MilvusError):
                log.exception("%s of channel %s failed", wr.kind, wr.channel)
            self._send_error(wr.identity, wr.req_id, e)

    def _drop(self, channel: str) -> None:
        lg = self._logs.pop(channel, None)
        if lg is not None:
            lg.close()
        for w in self._waiters.pop(channel, []):
            if not w.done:
                self._reply_empty(w)
        path = self.data_dir / channel
        if not path.exists():
            return
        # Rename first so a crash mid-delete never leaves a half channel behind.
        doomed = self.data_dir / f".dropped-{channel}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(path, doomed)
            fd = os.open(self.data_dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise MqFailed(f"dropping channel {channel} failed: {e}") from e
        shutil.rmtree(doomed, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """Run a broker process until SIGTERM/SIGINT."""
    ap = argparse.ArgumentParser(description="milvus-py log broker")
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:0")
    ap.add_argument("--segment-bytes", type=int, default=DEFAULT_SEGMENT_BYTES)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = BrokerServer(args.data_dir, args.endpoint, segment_bytes=args.segment_bytes)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.stop())
    server.serve_forever()


if __name__ == "__main__":
    main()
