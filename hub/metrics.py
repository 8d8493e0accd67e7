"""The ingress's metrics, kept and exposed with `prometheus_client` (its registry, counters, histograms
and text exposition), under the names and labels docs/operations.md lists.

One `CollectorRegistry` per `IngressMetrics` (tests build several apps in one process), never the
library's global one. Counters and histograms export no `_created` series (`hub_*_created`): the
hand-written format this replaced had none, and scrapers and tests read what it had.

What a frame written to a client counts (`IngressMetrics.sent_batch`, once per batch frame per
connection) is tallied in plain integers and handed to the library at scrape time: measured with
bench/hotpath.py on the 2-core development machine (Python 3.11, prometheus_client 0.26), doing it through
prometheus_client's Counter and Histogram costs 2.4 us per frame (its locks and linear bucket search)
against 0.38 us tallied, where the ingress spends 20 to 35 us of CPU per delivery in all
(docs/benchmarks.md), so 5 to 9 % of it.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as _Counter
from prometheus_client import Histogram as _Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from hub.core.records import ShardStats

__all__ = ["Counter", "FrameHistogram", "IngressMetrics", "dataplane_families", "shard_families"]


class Counter:
    """A prometheus_client `Counter` with the call shape the ingress uses: `inc(amount, **labels)`.

    `name` is the exposed name, ending in `_total`; `labelnames` the labels every increment gives
    (an increment missing one, or giving another, raises ValueError: a programming error).
    """

    def __init__(self, registry: CollectorRegistry, name: str, help_text: str, labelnames: tuple[str, ...] = ()):
        self.name = name
        self.metric = _Counter(name, help_text, labelnames, registry=registry)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` (>= 0; a negative one raises ValueError) to the series with these labels."""
        (self.metric.labels(**labels) if labels else self.metric).inc(amount)

    def labels(self, **labels: str) -> Any:
        """The series for fixed labels (its `inc(amount)`), for paths that count often."""
        return self.metric.labels(**labels) if labels else self.metric

    def get(self, **labels: str) -> float:
        """The series' value now; 0.0 for labels never counted (reading creates no series)."""
        for family in self.metric.collect():
            for sample in family.samples:
                if sample.name == self.name and sample.labels == labels:
                    return float(sample.value)
        return 0.0


