"""The datanode's Prometheus metrics (Milvus's names, pkg/metrics/datanode_metrics.go), read at
each scrape: the channels it consumes and the log backlog of each."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from common.interfaces.log import Log
from common.metrics import GaugeSamples, MetricsRegistry

if TYPE_CHECKING:
    from nodes.datanode.channel_consumer import ChannelConsumer


def register_datanode_metrics(registry: MetricsRegistry, consumers: Callable[[], dict[str, ChannelConsumer]],
                              log: Callable[[], Log]) -> None:
    """Gauges over ``consumers()`` (channel -> consumer) and the ``log()`` they read."""

    def backlog() -> GaugeSamples:
        current = log()
        return [((channel,), max(0, current.end_offset(channel) - consumer.offset))
                for channel, consumer in consumers().items()]

    registry.gauge_source("milvus_datanode_flowgraph_num", "number of channels consumed", (),
                          lambda: [((), len(consumers()))])
    registry.gauge_source("milvus_datanode_consume_backlog",
                          "records of the channel not consumed yet (the log's end offset minus the position)",
                          ("channel_name",), backlog)
