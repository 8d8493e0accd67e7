"""hub/metrics.py: prometheus_client's registry and exposition, under the names docs/operations.md lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors.dataplane.client import DataPlaneClient
from hub.core.config import DataPlaneConfig
from hub.core.records import ShardStats
from hub.metrics import IngressMetrics, dataplane_families, shard_families

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def samples(text: str) -> dict[str, float]:
    """Each sample line of an exposition as {'name{labels}': value}, as the integration tests read it."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def scrape(metrics: IngressMetrics) -> str:
    stats: list[ShardStats | None] = [
        ShardStats(
            shard=0,
            epoch="e0",
            educators=2,
            jobs=2,
            ingresses=1,
            published=7,
            pending={"me": 3, "other": 1},
            jobs_by_status={"x": 2},
        ),
        None,  # a shard that did not answer
    ]
    return metrics.render(shard_families(stats, "me") + dataplane_families([_Shard(_plane()), _Shard(None)]))


class _Shard:
    """A shard handle as dataplane_families reads it: its `plane` (None: the data plane is off)."""

    def __init__(self, plane: DataPlaneClient | None) -> None:
        self.plane = plane


def _plane(fallback_since: float | None = None, calls: int = 0, connects: int = 1) -> DataPlaneClient:
    async def nowhere() -> None:
        return None

    plane = DataPlaneClient(nowhere, DataPlaneConfig(), "127.0.0.1", "shard 0")
    plane.fallback_since, plane.fallback_calls, plane.connects = fallback_since, calls, connects
    return plane


def test_dataplane_families_say_which_shards_are_reached_by_ray_calls() -> None:
    shards = [_Shard(_plane(connects=3)), _Shard(_plane(fallback_since=1.0, calls=7, connects=0)), _Shard(None)]
    got = samples(IngressMetrics().render(dataplane_families(shards)))
    assert got['hub_dataplane_fallback{shard="0"}'] == 0 and got['hub_dataplane_fallback{shard="1"}'] == 1
    assert got['hub_dataplane_fallback_calls_total{shard="1"}'] == 7
    assert got['hub_dataplane_connects_total{shard="0"}'] == 3
    assert not any('shard="2"' in name for name in got)  # no data plane there: no samples


def test_every_documented_metric_is_exposed_and_parses() -> None:
    metrics = IngressMetrics()
    # the live gauges the app wires (hub/ingress/app.py; the warm pool's when the hub keeps one)
    live = ("hub_connections", "hub_educators", "hub_send_queue_messages")
    for name in (*live, "hub_monitor_pool_ready", "hub_monitor_pool_handed"):
        metrics.gauge(name, "live", lambda: 4)
    text = scrape(metrics)
    families = {(f.name, f.type) for f in text_string_to_metric_families(text)}  # a valid exposition
    exposed = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    documented = set(re.findall(r"`(hub_[a-z_]+)", OPERATIONS.read_text()))
    assert documented <= exposed, documented - exposed
    # the parser names a counter's family without `_total`: a gauge and a counter, both kept
    assert {("hub_connections", "gauge"), ("hub_connections", "counter")} <= families
    assert ("hub_delivery_latency_seconds", "histogram") in families
    assert "_created" not in text  # the hand-written format had none; neither does this one


def test_counts_labels_and_shard_families() -> None:
    metrics = IngressMetrics()
    metrics.errors.inc(code="too_large")
    metrics.errors.inc(2, code="too_large")
    metrics.closes.inc(code="4409")
    metrics.deliveries.inc(5, type="quiz_status")
    metrics.sent_batch(3, 2, 0.0)
    metrics.sent_batch(1, 0, 0.0)
    metrics.frames_control.inc()
    assert metrics.errors.get(code="too_large") == 3 and metrics.errors.get(code="never") == 0
    got = samples(scrape(metrics))
    assert got['hub_errors_total{code="too_large"}'] == 3
    assert got['hub_connection_closes_total{code="4409"}'] == 1
    assert got['hub_deliveries_total{type="quiz_status"}'] == 5
    assert got['hub_frames_out_total{op="batch"}'] == 2 and got['hub_frames_out_total{op="control"}'] == 1
    assert got["hub_messages_out_total"] == 4 and got["hub_messages_conflated_total"] == 2
    assert got["hub_batch_messages_count"] == 2 and got["hub_batch_messages_sum"] == 4
    assert got['hub_shard_up{shard="0"}'] == 1 and got['hub_shard_up{shard="1"}'] == 0
    assert got['hub_shard_feed_pending{shard="0"}'] == 3 and got['hub_shard_feed_pending_all{shard="0"}'] == 4
    assert got['hub_shard_published_total{shard="0"}'] == 7 and got['hub_jobs{status="x"}'] == 2
    assert not any('shard="1"' in k for k in got if not k.startswith("hub_shard_up"))  # no answer, no figures
    # a labelled counter never counted shows its header and no series (test_strict_json reads it so)
    assert 'hub_relay_restarts_total{shard="' not in scrape(metrics) and "hub_relay_restarts_total" in scrape(metrics)


def test_bucket_bounds_are_inclusive_and_cumulative() -> None:
    metrics = IngressMetrics()
    for n in (1, 2, 3, 600):
        metrics.batch_size.observe(n)
    got = samples(metrics.render())
    assert got['hub_batch_messages_bucket{le="1.0"}'] == 1
    assert got['hub_batch_messages_bucket{le="2.0"}'] == 2
    assert got['hub_batch_messages_bucket{le="5.0"}'] == 3
    assert got['hub_batch_messages_bucket{le="500.0"}'] == 3 and got['hub_batch_messages_bucket{le="+Inf"}'] == 4


def test_each_instance_has_its_own_registry() -> None:
    one, two = IngressMetrics(), IngressMetrics()  # the library's global registry would refuse the second
    one.connections_total.inc()
    assert samples(one.render())["hub_connections_total"] == 1
    assert samples(two.render())["hub_connections_total"] == 0


def test_a_label_the_counter_does_not_have_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        IngressMetrics().errors.inc(where="nowhere")
