"""Wire format of the log broker (ZeroMQ DEALER client -> ROUTER server).

A request is a multipart message ``[head, *payload frames]``; the ROUTER prepends the peer
identity, and the reply goes back as ``[identity, head, *payload frames]``.

Request head: ``REQ_HEAD`` = (version u8, op u8, request id u64, channel length u16), the
channel name (UTF-8), then the op's body:

==========  ======================================================  =========================
op          request body                                            OK reply body
==========  ======================================================  =========================
PRODUCE     u32 n, then n x (u64 ts, u32 length); payload frames    u64 first offset
FETCH       u64 offset, u32 max_records, u64 max_bytes, u32 wait_ms u64 first offset, u32 n,
                                                                    n x (u64 ts, u32 length);
                                                                    payload frames
END_OFFSET  -                                                       u64 end offset
TRUNCATE    u64 before_offset                                       u64 new start offset
DROP        -                                                       -
LIST        - (empty channel name)                                  names joined by b"\\n"
==========  ======================================================  =========================

Reply head: ``REP_HEAD`` = (version u8, status u8, request id u64) then the body; for an error
status the body is the UTF-8 message.

Payload frames: record payloads laid out in order; every payload lies within one frame and a
frame may hold several (small payloads are joined, big ones travel alone and zero-copy).
"""
from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from typing import Any

from common.errors import MqFailed

VERSION = 1

OP_PRODUCE = 1
OP_FETCH = 2
OP_END_OFFSET = 3
OP_TRUNCATE = 4
OP_DROP = 5
OP_LIST = 6
OP_NAMES = {OP_PRODUCE: "PRODUCE", OP_FETCH: "FETCH", OP_END_OFFSET: "END_OFFSET",
            OP_TRUNCATE: "TRUNCATE", OP_DROP: "DROP", OP_LIST: "LIST"}

STATUS_OK = 0
STATUS_ERROR = 1
STATUS_OUT_OF_RANGE = 2   # an offset below the start / beyond the end of the channel

REQ_HEAD = struct.Struct("<BBQH")
REP_HEAD = struct.Struct("<BBQ")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
REC = struct.Struct("<QI")          # ts, payload length
FETCH_REQ = struct.Struct("<QIQI")  # offset, max_records, max_bytes, wait_ms
FETCH_REP = struct.Struct("<QI")    # first offset, record count

MAX_U32 = (1 << 32) - 1
_JOIN_LIMIT = 16 << 10   # payloads smaller than this are joined into shared frames
_JOIN_FRAME = 1 << 20    # ... of up to this many bytes

_CHANNEL_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,254}$")


def validate_channel(name: str) -> str:
    """Return ``name`` if it is a valid channel name, else raise MqFailed.

    Valid: 1-255 characters from letters, digits, ``-``, ``_`` and ``.``, not starting with a
    dot (so no ``.``/``..`` and no hidden directories); never a path separator.
    """
    if not isinstance(name, str) or not _CHANNEL_RE.match(name):
        raise MqFailed(f"invalid channel name {name!r}: use 1-255 letters, digits, '-', '_' or "
                       f"'.', not starting with '.'")
    return name


def _nbytes(b: Any) -> int:
    return b.nbytes if isinstance(b, memoryview) else len(b)


def encode_request(op: int, req_id: int, channel: str, body: bytes = b"") -> bytes:
    """The head frame of a request."""
    name = channel.encode()
    return REQ_HEAD.pack(VERSION, op, req_id, len(name)) + name + body


def decode_request(head: bytes) -> tuple[int, int, str, memoryview]:
    """(op, request id, channel, body) of a request head; raises MqFailed if malformed."""
    if len(head) < REQ_HEAD.size:
        raise MqFailed(f"malformed request: head of {len(head)} bytes")
    version, op, req_id, name_len = REQ_HEAD.unpack_from(head)
    if version != VERSION:
        raise MqFailed(f"unsupported protocol version {version} (server speaks {VERSION})")
    end = REQ_HEAD.size + name_len
    if len(head) < end:
        raise MqFailed("malformed request: truncated channel name")
    try:
        channel = bytes(head[REQ_HEAD.size:end]).decode()
    except UnicodeDecodeError as e:
        raise MqFailed("malformed request: channel name is not UTF-8") from e
    return op, req_id, channel, memoryview(head)[end:]


