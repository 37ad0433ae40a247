"""The log: durable, ordered channels of ``(timestamp, payload)`` records that every consumer
reads in the same order (the broker; ``common/mq/client.py`` BrokerClient implements it over
ZeroMQ). Nothing here depends on a transport, so another backend can implement the same
Protocol."""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

DEFAULT_MAX_BYTES = 64 << 20


class Record(NamedTuple):
    """One record of a channel: its offset, the producer's timestamp and the payload."""

    offset: int
    ts: int
    payload: bytes


class Log(Protocol):
    """Contract: raises ``common.errors.MilvusError`` subclasses only: ``MqFailed`` when the log
    cannot be reached, does not answer in time or could not make records durable (retriable;
    a ``produce`` that failed so may or may not have been stored), ``OffsetOutOfRange`` (an
    ``MqFailed``) for an offset outside a channel. Arguments are not mutated. Thread-safe."""

    def produce(self, channel: str, records: Sequence[tuple[int, bytes]]) -> int:
        """Append ``(ts, payload)`` records to ``channel`` (created on first use); returns the
        offset of the first, once the records are durable."""
        ...

    def fetch(self, channel: str, offset: int, max_records: int = 1000,
              max_bytes: int = DEFAULT_MAX_BYTES, wait_ms: int = 0) -> list[Record]:
        """Records of ``channel`` from ``offset`` on: at most ``max_records`` and about
        ``max_bytes``, but at least one when one is available. At the end of the channel,
        waits up to ``wait_ms`` for records (long poll) and returns ``[]`` if none come."""
        ...

    def end_offset(self, channel: str) -> int:
        """The offset after the last durable record of ``channel`` (0 if it does not exist)."""
        ...

    def truncate(self, channel: str, before_offset: int) -> int:
        """Allow records below ``before_offset`` to be deleted; returns the channel's new start
        offset (records at or above ``before_offset`` are always kept)."""
        ...

    def drop(self, channel: str) -> None:
        """Delete ``channel`` and its records (no error if it does not exist)."""
        ...

    def list_channels(self) -> list[str]:
        """Names of all channels, sorted."""
        ...

    def close(self) -> None:
        """Release the connection (idempotent); later calls raise MqFailed."""
        ...
