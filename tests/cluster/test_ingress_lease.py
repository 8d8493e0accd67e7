"""An ingress process that dies leaves its feeds on the shards until its lease lapses; one that is
stopped (SIGTERM) detaches from every shard at once."""

from __future__ import annotations

import signal
import time

import pytest

from tests.cluster.conftest import INGRESS_LEASE, POLL_TIMEOUT, HubCluster
from tests.conftest import scaled

pytestmark = pytest.mark.cluster


def feeds(hub_cluster: HubCluster) -> list[set[str]]:
    """Per shard, the ingresses it holds a feed for."""
    return [set(s["pending"]) for s in hub_cluster.shard_stats()]


def wait_feeds(hub_cluster: HubCluster, ingress_id: str, present: bool, timeout: float) -> float:
    """Seconds until every shard does (or no shard does) hold a feed for `ingress_id`."""
    started = time.monotonic()
    deadline = started + scaled(timeout)
    while True:
        held = [ingress_id in f for f in feeds(hub_cluster)]
        if all(held) if present else not any(held):
            return time.monotonic() - started
        assert time.monotonic() < deadline, f"feeds of {ingress_id} {'missing' if present else 'left'}: {held}"
        time.sleep(0.1)


def test_a_killed_ingress_is_dropped_after_its_lease_and_a_stopped_one_at_once(hub_cluster: HubCluster) -> None:
    killed, stopped = hub_cluster.start_ingress("ingress-killed"), hub_cluster.start_ingress("ingress-stopped")
    try:
        killed.wait_ready()
        stopped.wait_ready()
        for ingress in (killed, stopped):
            wait_feeds(hub_cluster, ingress.ingress_id, present=True, timeout=30)  # its relay pulls every shard

        assert stopped.stop(signal.SIGTERM) == 0, stopped.tail()
        took = wait_feeds(hub_cluster, stopped.ingress_id, present=False, timeout=INGRESS_LEASE)
        assert took < INGRESS_LEASE / 2, f"a stopped ingress detached only after {took:.1f}s"

        before = [c["connections"] for c in hub_cluster.dataplane_counters()]
        killed.stop(signal.SIGKILL)
        gone_at = time.monotonic()
        assert all(killed.ingress_id in f for f in feeds(hub_cluster))  # no goodbye: still held
        # Its data-plane sockets closed with its process: every shard saw one connection fewer at once.
        deadline = time.monotonic() + scaled(10)
        while any(c["connections"] >= b for c, b in zip(hub_cluster.dataplane_counters(), before, strict=True)):
            assert time.monotonic() < deadline, f"the killed ingress's sockets stayed open: {before}"
            time.sleep(0.1)
        wait_feeds(hub_cluster, killed.ingress_id, present=False, timeout=INGRESS_LEASE + 2 * POLL_TIMEOUT + 10)
        took = time.monotonic() - gone_at
        # Its last pull may have ended up to one poll before it died; the lease counts from there.
        assert took >= INGRESS_LEASE - POLL_TIMEOUT - 1, f"dropped after {took:.1f}s, before its lease lapsed"
        print(f"a stopped ingress detached at once; a killed one was dropped {took:.1f}s after it died")
    finally:
        killed.stop(signal.SIGKILL)
        stopped.stop(signal.SIGKILL)
    live = {i.ingress_id for i in hub_cluster.ingresses}
    assert all(live <= f for f in feeds(hub_cluster))  # the live ingresses were never dropped
