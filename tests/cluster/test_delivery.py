"""Two ingresses on a three-node cluster: one educator's connections on both get the same stream,
and job monitors spread over the nodes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import HubCluster, api, submit
from tests.conftest import scaled
from tests.integration.conftest import messages_until, open_ws

pytestmark = pytest.mark.cluster

TERMINAL = ("completed", "failed", "cancelled")


def test_connections_on_two_ingresses_get_every_message_in_the_same_order(
    hub_cluster: HubCluster, where_registered: str
) -> None:
    a, b = hub_cluster.ingresses
    token = hub_cluster.token("dana")
    service = api(b, hub_cluster.token("grader", role="service"))

    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        ws_a, welcome_a = await open_ws(a, {"token": token})  # type: ignore[arg-type]
        ws_b, welcome_b = await open_ws(b, {"token": token})  # type: ignore[arg-type]
        assert welcome_a["epoch"] == welcome_b["epoch"] and welcome_a["seq"] == welcome_b["seq"]
        with api(a, token) as http_a, api(b, token) as http_b:
            jobs = [
                await asyncio.to_thread(submit, http_a, 12),
                await asyncio.to_thread(submit, http_b, 12),
            ]
        reply = await asyncio.to_thread(
            service.post,
            "/api/publish",
            json={"type": "notification", "data": {"title": "Grades are in"}, "educatorIds": ["dana"]},
        )
        assert reply.status_code == 202, reply.text

        def everything() -> Any:
            """True once both jobs have ended and the notification came (one per connection)."""
            ended: set[str] = set()
            noted: list[bool] = []

            def done(env: dict[str, Any]) -> bool:
                if env["data"].get("jobId") in jobs and env["data"]["status"] in TERMINAL:
                    ended.add(env["data"]["jobId"])
                noted.extend([True] if env["type"] == "notification" else [])
                return len(ended) == len(jobs) and bool(noted)

            return done

        (got_a, _), (got_b, _) = await asyncio.gather(
            messages_until(ws_a, everything(), 60), messages_until(ws_b, everything(), 60)
        )
        await ws_a.close()
        await ws_b.close()
        return got_a, got_b, jobs

    got_a, got_b, jobs = asyncio.run(go())
    service.close()
    last = min(got_a[-1]["seq"], got_b[-1]["seq"])  # one may have read a frame further: compare up to there
    got_a, got_b = [e for e in got_a if e["seq"] <= last], [e for e in got_b if e["seq"] <= last]
    seqs = [e["seq"] for e in got_a]
    assert seqs == sorted(set(seqs)), "not in order, or a seq twice"
    assert [(e["seq"], e["type"], e["data"]) for e in got_a] == [(e["seq"], e["type"], e["data"]) for e in got_b]
    for job_id in jobs:
        statuses = [e["data"]["status"] for e in got_a if e["data"].get("jobId") == job_id]
        assert statuses[0] == "queued" and statuses[-1] == "completed", statuses
        assert "processing" in statuses
    assert sum(e["type"] == "notification" for e in got_a) == 1
    # All of it went over the shards' data-plane sockets (TLS here: HUB_DATAPLANE_TLS=always), none by
    # Ray calls for want of a socket, and no shard refused a connection or dropped a frame.
    for ingress in (a, b):
        metrics = httpx.get(ingress.url + "/metrics", timeout=10).text
        for k in range(len(hub_cluster.dataplane_counters())):
            assert f'hub_dataplane_fallback{{shard="{k}"}} 0.0' in metrics
            assert f'hub_dataplane_fallback_calls_total{{shard="{k}"}} 0.0' in metrics
    for counters in hub_cluster.dataplane_counters():
        assert counters["connections"] >= 2 and counters["refused"] == 0 and counters["dropped"] == 0, counters


def test_job_monitors_spread_over_the_nodes(hub_cluster: HubCluster, where_registered: str) -> None:
    token = hub_cluster.token("erin")
    clients = [api(ingress, token) for ingress in hub_cluster.ingresses]
    jobs = [submit(clients[i % 2], 4) for i in range(6)]  # half through each ingress
    deadline = time.monotonic() + scaled(90)
    states: dict[str, str] = {}
    while len(states) < len(jobs) or any(s not in TERMINAL for s in states.values()):
        assert time.monotonic() < deadline, f"jobs did not end: {states}"
        time.sleep(0.2)
        states = {j: clients[0].get(f"/api/jobs/{j}").json()["status"] for j in jobs}
    assert set(states.values()) == {"completed"}, states
    nodes = [clients[1].get(f"/api/jobs/{j}/result").json()["node"] for j in jobs]
    everywhere = {hub_cluster.head_id, *(str(w.node_id) for w in hub_cluster.workers)}
    assert set(nodes) <= everywhere
    # Spread (Ray's SPREAD is best effort: not always all three); without it all would be on the
    # head, where the ingresses that start them run.
    assert len(set(nodes)) >= 2 and set(nodes) - {hub_cluster.head_id}, f"monitors ran on: {nodes}"
    for client in clients:
        client.close()