class FrameHistogram:
    """A histogram observed once per frame written: bucket counts kept by bisection in plain integers,
    exposed through prometheus_client's `HistogramMetricFamily` (see the module's figures).

    `buckets`: upper bounds, ascending (`le`, inclusive), "+Inf" added at exposition.
    """

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]) -> None:
        self.name = name
        self.help = help_text
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation of `value` (in the metric's unit)."""
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        """Observations so far."""
        return sum(self.counts)

    def describe(self) -> list[Metric]:
        """The family's name, so the registry refuses a clash (prometheus_client's Collector protocol)."""
        return [HistogramMetricFamily(self.name, self.help)]

    def collect(self) -> list[Metric]:
        """The family as it stands: cumulative buckets, sum and count."""
        bounds = [floatToGoString(b) for b in self.buckets] + ["+Inf"]
        cumulative = itertools.accumulate(self.counts)
        return [HistogramMetricFamily(self.name, self.help, list(zip(bounds, cumulative, strict=True)), self.sum)]


class _ScrapeGauges:
    """Gauges read from live state at scrape time. Registered without a `describe`, so the registry
    checks no names: `hub_connections` (a gauge) and `hub_connections_total` (a counter) share a
    family name in prometheus_client's eyes, and the registry would refuse the pair."""

    def __init__(self) -> None:
        self.gauges: list[tuple[str, str, Callable[[], float]]] = []

    def collect(self) -> Iterator[Metric]:
        for name, help_text, read in self.gauges:
            yield GaugeMetricFamily(name, help_text, value=read())


class _Exposed:
    """The registry as scraped: `_created` samples left out, the shard families of this scrape after it."""

    def __init__(self, registry: CollectorRegistry, extra: Iterable[Metric]) -> None:
        self.registry = registry
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        for family in itertools.chain(self.registry.collect(), self.extra):
            family.samples = [s for s in family.samples if s.name != family.name + "_created"]
            yield family


def shard_families(stats: list[ShardStats | None], ingress_id: str) -> list[Metric]:
    """What the registry shards report (`RegistryShard.stats`, one per shard in shard order; None: no
    answer this scrape), as metric families with a `shard` label (the shard's index)."""
    up = GaugeMetricFamily("hub_shard_up", "Registry shard answered this scrape", labels=["shard"])
    for k, s in enumerate(stats):
        up.add_metric([str(k)], 0 if s is None else 1)
    families: list[Metric] = [up]
    answered = [(str(k), s) for k, s in enumerate(stats) if s is not None]
    gauges: list[tuple[str, str, Callable[[ShardStats], float]]] = [
        ("hub_shard_educators", "Educator streams a shard holds", lambda s: s.educators),
        ("hub_shard_ingresses", "Ingress processes attached to a shard", lambda s: s.ingresses),
        (
            "hub_shard_feed_pending",
            "Messages a shard holds for this ingress, not yet pulled",
            lambda s: s.pending.get(ingress_id, 0),
        ),
        ("hub_rooms", "Rooms a shard holds (PROTOCOL.md section 7)", lambda s: s.rooms),
        ("hub_room_members", "Present members of a shard's rooms, summed over its rooms", lambda s: s.room_members),
        (
            "hub_jobs_waiting",
            "Jobs a shard holds that wait for resources Ray cannot place (their state carries `waiting`)",
            lambda s: s.jobs_waiting,
        ),
        (
            "hub_shard_feed_pending_all",
            "Messages a shard holds for every ingress, not yet pulled",
            lambda s: sum(s.pending.values()),
        ),
    ]
    for name, help_text, read in gauges:
        gauge = GaugeMetricFamily(name, help_text, labels=["shard"])
        for shard, s in answered:
            gauge.add_metric([shard], read(s))
        families.append(gauge)
    published = CounterMetricFamily("hub_shard_published", "Messages a shard appended to streams", labels=["shard"])
    for shard, s in answered:
        published.add_metric([shard], s.published)
    families.append(published)
    for name, help_text, read in (
        ("hub_presence_changes", "Presence join and leave messages a shard sent", lambda s: s.presence_changes),
        ("hub_room_messages", "Room messages a shard sent on (kept and ephemeral)", lambda s: s.room_messages),
    ):
        counter = CounterMetricFamily(name, help_text, labels=["shard"])
        for shard, s in answered:
            counter.add_metric([shard], read(s))
        families.append(counter)
    by_status: dict[str, int] = {}
    for _, s in answered:
        for status, n in s.jobs_by_status.items():
            by_status[status] = by_status.get(status, 0) + n
    jobs = GaugeMetricFamily("hub_jobs", "Jobs the shards hold (running and recent), by status", labels=["status"])
    for status, n in sorted(by_status.items()):
        jobs.add_metric([status], n)
    families.append(jobs)
    return families


def dataplane_families(shards: Sequence[Any]) -> list[Metric]:
    """This process's data-plane state toward each registry shard (`shards`: the ShardClients in shard
    order; each one's `plane`, an actors.dataplane.client.DataPlaneClient, None when the hub runs
    without a data plane): `hub_dataplane_fallback` 1 while that shard is reached by Ray calls because
    no socket could be made, the calls made so (`hub_dataplane_fallback_calls_total`) and the
    connections opened (`hub_dataplane_connects_total`)."""
    fallback = GaugeMetricFamily(
        "hub_dataplane_fallback",
        "1 while a registry shard is reached by Ray calls because its data-plane socket cannot be made",
        labels=["shard"],
    )
    calls = CounterMetricFamily(
        "hub_dataplane_fallback_calls", "Calls made over Ray: a shard's socket could not be made", labels=["shard"]
    )
    connects = CounterMetricFamily("hub_dataplane_connects", "Data-plane connections opened", labels=["shard"])
    for k, shard in enumerate(shards):
        plane = getattr(shard, "plane", None)
        if plane is None:
            continue
        fallback.add_metric([str(k)], 1 if plane.in_fallback else 0)
        calls.add_metric([str(k)], plane.fallback_calls)
        connects.add_metric([str(k)], plane.connects)
    return [fallback, calls, connects]


class IngressMetrics:
    """The ingress's own counters and histograms (one registry each); gauges are wired to live state
    by the app (`gauge`). Times are in seconds."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()

        def counter(name: str, help_text: str, *labelnames: str) -> Counter:
            return Counter(registry, name, help_text, labelnames)

        self.connections_total = counter("hub_connections_total", "WebSocket connections accepted")
        self.ws_protocols = counter(
            "hub_ws_protocol_total",
            "WebSocket connections accepted, by the frames they use (hub.v1: JSON text; hub.v1.msgpack: MessagePack)",
            "protocol",
        )
        self.closes = counter("hub_connection_closes_total", "WebSocket closes by code", "code")
        self.messages_in = counter("hub_messages_in_total", "Messages from shards by type", "type")
        self.messages_out = counter("hub_messages_out_total", "Messages sent to clients")
        self.deliveries = counter(
            "hub_deliveries_total",
            "Messages offered to this ingress's connections (one per connection), by type",
            "type",
        )
        self.frames_out = counter("hub_frames_out_total", "Frames sent to clients by op", "op")
        self.skipped = counter("hub_messages_conflated_total", "Progress ticks superseded for slow readers")
        self.ops_in = counter("hub_ops_in_total", "Client ops received by op", "op")
        self.errors = counter("hub_errors_total", "Error frames and HTTP errors by code", "code")
        self.room_ops = counter(
            "hub_room_ops_total", "Room ops carried out (join, leave, publish, typing; WebSocket and HTTP), by op", "op"
        )
        self.compressors_trimmed = counter(
            "hub_compressors_trimmed_total", "Idle connections whose deflate compressor was freed"
        )
        self.jobs_submitted = counter("hub_jobs_submitted_total", "Jobs submitted by kind", "kind")
        self.idempotent_repeats = counter(
            "hub_idempotent_repeats_total", "Job submissions answered with the job their Idempotency-Key already named"
        )
        self.idempotency_conflicts = counter(
            "hub_idempotency_conflicts_total", "Job submissions refused (409): their Idempotency-Key named another body"
        )
        self.relay_restarts = counter(
            "hub_relay_restarts_total", "Relay tasks (one per registry shard) restarted after a failure", "shard"
        )
        self.made_safe = counter(
            "hub_values_made_safe_total", "Outgoing values strict JSON could not carry, made safe, by where", "where"
        )
        self.batch_size = FrameHistogram(
            "hub_batch_messages", "Messages per batch frame", (1, 2, 5, 10, 20, 50, 100, 500)
        )
        self.latency = FrameHistogram(
            "hub_delivery_latency_seconds",
            "Message timestamp to frame sent",
            (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )
        registry.register(self.batch_size)
        registry.register(self.latency)
        self.poll_cycle = _Histogram(
            "hub_longpoll_cycle_seconds",
            "Shard long-poll round trip",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 1, 5, 15, 30),
            registry=registry,
        )
        self._gauges = _ScrapeGauges()
        registry.register(self._gauges)

        self.frames_control = self.frames_out.labels(op="control")
        self._frames_batch = self.frames_out.labels(op="batch")
        self._frames_batch.inc(0)  # shown from the start, as before
        # Tallied per frame, handed to the counters at scrape time (the module's figures).
        self._pending_frames = self._pending_messages = self._pending_skipped = 0

    def sent_batch(self, messages: int, skipped: int, oldest_ts: float) -> None:
        """One batch frame written: `messages` envelopes, `skipped` superseded ticks before them,
        `oldest_ts` the oldest envelope's timestamp (seconds since the epoch)."""
        self._pending_frames += 1
        self._pending_messages += messages
        self._pending_skipped += skipped
        self.batch_size.observe(messages)
        self.latency.observe(time.time() - oldest_ts)

    def flush(self) -> None:
        """Hand what `sent_batch` tallied to the counters (`render` does it before each scrape)."""
        frames, messages, skipped = self._pending_frames, self._pending_messages, self._pending_skipped
        self._pending_frames = self._pending_messages = self._pending_skipped = 0
        self._frames_batch.inc(frames)
        self.messages_out.inc(messages)
        self.skipped.inc(skipped)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A gauge `name` whose value `read()` gives at each scrape (called on the event loop: keep it cheap)."""
        self._gauges.gauges.append((name, help_text, read))

    def render(self, extra: Iterable[Metric] = ()) -> str:
        """Everything in the Prometheus text format (0.0.4), `extra` families (`shard_families`) last."""
        self.flush()
        return generate_latest(_Exposed(self.registry, extra)).decode()
