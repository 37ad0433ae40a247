"""Prometheus metrics of one role, named as Milvus names them (``milvus_<role>_<name>``, labels
``node_id`` first; Milvus's pkg/metrics), rendered in the Prometheus text format for the role's
``/metrics`` (common/http.py).

One ``MetricsRegistry`` per running role, held by its ``RoleContext`` (never a process-global
registry: a test cluster runs every role in one process). Three kinds:

- ``counter``: a monotonically increasing count per label set. Exposed under its exact name
  (``milvus_proxy_req_count``, as Go's client writes it; prometheus_client would add
  ``_total``, which no Milvus dashboard queries).
- ``histogram``: observations into Milvus's latency buckets (1, 2, 4 … 131072 ms) by default.
- ``gauge_source``: a gauge whose samples are read from the role on each scrape (segments,
  entities, backlog), so no state is mirrored into metrics; a source that raises is skipped
  for that scrape (logged), never failing the scrape.

The ``process_*`` metrics of this process (resident memory, CPU seconds, open fds) come with
every registry, from prometheus_client's process collector.
"""
from __future__ import annotations

import bisect
import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry, ProcessCollector

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS_MS", "Counter", "GaugeSamples", "Histogram", "MetricsRegistry"]

_log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Milvus: prometheus.ExponentialBuckets(1, 2, 18), in milliseconds.
LATENCY_BUCKETS_MS: tuple[float, ...] = tuple(float(2 ** i) for i in range(18))

# What a gauge source returns: (label values in the gauge's label order, value) pairs.
GaugeSamples = Iterable[tuple[Sequence[str], float]]


def _number(value: float) -> str:
    """A sample value as the text format writes it (+Inf, -Inf, NaN, else Python's repr)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _labels_text(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape_label(str(v))}"' for n, v in zip(names, values)) + "}"


class _Family:
    """A named metric with fixed label names (``node_id`` first, filled in by the registry)."""

    kind = ""

    def __init__(self, name: str, help_text: str, labels: Sequence[str], node_id: str) -> None:
        self.name = name
        self.help = help_text
        self.labels = ("node_id", *labels)
        self._node_id = node_id
        self._lock = threading.Lock()

    def _key(self, values: Sequence[str]) -> tuple[str, ...]:
        if len(values) != len(self.labels) - 1:
            raise ValueError(f"{self.name} takes labels {self.labels[1:]}, got {tuple(values)}")
        return (self._node_id, *(str(v) for v in values))

    def render(self) -> list[str]:
        head = [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        return head + self._sample_lines()

    def _sample_lines(self) -> list[str]:
        raise NotImplementedError


class Counter(_Family):
    """Counts per label set; ``inc(*label_values, amount=1)``."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str], node_id: str) -> None:
        super().__init__(name, help_text, labels, node_id)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        """Add ``amount`` (≥ 0) to the count of ``label_values``. Raises ValueError otherwise."""
        if amount < 0:
            raise ValueError(f"{self.name}: a counter cannot decrease (amount {amount})")
        key = self._key(label_values)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *label_values: str) -> float:
        """The count of ``label_values`` (0 when never incremented)."""
        with self._lock:
            return self._values.get(self._key(label_values), 0.0)

    def _sample_lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels_text(self.labels, k)} {_number(v)}" for k, v in items]


class Histogram(_Family):
    """Observations per label set into ``buckets`` (upper bounds, ascending); ``observe(value,
    *label_values)``."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: Sequence[str], node_id: str,
                 buckets: Sequence[float] = LATENCY_BUCKETS_MS) -> None:
        super().__init__(name, help_text, labels, node_id)
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError(f"{name}: buckets must be ascending and not empty")
        self._bounds = tuple(float(b) for b in buckets)
        # label key -> (per-bucket counts, the last one for +Inf), sum
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *label_values: str) -> None:
        key = self._key(label_values)
        index = bisect.bisect_left(self._bounds, value)
        with self._lock:
            counts, total = self._series.setdefault(key, ([0] * (len(self._bounds) + 1), [0.0]))
            counts[index] += 1
            total[0] += value

    def count(self, *label_values: str) -> int:
        """How many observations ``label_values`` has."""
        with self._lock:
            series = self._series.get(self._key(label_values))
            return sum(series[0]) if series else 0

    def _sample_lines(self) -> list[str]:
        lines = []
        with self._lock:
            items = sorted((k, (list(c), t[0])) for k, (c, t) in self._series.items())
        for key, (counts, total) in items:
            cumulative = 0
            names = (*self.labels, "le")
            for bound, n in zip((*self._bounds, float("inf")), counts):
                cumulative += n
                lines.append(f"{self.name}_bucket{_labels_text(names, (*key, _number(bound)))} {cumulative}")
            lines.append(f"{self.name}_sum{_labels_text(self.labels, key)} {_number(total)}")
            lines.append(f"{self.name}_count{_labels_text(self.labels, key)} {cumulative}")
        return lines


class _GaugeSource(_Family):
    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Sequence[str], node_id: str,
                 read: Callable[[], GaugeSamples]) -> None:
        super().__init__(name, help_text, labels, node_id)
        self._read = read

    def _sample_lines(self) -> list[str]:
        try:
            samples = [(self._key(values), float(value)) for values, value in self._read()]
        except Exception:  # noqa: BLE001 - a failing source must not fail the whole scrape
            _log.exception("metric %s: reading its samples failed; left out of this scrape", self.name)
            return []
        return [f"{self.name}{_labels_text(self.labels, k)} {_number(v)}" for k, v in sorted(samples)]


class MetricsRegistry:
    """The metrics of the role ``node_id`` runs. Names must be unique within a registry."""

    def __init__(self, node_id: int) -> None:
        self.node_id = str(node_id)
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()
        self._process = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self._process)

    def _add(self, family: _Family) -> None:
        with self._lock:
            if family.name in self._families:
                raise ValueError(f"metric {family.name} is already registered")
            self._families[family.name] = family

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        family = Counter(name, help_text, labels, self.node_id)
        self._add(family)
        return family

    def histogram(self, name: str, help_text: str, labels: Sequence[str] = (),
                  buckets: Sequence[float] = LATENCY_BUCKETS_MS) -> Histogram:
        family = Histogram(name, help_text, labels, self.node_id, buckets)
        self._add(family)
        return family

    def gauge_source(self, name: str, help_text: str, labels: Sequence[str], read: Callable[[], GaugeSamples]) -> None:
        """A gauge whose samples ``read()`` returns at each scrape (see the module docstring)."""
        self._add(_GaugeSource(name, help_text, labels, self.node_id, read))

    def render(self) -> bytes:
        """Every metric in the Prometheus text format (version 0.0.4)."""
        with self._lock:
            families = sorted(self._families.values(), key=lambda f: f.name)
        lines: list[str] = []
        for family in families:
            lines.extend(family.render())
        for metric in self._process.collect():
            name = f"{metric.name}_total" if metric.type == "counter" else metric.name  # its sample's name
            lines.append(f"# HELP {name} {_escape_help(metric.documentation)}")
            lines.append(f"# TYPE {name} {metric.type}")
            for sample in metric.samples:
                names = sorted(sample.labels)
                lines.append(f"{sample.name}{_labels_text(names, [sample.labels[n] for n in names])} "
                             f"{_number(sample.value)}")
        return ("\n".join(lines) + "\n").encode()
