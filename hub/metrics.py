"""Counters, gauges and histograms rendered in the Prometheus text format. No dependencies."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

LabelKey = tuple[tuple[str, str], ...]


def _fmt_labels(key: LabelKey, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = key + extra
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}"


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> Iterable[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text)
        self.values: dict[LabelKey, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)

    def labels(self, **labels: str) -> BoundCounter:
        """The counter for fixed labels, for hot paths (no label sorting per increment)."""
        return BoundCounter(self.values, tuple(sorted(labels.items())))

    def lines(self) -> Iterable[str]:
        for key, value in self.values.items():
            yield f"{self.name}{_fmt_labels(key)} {value:g}"


class BoundCounter:
    __slots__ = ("values", "key")

    def __init__(self, values: dict[LabelKey, float], key: LabelKey) -> None:
        self.values = values
        self.key = key
        values.setdefault(key, 0.0)

    def inc(self, amount: float = 1.0) -> None:
        self.values[self.key] += amount


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        super().__init__(name, help_text)
        self.read = read

    def lines(self) -> Iterable[str]:
        yield f"{self.name} {self.read():g}"


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]) -> None:
        super().__init__(name, help_text)
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def lines(self) -> Iterable[str]:
        running = 0
        for bound, n in zip(self.buckets, self.counts, strict=False):
            running += n
            yield f'{self.name}_bucket{{le="{bound:g}"}} {running}'
        yield f'{self.name}_bucket{{le="+Inf"}} {self.count}'
        yield f"{self.name}_sum {self.sum:g}"
        yield f"{self.name}_count {self.count}"


M = TypeVar("M", bound=_Metric)


class Registry:
    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def add(self, metric: M) -> M:
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        out: list[str] = []
        for metric in self.metrics:
            out.extend(metric.header())
            out.extend(metric.lines())
        return "\n".join(out) + "\n"


def shard_lines(stats: list[dict[str, Any] | None], ingress_id: str) -> list[str]:
    """What the registry shards report (`RegistryShard.stats`; None: no answer), as metrics."""
    out = [
        "# HELP hub_shard_up Registry shard answered this scrape",
        "# TYPE hub_shard_up gauge",
        *(f'hub_shard_up{{shard="{k}"}} {0 if s is None else 1}' for k, s in enumerate(stats)),
    ]
    answered = [(k, s) for k, s in enumerate(stats) if s is not None]
    gauges = [
        ("hub_shard_educators", "Educator streams a shard holds", lambda s: s["educators"]),
        ("hub_shard_ingresses", "Ingress processes attached to a shard", lambda s: s["ingresses"]),
        (
            "hub_shard_feed_pending",
            "Messages a shard holds for this ingress, not yet pulled",
            lambda s: s["pending"].get(ingress_id, 0),
        ),
        (
            "hub_shard_feed_pending_all",
            "Messages a shard holds for every ingress, not yet pulled",
            lambda s: sum(s["pending"].values()),
        ),
    ]
    for name, help_text, read in gauges:
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        out += [f'{name}{{shard="{k}"}} {read(s):g}' for k, s in answered]
    out += [
        "# HELP hub_shard_published_total Messages a shard appended to streams",
        "# TYPE hub_shard_published_total counter",
    ]
    out += [f'hub_shard_published_total{{shard="{k}"}} {s["published"]:g}' for k, s in answered]
    by_status: dict[str, int] = {}
    for _, s in answered:
        for status, n in s.get("jobs_by_status", {}).items():
            by_status[status] = by_status.get(status, 0) + n
    out += ["# HELP hub_jobs Jobs the shards hold (running and recent), by status", "# TYPE hub_jobs gauge"]
    out += [f'hub_jobs{{status="{status}"}} {n}' for status, n in sorted(by_status.items())]
    return out


class IngressMetrics:
    """The ingress's own counters; gauges are wired to live state by the app."""

    def __init__(self) -> None:
        self.registry = Registry()
        add = self.registry.add
        self.connections_total = add(Counter("hub_connections_total", "WebSocket connections accepted"))
        self.closes = add(Counter("hub_connection_closes_total", "WebSocket closes by code"))
        self.messages_in = add(Counter("hub_messages_in_total", "Messages from shards by type"))
        self.messages_out = add(Counter("hub_messages_out_total", "Messages sent to clients"))
        self.deliveries = add(
            Counter(
                "hub_deliveries_total", "Messages offered to this ingress's connections (one per connection), by type"
            )
        )
        self.frames_out = add(Counter("hub_frames_out_total", "Frames sent to clients by op"))
        self.skipped = add(Counter("hub_messages_conflated_total", "Progress ticks superseded for slow readers"))
        self.ops_in = add(Counter("hub_ops_in_total", "Client ops received by op"))
        self.errors = add(Counter("hub_errors_total", "Error frames and HTTP errors by code"))
        self.compressors_trimmed = add(
            Counter("hub_compressors_trimmed_total", "Idle connections whose deflate compressor was freed")
        )
        self.jobs_submitted = add(Counter("hub_jobs_submitted_total", "Jobs submitted by kind"))
        self.relay_restarts = add(
            Counter("hub_relay_restarts_total", "Relay tasks (one per registry shard) restarted after a failure")
        )
        self.made_safe = add(
            Counter("hub_values_made_safe_total", "Outgoing values strict JSON could not carry, made safe, by where")
        )
        self.batch_size = add(
            Histogram("hub_batch_messages", "Messages per batch frame", (1, 2, 5, 10, 20, 50, 100, 500))
        )
        self.latency = add(
            Histogram(
                "hub_delivery_latency_seconds",
                "Message timestamp to frame sent",
                (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
            )
        )
        self.poll_cycle = add(
            Histogram(
                "hub_longpoll_cycle_seconds",
                "Shard long-poll round trip",
                (0.001, 0.005, 0.01, 0.05, 0.1, 1, 5, 15, 30),
            )
        )

        self.frames_batch = self.frames_out.labels(op="batch")
        self.frames_control = self.frames_out.labels(op="control")
        self.messages_out_all = self.messages_out.labels()

    def sent_batch(self, messages: int, skipped: int, oldest_ts: float) -> None:
        """One batch frame written: `messages` envelopes, `skipped` superseded ticks before them."""
        self.frames_batch.inc()
        self.messages_out_all.inc(messages)
        if skipped:
            self.skipped.inc(skipped)
        self.batch_size.observe(messages)
        self.latency.observe(time.time() - oldest_ts)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.registry.add(Gauge(name, help_text, read))

    def render(self) -> str:
        return self.registry.render()
