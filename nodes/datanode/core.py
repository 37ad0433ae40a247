"""DataNode logic: a heartbeat loop with datacoord (every ``common.heartbeat_interval_s``) that
learns which channels this node consumes, and one ``ChannelConsumer`` thread per channel,
started and stopped as the assignment changes. A consumer that ended (fenced, or died by an
error) is started again from datacoord's checkpoint if the channel is still this node's.

The heartbeat reports the channels consumed, the segments their latest SealMsgs closed (so
that ``Flush`` can answer which segments it sealed) and their growing segments' sizes (datacoord
seals full ones); a consumer that applies a seal or fills a segment triggers a heartbeat at
once. The node never writes to a channel. The answer also carries the compaction plans of this node's channels, run
by the ``Compactor``.
"""
from __future__ import annotations

import threading
import time

from common.runtime import RoleComponent, RoleContext
from nodes.datanode.channel_consumer import ChannelConsumer
from nodes.datanode.compactor import Compactor
from proto.internal import datacoord_pb2

STOP_JOIN_S = 10.0
WARN_EVERY_S = 5.0


class DataNode(RoleComponent):
    """Implements ``common.interfaces.DataNode`` (health only)."""

    role = "datanode"

    def __init__(self, context: RoleContext) -> None:
        super().__init__(context.node_id)
        self._context = context
        self._interval = float(context.config.get("common", "heartbeat_interval_s"))
        self._max_rows = int(context.config.get("datacoord", "segment_max_rows"))
        self._lock = threading.Lock()
        self._consumers: dict[str, ChannelConsumer] = {}
        self._last_warning = 0.0
        self._wake = threading.Event()
        self.compactor = Compactor(context, self.log)

    def channels(self) -> dict[str, ChannelConsumer]:
        """The consumers now running (or stopping), by channel."""
        with self._lock:
            return dict(self._consumers)

    def _start(self) -> None:
        self.compactor.start()
        self.spawn(self._heartbeat_loop, "heartbeat")

    def _heartbeat_loop(self) -> None:
        """A heartbeat every interval, or at once when a consumer applied a seal."""
        while not self._stopping.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._heartbeat()
            except Exception:
                if not self._stopping.is_set():
                    self.log.exception("heartbeat failed")

    def _stop(self) -> None:
        self._wake.set()
        self.compactor.stop()
        with self._lock:
            consumers = list(self._consumers.values())
            self._consumers.clear()
        for consumer in consumers:
            consumer.stop()
        for consumer in consumers:
            if not consumer.join(STOP_JOIN_S):
                self.log.warning("consumer of %s did not stop in %.0fs", consumer.channel, STOP_JOIN_S)

    def _heartbeat(self) -> None:
        request = datacoord_pb2.DataNodeHeartbeatRequest(node_id=self.node_id)
        for name, consumer in sorted(self.channels().items()):
            if not consumer.alive:
                continue
            request.channels.append(name)
            for offset, segment_ids in consumer.buffer.recent_seals:
                request.seals.add(channel=name, offset=offset, segment_ids=segment_ids)
            request.growing.extend(consumer.growing_report)
        try:
            response = self._context.datacoord.data_node_heartbeat(request)
        except Exception as exc:  # noqa: BLE001 - datacoord restarting: consumers go on meanwhile
            if time.monotonic() - self._last_warning > WARN_EVERY_S and not self._stopping.is_set():
                self._last_warning = time.monotonic()
                self.log.warning("heartbeat to datacoord failed: %s", exc)
            return
        if response.segment_max_rows > 0:
            self._max_rows = response.segment_max_rows
        self.compactor.offer(response.compactions)
        wanted = {watch.channel: watch for watch in response.channels}
        with self._lock:
            if self._stopping.is_set():
                return
            for name, consumer in list(self._consumers.items()):
                if name not in wanted or not consumer.alive:
                    consumer.stop()
                    if consumer.join(0):  # gone: a fresh one may start from the checkpoint
                        del self._consumers[name]
            for name, watch in wanted.items():
                if name not in self._consumers:
                    consumer = ChannelConsumer(self._context, watch, lambda: self._max_rows, self.log,
                                               on_seal=self._wake.set, on_full=self._wake.set)
                    self._consumers[name] = consumer
                    consumer.start()
