"""A worker node removed mid-job: its job monitors restart on the nodes left and run their jobs
again, a registry shard it held restarts elsewhere (its clients get 1012 and resume), and every
client on both ingresses ends with every job's right final status."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from hub.client import HubClient
from hub.core.sharding import shard_of
from tests.cluster.conftest import NODE_IN_MESSAGE, SHARDS, HubCluster, api, submit
from tests.conftest import scaled, until

pytestmark = pytest.mark.cluster

TERMINAL = ("completed", "failed", "cancelled")
EDUCATORS = ("hal", "ray", "fay")  # one on each shard: whichever shard the lost node held had one
JOBS_EACH = 2
STEPS = 120  # 0.05 s each: about 6 s a run, long enough to be cut short by the removal


@dataclass
class Run:
    owner: dict[str, str] = field(default_factory=dict)  # job -> educator
    node: dict[str, str] = field(default_factory=dict)  # job -> the node its monitor first ran on
    said: dict[str, list[str]] = field(default_factory=dict)  # job -> its messages, in order
    finals: list[dict[str, str]] = field(default_factory=list)  # per client: job -> final status
    connects: dict[str, list[int]] = field(default_factory=dict)  # educator -> each client's welcomes
    victim: str = ""
    had_shard: list[int] = field(default_factory=list)  # the shards on the victim
    moved: list[int] = field(default_factory=list)  # the shards that restarted
    took: float = 0.0


def test_removing_a_worker_node_mid_job_restarts_its_monitors_elsewhere(
    hub_cluster: HubCluster, where_registered: str
) -> None:
    assert sorted(shard_of(e, SHARDS) for e in EDUCATORS) == list(range(SHARDS))
    tokens = {e: hub_cluster.token(e) for e in EDUCATORS}
    urls = [i.url for i in hub_cluster.ingresses]
    run = Run()

    def record(env: dict[str, Any]) -> None:
        if "jobId" in env["data"]:
            run.said.setdefault(env["data"]["jobId"], []).append(env["data"]["message"])

    async def go() -> None:
        # Every educator has a client on each ingress (listing the other one too, to fail over).
        clients = {(e, k): HubClient(urls[k:] + urls[:k], tokens[e], base_delay=0.1) for e in EDUCATORS for k in (0, 1)}
        for (_, k), client in clients.items():
            if k == 0:
                client.on("*", record)
        await asyncio.gather(*(c.start() for c in clients.values()))
        shards = await asyncio.to_thread(hub_cluster.shard_stats)
        workers = {str(w.node_id) for w in hub_cluster.workers}
        # The node to lose: a worker that holds a registry shard (Ray's SPREAD may have put none on
        # a worker), so that a shard and job monitors both restart elsewhere.
        candidates = {s["node"] for s in shards} & workers or workers
        https = [api(hub_cluster.ingresses[i % 2], tokens[e]) for i, e in enumerate(EDUCATORS)]

        seen: dict[str, str] = {}  # job -> the node it reported (kept: once finished, its message no longer says)

        def node_of(job_id: str) -> str | None:
            if job_id not in seen:
                message = clients[(run.owner[job_id], 0)].jobs.get(job_id, {}).get("message", "")
                found = NODE_IN_MESSAGE.search(message)
                if found:
                    seen[job_id] = found.group(1)
            return seen.get(job_id)

        async def start_jobs(educators: list[int]) -> None:
            for i in educators:
                run.owner[await asyncio.to_thread(submit, https[i], STEPS)] = EDUCATORS[i]
            await until(lambda: all(node_of(j) for j in run.owner), 60, "every job to report its node")

        await start_jobs([i for i in range(len(EDUCATORS)) for _ in range(JOBS_EACH)])
        for extra in range(8):  # SPREAD is not round robin: a few more until one runs on a candidate
            if candidates & {node_of(j) for j in run.owner}:
                break
            await start_jobs([extra % len(EDUCATORS)])
        for http in https:
            http.close()
        run.node = {j: node_of(j) or "" for j in run.owner}
        there = Counter(n for n in run.node.values() if n in candidates)
        assert there, f"no monitor on a worker node: {run.node}"
        run.victim = there.most_common(1)[0][0]
        run.had_shard = [k for k, s in enumerate(shards) if s["node"] == run.victim]
        victim = next(w for w in hub_cluster.workers if str(w.node_id) == run.victim)
        print(
            "shards on", [s["node"][:8] for s in shards], "monitors on", dict(Counter(n[:8] for n in run.node.values()))
        )
        await asyncio.to_thread(hub_cluster.remove_worker, victim)
        removed_at = time.monotonic()

        def ended(client: HubClient, educator: str) -> bool:
            return all(client.jobs.get(j, {}).get("status") in TERMINAL for j, e in run.owner.items() if e == educator)

        await until(lambda: all(ended(c, e) for (e, _), c in clients.items()), 90, "every client to see every end")
        run.took = time.monotonic() - removed_at
        after = await asyncio.to_thread(hub_cluster.shard_stats)
        run.moved = [k for k, (old, new) in enumerate(zip(shards, after, strict=True)) if old["epoch"] != new["epoch"]]
        assert all(s["node"] != run.victim for s in after)
        for (e, _), c in clients.items():
            run.finals.append({j: c.jobs[j]["status"] for j, owner in run.owner.items() if owner == e})
            run.connects.setdefault(e, []).append(c.connects)
            await c.close()

    try:
        asyncio.run(go())
    finally:
        if len(hub_cluster.workers) < 2:
            hub_cluster.add_worker()  # three nodes again for whatever runs next
    print(f"every client saw every job end {run.took:.1f}s after the node was removed; shards moved: {run.moved}")
    assert all(set(final.values()) == {"completed"} for final in run.finals), run.finals
    assert run.moved == run.had_shard  # the victim's shards restarted (elsewhere: checked above), no other
    lost = {j for j, n in run.node.items() if n == run.victim}
    assert lost
    for job_id, educator in run.owner.items():
        if shard_of(educator, SHARDS) not in run.moved:  # (a moved shard's clients got a snapshot instead)
            restarted = [m for m in run.said.get(job_id, []) if m.startswith("Restarted")]
            assert bool(restarted) == (job_id in lost), (job_id, run.said.get(job_id, [])[-5:])
        with api(hub_cluster.ingresses[1], tokens[educator]) as http:
            state = http.get(f"/api/jobs/{job_id}").json()
            result = http.get(f"/api/jobs/{job_id}/result").json()
        assert state["status"] == "completed" and result["steps"] == STEPS
        if job_id in lost:  # ran again, elsewhere
            assert state["attempt"] == 2 and result["node"] != run.victim, (state, result)
        else:
            assert "attempt" not in state and result["node"] == run.node[job_id]
    assert run.took < scaled(60)
    for educator in EDUCATORS:  # a shard that moved made its educators' clients re-sync (1012)
        if shard_of(educator, SHARDS) in run.moved:
            assert min(run.connects[educator]) >= 2, run.connects
