"""A durable, append-only log of records for one broker channel.

Offsets are dense record numbers ``0, 1, 2, ...``. The log is a directory of segment files,
each named by the offset of its first record (``{first_offset:020d}.log``); a new file is
started when the active one would grow past ``segment_bytes`` (a single record larger than
that gets a file of its own). A record on disk is::

    [u32 payload length][u32 crc32 over ts + payload][u64 ts][payload]      (little endian)

Durability protocol:

- ``append`` writes records to the page cache and returns the first offset assigned. They are
  not durable (and a server must not expose them) until ``sync`` returns.
- ``sync`` fdatasyncs the active file (which covers its size, i.e. the appended records;
  unlike fsync it skips the mtime, which keeps the latency tail short) and, when files were
  created since the last sync, fsyncs the directory (and its parent if the log created it).
  Afterwards ``durable_offset`` equals the ``end_offset`` seen when the sync began.
- When a file is rolled, the old file is fdatasynced *before* the new one is created, so a later
  file on disk implies every earlier file is complete. Opening therefore verifies the CRC of
  every record of the last file only (earlier files are walked by their headers); ``read``
  verifies the CRC of every record it returns.
- Opening rebuilds the in-memory index (one position per record) and drops a torn or corrupt
  tail: the file is truncated at its first bad record and any later files are deleted. Only
  records that were never synced (never acknowledged) can be lost that way. The surviving
  records are fsynced at open, so ``durable_offset == end_offset`` after opening.

Thread safety: all methods may be called from several threads. Writers (``append``, ``sync``,
``truncate_before``, ``close``) are serialised; ``read`` only waits for the brief index updates,
so it runs concurrently with an fsync in progress.
"""
from __future__ import annotations

import logging
import mmap
import os
import re
import struct
import threading
import zlib
from array import array
from collections.abc import Sequence
from pathlib import Path
from dataclasses import dataclass, field

from common.errors import MqFailed
from common.interfaces.log import Record

__all__ = ["ChannelLog", "OffsetOutOfRange", "HEADER", "MAX_TS", "MAX_PAYLOAD",
           "DEFAULT_SEGMENT_BYTES", "record_crc"]

log = logging.getLogger(__name__)

HEADER = struct.Struct("<IIQ")  # payload length, crc32(ts + payload), ts
_TS = struct.Struct("<Q")
MAX_TS = (1 << 64) - 1
MAX_PAYLOAD = (1 << 32) - 1
DEFAULT_SEGMENT_BYTES = 64 << 20
_FILE_RE = re.compile(r"^(\d{20})\.log$")
_IOV_MAX = 512          # buffers per os.writev call (the kernel limit is 1024)
_BIG_RECORD = 1 << 20   # records at least this large are read with their own pread


class OffsetOutOfRange(MqFailed):
    """An offset below the log's start (truncated away) or beyond its end was requested."""


def record_crc(ts: int, payload: bytes | memoryview) -> int:
    """The CRC stored in a record's header: crc32 over the little-endian u64 ts, then payload."""
    return zlib.crc32(payload, zlib.crc32(_TS.pack(ts)))


class _Segment:
    """One file of the log: its first offset and the file position of each of its records."""

    __slots__ = ("first", "path", "positions", "size")

    def __init__(self, first: int, path: Path, positions: array[int], size: int) -> None:
        self.first = first
        self.path = path
        self.positions = positions   # array('Q'): file position of record first + i
        self.size = size             # bytes of valid records in the file

    @property
    def end(self) -> int:
        return self.first + len(self.positions)

    def extent(self, index: int) -> tuple[int, int]:
        """(position, total length) of the index-th record of this file."""
        pos = self.positions[index]
        nxt = self.positions[index + 1] if index + 1 < len(self.positions) else self.size
        return pos, nxt - pos


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Run:
    """The records of one append that go to one file."""

    segment: _Segment | None    # the file's segment; None for a file the append creates
    first: int                  # offset of the file's first record
    size: int                   # bytes of records in the file once the run is written
    positions: array[int] = field(default_factory=lambda: array("Q"))  # of the run's records
    buffers: list[bytes | memoryview] = field(default_factory=list)     # headers and payloads


