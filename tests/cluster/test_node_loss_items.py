"""A worker node removed mid-quiz (partial results: PROTOCOL.md section 9): the job's monitor, on that node,
restarts on another one and goes on from the questions it had finished: none of them is built again
(each question task run leaves a marker: tests/counted_quiz.py), every question reaches every client
once as an `item`, the quiz is whole and in order, and no client ever sees the job's progress fall."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from hub.client import HubClient
from hub.core.sharding import shard_of
from jobs import connect
from tests import counted_quiz
from tests.cluster.conftest import NAMESPACE, SHARDS, HubCluster, api
from tests.conftest import DOCUMENT, until

pytestmark = pytest.mark.cluster

QUESTIONS = 16
DELAY = 1.5  # seconds per question task: about 6 tasks at a time on the three nodes, so 3 rounds


def educator_on(shard: int) -> str:
    """An educator id whose stream is on registry shard `shard`."""
    return next(name for i in range(1000) if shard_of(name := f"items-{i}", SHARDS) == shard)


def test_a_node_lost_mid_quiz_keeps_its_finished_questions(hub_cluster: HubCluster, tmp_path: Path) -> None:
    shards = hub_cluster.shard_stats()
    # The educator's stream on a shard the removal leaves alone: its clients keep their stream, so every
    # message they get is one of the job's (a moved shard would send a snapshot). One on the head if
    # any; else one on a worker, and the job's monitor is placed on the other one (below).
    on_head = [k for k, s in enumerate(shards) if s["node"] == hub_cluster.head_id]
    shard = on_head[0] if on_head else 0
    avoid = None if on_head else shards[shard]["node"]  # the node the monitor must not be on
    educator = educator_on(shard)
    token = hub_cluster.token(educator)
    nb = connect(hub_cluster.ingresses[0].url, token, namespace=NAMESPACE)
    kind = counted_quiz.register(nb, resources={"worker": 1})  # its monitor on a worker node
    nb.close()
    markers = tmp_path
    urls = [i.url for i in hub_cluster.ingresses]
    seen: dict[int, list[dict[str, Any]]] = {0: [], 1: []}  # per client: quiz_status data, in order
    job: dict[str, Any] = {}

    async def go() -> tuple[set[int], str]:
        clients = [HubClient(urls[k:] + urls[:k], token, base_delay=0.1) for k in (0, 1)]
        for k, client in enumerate(clients):
            client.on("quiz_status", lambda env, k=k: seen[k].append(env["data"]))
        await asyncio.gather(*(c.start() for c in clients))
        nonlocal markers
        for attempt in range(8):  # SPREAD is not round robin: until the monitor is on a node not `avoid`
            markers = tmp_path / f"runs-{attempt}"
            markers.mkdir()
            params = {"text": DOCUMENT, "numQuestions": QUESTIONS, "markerDir": str(markers), "delay": DELAY}
            with api(hub_cluster.ingresses[0], token) as http:
                reply = await asyncio.to_thread(http.post, "/api/jobs", json={"kind": kind, "params": params})
                assert reply.status_code == 202, reply.text
                job["id"] = reply.json()["jobId"]
                await until(lambda m=markers: counted_quiz.monitor_nodes(m), 60, "the job's monitor to start")
                if counted_quiz.monitor_nodes(markers)[0] != avoid:
                    break
                await asyncio.to_thread(http.post, f"/api/jobs/{job['id']}/cancel")
        else:
            pytest.fail(f"every monitor was placed on {avoid}, the node of the educator's shard")

        def items_seen() -> list[dict[str, Any]]:
            return [d["item"] for d in seen[0] if "item" in d and d["jobId"] == job["id"]]

        await until(lambda: len(items_seen()) >= 2, 90, "two questions done")
        node = counted_quiz.monitor_nodes(markers)[0]
        victim = next(w for w in hub_cluster.workers if str(w.node_id) == node)
        kept = {i["index"] for i in items_seen()}
        assert len(kept) < QUESTIONS, "the quiz ended before its node could be removed"
        removed = time.monotonic()
        await asyncio.to_thread(hub_cluster.remove_worker, victim)

        def ended(client: HubClient) -> bool:
            return client.jobs.get(job["id"], {}).get("status") in ("completed", "failed", "cancelled")

        await until(lambda: all(ended(c) for c in clients), 120, "both clients to see the job end")
        print(f"the quiz ended {time.monotonic() - removed:.1f}s after its monitor's node was removed")
        for client in clients:
            await client.close()
        return kept, node

    try:
        kept, lost_node = asyncio.run(go())
    finally:
        if len(hub_cluster.workers) < 2:
            hub_cluster.add_worker()  # three nodes again for whatever runs next
    job_id = job["id"]
    with api(hub_cluster.ingresses[1], token) as http:
        state = http.get(f"/api/jobs/{job_id}").json()
        result = http.get(f"/api/jobs/{job_id}/result").json()
    assert state["status"] == "completed" and state["attempt"] == 2 and state["itemsDone"] == QUESTIONS, state
    monitors = counted_quiz.monitor_nodes(markers)
    assert len(monitors) == 2 and monitors[1] != lost_node, monitors  # restarted once, elsewhere
    runs = counted_quiz.runs(markers)
    assert set(runs) == set(range(QUESTIONS))
    assert all(runs[index] == 1 for index in kept), (kept, runs)  # finished questions: never built again
    print(f"kept {len(kept)} questions at the loss; question task runs: {sum(runs.values())} for {QUESTIONS}")
    for k, everything in seen.items():
        messages = [d for d in everything if d["jobId"] == job_id]
        items = [d["item"] for d in messages if "item" in d]
        assert sorted(i["index"] for i in items) == list(range(QUESTIONS)), (k, items)  # each once
        assert [i["value"] for i in sorted(items, key=lambda i: i["index"])] == result["questions"]
        progress = [d["progress"] for d in messages]
        assert progress == sorted(progress), (k, progress)  # never falls, also across the restart
        assert messages[-1]["status"] == "completed"
        assert any(d["message"].startswith("Restarted") for d in messages)