def peek_request_id(head: bytes) -> int | None:
    """The request id of a head, or None when it is too short to hold one."""
    if len(head) < REQ_HEAD.size:
        return None
    return int(REQ_HEAD.unpack_from(head)[2])


def encode_reply(status: int, req_id: int, body: bytes = b"") -> bytes:
    return REP_HEAD.pack(VERSION, status, req_id) + body


def decode_reply(head: bytes) -> tuple[int, int, memoryview]:
    """(status, request id, body) of a reply head."""
    if len(head) < REP_HEAD.size:
        raise MqFailed(f"malformed reply: head of {len(head)} bytes")
    version, status, req_id = REP_HEAD.unpack_from(head)
    if version != VERSION:
        raise MqFailed(f"unsupported protocol version {version} in reply")
    return status, req_id, memoryview(head)[REP_HEAD.size:]


def pack_records(records: Sequence[tuple[int, Any]]) -> tuple[bytes, list[Any]]:
    """``(table, frames)`` for ``(ts, payload)`` records.

    ``table`` is u32 n followed by n x (u64 ts, u32 length); ``frames`` carry the payloads.
    """
    parts = [U32.pack(len(records))]
    frames: list[Any] = []
    small: list[Any] = []
    small_bytes = 0
    for ts, payload in records:
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise MqFailed(f"record payload must be bytes, got {type(payload).__name__}")
        if not isinstance(ts, int) or not 0 <= ts < (1 << 64):
            raise MqFailed(f"record timestamp must be an unsigned 64-bit int, got {ts!r}")
        n = _nbytes(payload)
        if n > MAX_U32:
            raise MqFailed(f"record payload of {n} bytes is too large")
        parts.append(REC.pack(ts, n))
        if n >= _JOIN_LIMIT:
            if small:
                frames.append(b"".join(small))
                small, small_bytes = [], 0
            frames.append(payload)
        elif n:
            if small_bytes + n > _JOIN_FRAME:
                frames.append(b"".join(small))
                small, small_bytes = [], 0
            small.append(payload)
            small_bytes += n
    if small:
        frames.append(b"".join(small))
    return b"".join(parts), frames


def unpack_records(table: memoryview, frames: Sequence[Any]) -> tuple[list[tuple[int, memoryview]],
                                                                      memoryview]:
    """Inverse of :func:`pack_records`: ``([(ts, payload view)], rest of the body)``.

    ``frames`` are buffers (bytes, memoryviews or zmq Frames). Raises MqFailed when the table
    and the frames disagree.
    """
    if len(table) < U32.size:
        raise MqFailed("malformed record table")
    (n,) = U32.unpack_from(table)
    end = U32.size + n * REC.size
    if len(table) < end:
        raise MqFailed(f"malformed record table: {n} records announced, table too short")
    views = [f if isinstance(f, memoryview) else memoryview(getattr(f, "buffer", f))
             for f in frames]
    out: list[tuple[int, memoryview]] = []
    fi, pos = 0, 0
    empty = memoryview(b"")
    for ts, length in REC.iter_unpack(table[U32.size:end]):
        if length == 0:
            out.append((ts, empty))
            continue
        while fi < len(views) and pos == views[fi].nbytes:
            fi, pos = fi + 1, 0
        if fi >= len(views) or pos + length > views[fi].nbytes:
            raise MqFailed("malformed records: payload frames do not match the record table")
        out.append((ts, views[fi][pos:pos + length]))
        pos += length
    while fi < len(views) and pos == views[fi].nbytes:
        fi, pos = fi + 1, 0
    if fi != len(views):
        raise MqFailed("malformed records: extra payload bytes after the last record")
    return out, table[end:]