def _write_all(fd: int, buffers: list[bytes | memoryview]) -> None:
    """Write every buffer at the current file position, coping with short writes."""
    for i in range(0, len(buffers), _IOV_MAX):
        chunk = buffers[i:i + _IOV_MAX]
        total = sum(len(b) for b in chunk)
        done = os.writev(fd, chunk)
        if done < total:  # short write (rare for regular files): finish it the slow way
            rest = memoryview(b"".join(bytes(b) for b in chunk))[done:]
            while rest:
                rest = rest[os.write(fd, rest):]


class ChannelLog:
    """The append-only log of one channel, stored in ``directory`` (created if missing)."""

    def __init__(self, directory: Path, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        if segment_bytes < HEADER.size:
            raise ValueError(f"segment_bytes must be at least {HEADER.size}, got {segment_bytes}")
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self._wlock = threading.Lock()   # serialises writers
        self._rlock = threading.Lock()   # guards the index and the active fd
        self._segments: list[_Segment] = []
        self._fd: int | None = None      # O_RDWR fd of the last segment file
        self._dir_dirty = False
        self._closed = False
        created = not self.directory.exists()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._parent_dirty = created
        self._recover()
        self._durable = self.end_offset

    # ---------------------------------------------------------------- properties

    @property
    def start_offset(self) -> int:
        """Offset of the oldest record still stored (== end_offset when the log is empty)."""
        with self._rlock:
            return self._segments[0].first if self._segments else 0

    @property
    def end_offset(self) -> int:
        """The offset the next appended record will get."""
        with self._rlock:
            return self._segments[-1].end if self._segments else 0

    @property
    def durable_offset(self) -> int:
        """Every record below this offset has been fsynced."""
        return self._durable

    # ---------------------------------------------------------------- recovery

    def _recover(self) -> None:
        files: list[tuple[int, Path]] = []
        for p in self.directory.iterdir():
            m = _FILE_RE.match(p.name)
            if m and p.is_file():
                files.append((int(m.group(1)), p))
        files.sort()
        segments: list[_Segment] = []
        for i, (first, path) in enumerate(files):
            if segments and first != segments[-1].end:
                log.warning("channel log %s: %s does not continue at offset %d; dropping it "
                            "and %d later file(s)", self.directory, path.name,
                            segments[-1].end, len(files) - i - 1)
                self._delete(files[i:])
                break
            last = i == len(files) - 1
            seg, clean = self._scan(first, path, verify=last)
            segments.append(seg)
            if not clean:
                self._delete(files[i + 1:])
                break
        self._segments = segments
        if segments:
            self._fd = os.open(segments[-1].path, os.O_RDWR)
            os.lseek(self._fd, segments[-1].size, os.SEEK_SET)
            os.fsync(self._fd)   # whatever survived is durable from now on
            _fsync_dir(self.directory)

    def _delete(self, files: list[tuple[int, Path]]) -> None:
        for _, p in files:
            log.warning("channel log %s: deleting %s after a torn/corrupt record", self.directory,
                        p.name)
            p.unlink()

    def _scan(self, first: int, path: Path, verify: bool) -> tuple[_Segment, bool]:
        """Index one file; truncate it at its first bad record. Returns (segment, was_clean)."""
        positions = array("Q")
        with open(path, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            pos, clean = 0, True
            if size:
                # mmap: walking headers touches only their pages (big records stay unread).
                with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mm:
                    view = memoryview(mm)
                    try:
                        while pos < size:
                            if pos + HEADER.size > size:
                                clean = False
                                break
                            length, crc, ts = HEADER.unpack_from(mm, pos)
                            end = pos + HEADER.size + length
                            if end > size or (verify and record_crc(
                                    ts, view[pos + HEADER.size:end]) != crc):
                                clean = False
                                break
                            positions.append(pos)
                            pos = end
                    finally:
                        view.release()
            if not clean:
                log.warning("channel log %s: torn or corrupt record at offset %d (file %s, "
                            "byte %d of %d); truncating", self.directory, first + len(positions),
                            path.name, pos, size)
                f.truncate(pos)
                f.flush()
                os.fsync(f.fileno())
        return _Segment(first, path, positions, pos), clean

    # ---------------------------------------------------------------- writing

    def append(self, records: Sequence[tuple[int, bytes | memoryview]]) -> int:
        """Append ``(ts, payload)`` records; returns the offset given to the first one.

        The records are not durable until :meth:`sync` returns. On an I/O error nothing of the
        call remains (files are cut back) and ``MqFailed`` is raised.
        """
        prepared: list[tuple[int, bytes | memoryview, int]] = []
        for ts, payload in records:
            if not isinstance(ts, int) or not 0 <= ts <= MAX_TS:
                raise MqFailed(f"record timestamp must be an unsigned 64-bit int, got {ts!r}")
            if not isinstance(payload, (bytes, bytearray, memoryview)):
                raise MqFailed(f"record payload must be bytes, got {type(payload).__name__}")
            n = payload.nbytes if isinstance(payload, memoryview) else len(payload)
            if n > MAX_PAYLOAD:
                raise MqFailed(f"record payload of {n} bytes exceeds {MAX_PAYLOAD}")
            prepared.append((ts, payload, n))
        with self._wlock:
            self._check_open()
            if not prepared:
                return self.end_offset
            return self._append_locked(prepared)

    def _append_locked(self, prepared: list[tuple[int, bytes | memoryview, int]]) -> int:
        # Plan: split the records into runs, one per file they go to.
        segs = self._segments
        first_offset = segs[-1].end if segs else 0
        runs: list[_Run] = []
        cur = _Run(segs[-1], segs[-1].first, segs[-1].size) if segs else None
        offset = first_offset
        for ts, payload, n in prepared:
            rec_len = HEADER.size + n
            if cur is None or (cur.size > 0 and cur.size + rec_len > self.segment_bytes):
                if cur is not None and cur.positions:
                    runs.append(cur)
                cur = _Run(None, offset, 0)
            cur.positions.append(cur.size)
            cur.buffers.append(HEADER.pack(n, record_crc(ts, payload), ts))
            if n:
                cur.buffers.append(payload)
            cur.size += rec_len
            offset += 1
        assert cur is not None
        runs.append(cur)

        # Execute: write each run; a new file for every run without a segment.
        created: list[tuple[Path, int]] = []   # new files and their fds
        old_fd = self._fd
        old_size = segs[-1].size if segs else 0
        fd = old_fd
        try:
            for run in runs:
                if run.segment is None:
                    if fd is not None:
                        os.fdatasync(fd)  # an earlier file is complete before a later one exists
                    path = self.directory / f"{run.first:020d}.log"
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                    created.append((path, fd))
                assert fd is not None  # a run without a segment created one just above
                _write_all(fd, run.buffers)
        except OSError as e:
            for path, cfd in created:
                os.close(cfd)
                path.unlink(missing_ok=True)
            if old_fd is not None:
                try:
                    os.ftruncate(old_fd, old_size)
                    os.lseek(old_fd, old_size, os.SEEK_SET)
                except OSError:
                    log.exception("channel log %s: cannot cut back after a failed append",
                                  self.directory)
            raise MqFailed(f"append to channel log {self.directory} failed: {e}") from e

        # Commit to the index.
        with self._rlock:
            for run in runs:
                if run.segment is None:
                    self._segments.append(_Segment(run.first, self.directory / f"{run.first:020d}.log",
                                                   run.positions, run.size))
                else:
                    run.segment.positions.extend(run.positions)
                    run.segment.size = run.size
            if created:
                for _, cfd in created[:-1]:
                    os.close(cfd)
                if old_fd is not None:
                    os.close(old_fd)
                self._fd = created[-1][1]
                self._dir_dirty = True
        return first_offset

    def sync(self) -> None:
        """Make every record appended so far durable (fsync); raises MqFailed on I/O error."""
        with self._wlock:
            self._check_open()
            with self._rlock:
                end = self._segments[-1].end if self._segments else 0
                fd, dir_dirty, parent_dirty = self._fd, self._dir_dirty, self._parent_dirty
            try:
                if fd is not None:
                    os.fdatasync(fd)
                if dir_dirty:
                    _fsync_dir(self.directory)
                    self._dir_dirty = False
                if parent_dirty:
                    _fsync_dir(self.directory.parent)
                    self._parent_dirty = False
            except OSError as e:
                raise MqFailed(f"fsync of channel log {self.directory} failed: {e}") from e
            self._durable = max(self._durable, end)

    def truncate_before(self, offset: int) -> int:
        """Delete the files whose records all lie below ``offset``; returns the new start.

        The last file is always kept, so records at or above ``offset`` are never lost and
        the end offset survives a restart.
        """
        with self._wlock:
            self._check_open()
            with self._rlock:
                doomed = []
                while len(self._segments) > 1 and self._segments[1].first <= offset:
                    doomed.append(self._segments.pop(0))
                start = self._segments[0].first if self._segments else 0
            for seg in doomed:
                try:
                    seg.path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as e:
                    raise MqFailed(f"truncating channel log {self.directory} failed: {e}") from e
            return start

    def close(self) -> None:
        """Close the log (idempotent). Unsynced records may or may not survive."""
        with self._wlock, self._rlock:
            if self._closed:
                return
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _check_open(self) -> None:
        if self._closed:
            raise MqFailed(f"channel log {self.directory} is closed")

    # ---------------------------------------------------------------- reading

    def read(self, offset: int, max_records: int, max_bytes: int) -> list[Record]:
        """Records from ``offset`` on: at most ``max_records`` of them, and no more than
        ``max_bytes`` of records (headers included), except that the first record is always
        returned whole.

        Returns ``[]`` at or beyond the end. Raises ``OffsetOutOfRange`` below the start (or for
        a negative offset) and ``MqFailed`` when a stored record fails its CRC check. Records
        that are appended but not yet synced are returned too; bound ``max_records`` by
        :attr:`durable_offset` to see durable records only.
        """
        if offset < 0:
            raise OffsetOutOfRange(f"offset {offset} is negative")
        out: list[Record] = []
        with self._rlock:
            self._check_open()
            start = self._segments[0].first if self._segments else 0
            if offset < start:
                raise OffsetOutOfRange(
                    f"offset {offset} is below the start offset {start} of channel log "
                    f"{self.directory} (truncated)")
            used = 0
            for seg in self._segments:
                if seg.end <= offset + len(out):
                    continue
                if len(out) >= max_records:
                    break
                used, full = self._read_segment(seg, offset + len(out) - seg.first,
                                                max_records - len(out), max_bytes, used, out)
                if full:
                    break
        return out

    def _read_segment(self, seg: _Segment, i: int, max_records: int, max_bytes: int,
                      used: int, out: list[Record]) -> tuple[int, bool]:
        """Append records of ``seg`` from its index ``i`` to ``out``.

        Returns the bytes used so far and whether the byte budget is spent."""
        n = len(seg.positions)
        j, full = i, False
        while j < n and j - i < max_records:
            _, length = seg.extent(j)
            if (out or j > i) and used + length > max_bytes:
                full = True
                break
            used += length
            j += 1
        if j == i:
            return used, full
        own_fd = seg is not self._segments[-1]
        fd = os.open(seg.path, os.O_RDONLY) if own_fd else self._fd
        assert fd is not None
        try:
            k = i
            while k < j:
                # A group of consecutive records read with one pread (big records alone).
                pos0 = seg.positions[k]
                g, gbytes = k, 0
                while g < j:
                    _, length = seg.extent(g)
                    if g > k and (gbytes + length > _BIG_RECORD or length >= _BIG_RECORD):
                        break
                    gbytes += length
                    g += 1
                if g - k == 1 and gbytes >= _BIG_RECORD:
                    head = os.pread(fd, HEADER.size, pos0)
                    length, crc, ts = HEADER.unpack(head)
                    payload = os.pread(fd, length, pos0 + HEADER.size)
                    self._check(seg.first + k, len(payload) == length == gbytes - HEADER.size
                                and record_crc(ts, payload) == crc)
                    out.append(Record(seg.first + k, ts, payload))
                else:
                    buf = os.pread(fd, gbytes, pos0)
                    self._check(seg.first + k, len(buf) == gbytes)
                    view = memoryview(buf)
                    for r in range(k, g):
                        p, total = seg.extent(r)
                        p -= pos0
                        length, crc, ts = HEADER.unpack_from(buf, p)
                        payload = bytes(view[p + HEADER.size:p + total])
                        self._check(seg.first + r, length == total - HEADER.size
                                    and record_crc(ts, payload) == crc)
                        out.append(Record(seg.first + r, ts, payload))
                    view.release()
                k = g
        except OSError as e:
            raise MqFailed(f"reading channel log {self.directory} failed: {e}") from e
        finally:
            if own_fd:
                os.close(fd)
        return used, full

    def _check(self, offset: int, ok: bool) -> None:
        if not ok:
            raise MqFailed(f"record {offset} of channel log {self.directory} is corrupt "
                           f"(CRC or length mismatch)")

    def __repr__(self) -> str:
        return (f"ChannelLog({str(self.directory)!r}, start={self.start_offset}, "
                f"end={self.end_offset}, durable={self._durable})")
