"""Why a job waits (PROTOCOL.md section 9) against the session hub on its one-node local Ray: a job
whose monitor asks for a resource no node has stays `queued` with `waiting` naming it; a job whose
monitor runs but whose Ray task asks for it is `processing` with `waiting`; both cancel as before.
And the private Ray APIs actors.raystate reads, so that a Ray upgrade that changes them fails here."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
import ray
from pydantic import BaseModel

from actors import raystate
from hub.server import LocalHub
from jobs import connect
from tests.conftest import scaled
from tests.integration.conftest import Api, messages_until, open_ws, terminal

MISSING = "some_custom_resource"  # no node of the test cluster has it


class NoParams(BaseModel):
    pass


def never_runs(ctx: Any, params: NoParams) -> dict[str, Any]:
    return {}


@ray.remote(num_cpus=0, resources={MISSING: 1})
def needs_missing() -> int:
    return 1


async def waits_on_a_task(ctx: Any, params: NoParams) -> dict[str, Any]:
    ctx.progress(5, "Asking Ray for a task")
    return {"got": await ctx.track(needs_missing.remote())}


class CrowdParams(BaseModel):
    tasks: int
    seconds: float


@ray.remote(num_cpus=1)
def holds_a_cpu(seconds: float) -> int:
    time.sleep(seconds)
    return 1


async def crowds_the_cpus(ctx: Any, params: CrowdParams) -> dict[str, Any]:
    ctx.progress(5, f"Running {params.tasks} tasks")
    refs = [ctx.track(holds_a_cpu.remote(params.seconds)) for _ in range(params.tasks)]
    return {"done": sum(await asyncio.gather(*refs))}


@pytest.fixture(scope="module")
def waiting_kinds(hub: LocalHub) -> None:
    nb = connect(hub.url, hub.token("waiting-registrar"), namespace=hub.settings.namespace)
    nb.register_kind("needs_missing_monitor", never_runs, NoParams, resources={MISSING: 1})
    nb.register_kind("needs_missing_task", waits_on_a_task, NoParams)
    nb.register_kind("crowds_the_cpus", crowds_the_cpus, CrowdParams)
    nb.close()


def test_ray_state_apis(hub: LocalHub) -> None:
    """The Ray 2.60 private APIs of actors.raystate: the GCS actor table (PENDING_CREATION, required
    resources), the GCS resource state (nodes, pending requests) and the GCS task events."""

    @ray.remote(num_cpus=0, resources={MISSING: 1})
    class Unplaceable:
        def ping(self) -> int:
            return 1

    from ray.core.generated import autoscaler_pb2, common_pb2

    assert common_pb2.TaskStatus.Value("PENDING_NODE_ASSIGNMENT") == raystate.PENDING_NODE_ASSIGNMENT
    live = {autoscaler_pb2.NodeStatus.Value("RUNNING"), autoscaler_pb2.NodeStatus.Value("IDLE")}
    assert live == raystate.LIVE_NODE_STATUSES
    name = f"raystate-probe-{time.monotonic_ns()}"
    actor = Unplaceable.options(name=name, namespace=hub.settings.namespace).remote()  # type: ignore[attr-defined]
    ref = needs_missing.remote()
    try:
        assert raystate.pending_actor(name, hub.settings.namespace) == {MISSING: 1.0}
        assert raystate.pending_actor("no-such-actor", hub.settings.namespace) == "absent"
        assert raystate.pending_actor(hub_shard_name(), hub.settings.namespace) == "placed"  # alive
        deadline = time.monotonic() + scaled(15)
        while True:
            nodes, pending = raystate.cluster_nodes()
            tasks = raystate.pending_tasks([raystate.task_id_of(ref) or b""])
            if (pending and tasks) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(nodes) == 1 and nodes[0].total.get("CPU", 0) >= 1 and MISSING not in nodes[0].total
        assert pending, "Ray's resource state shows no pending request"
        assert len(tasks) == 1 and tasks[0].asks == {MISSING: 1.0} and tasks[0].tasks == 1, tasks
        assert abs(tasks[0].since - time.time()) < scaled(60)
    finally:
        ray.cancel(ref, force=True)
        ray.kill(actor)


def hub_shard_name() -> str:
    from actors.names import shard_name

    return shard_name(0)


def wait_then_cancel(hub: LocalHub, educator: Api, kind: str) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """Submit a job of `kind` (no params), wait for a message of it carrying `waiting`, read its state,
    cancel it and wait for its end: (job id, its messages' data in order, the state GET gave then)."""

    async def go() -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        try:
            reply = await asyncio.to_thread(educator.http.post, "/api/jobs", json={"kind": kind, "params": {}})
            job_id = reply.json()["jobId"]
            envelopes, _ = await messages_until(
                ws, lambda e: e["data"].get("jobId") == job_id and "waiting" in e["data"], timeout=30
            )
            got = (await asyncio.to_thread(educator.http.get, f"/api/jobs/{job_id}")).json()
            cancel = await asyncio.to_thread(educator.http.post, f"/api/jobs/{job_id}/cancel")
            assert cancel.status_code == 202, cancel.text
            ended, _ = await messages_until(ws, terminal(job_id), timeout=30)
            return job_id, [e["data"] for e in envelopes + ended if e["data"].get("jobId") == job_id], got
        finally:
            await ws.close()

    return asyncio.run(go())


def test_a_job_whose_monitor_cannot_be_placed_stays_queued_saying_why(
    hub: LocalHub, educator: Api, waiting_kinds: None
) -> None:
    job_id, msgs, got = wait_then_cancel(hub, educator, "needs_missing_monitor")
    first = msgs[0]
    assert first["status"] == "queued" and "waiting" not in first  # nothing known yet at submission
    waiting = next(m for m in msgs if "waiting" in m)
    assert waiting["status"] == "queued"
    assert waiting["waiting"]["reason"] == f"waiting for 1 {MISSING}: the cluster's one node has none"
    assert got["status"] == "queued" and got["waiting"] == waiting["waiting"]
    assert got["waiting"]["since"] == got["createdAt"]  # its monitor was asked of Ray at submission
    assert msgs[-1]["status"] == "cancelled" and "waiting" not in msgs[-1]
    after = educator.http.get(f"/api/jobs/{job_id}").json()
    assert after["status"] == "cancelled" and "waiting" not in after


def test_a_job_whose_task_cannot_be_placed_is_processing_saying_why(
    hub: LocalHub, educator: Api, waiting_kinds: None
) -> None:
    job_id, msgs, got = wait_then_cancel(hub, educator, "needs_missing_task")
    started = next(m for m in msgs if m["status"] == "processing")
    assert "waiting" not in started  # the monitor's first `processing` carries no stale waiting
    waiting = next(m for m in msgs if "waiting" in m)
    assert waiting["status"] == "processing"
    assert waiting["waiting"]["reason"] == f"1 task waiting for 1 {MISSING}: the cluster's one node has none"
    assert got["status"] == "processing" and got["waiting"]["reason"] == waiting["waiting"]["reason"]
    assert got["createdAt"] <= got["waiting"]["since"] <= time.time()  # when Ray began to wait for a node
    assert msgs[-1]["status"] == "cancelled" and "waiting" not in msgs[-1]
    assert "waiting" not in educator.http.get(f"/api/jobs/{job_id}").json()


def test_a_restarted_shard_reads_again_why_a_queued_job_waits(
    hub: LocalHub, educator: Api, waiting_kinds: None
) -> None:
    """A queued job's `waiting` lives in its shard, read from Ray: a shard that restarts (and loses it)
    reads it again for the queued jobs it loads from the store, and the Python client, re-synced,
    carries it again."""
    from actors.names import shard_name
    from hub.client import HubClient
    from hub.core.sharding import shard_of
    from tests.conftest import until

    index = shard_of(educator.educator_id, hub.settings.shards)

    async def go() -> tuple[str, dict[str, Any], str]:
        client = HubClient(hub.url, educator.token, base_delay=0.1)
        await client.start()
        try:
            reply = await asyncio.to_thread(
                educator.http.post, "/api/jobs", json={"kind": "needs_missing_monitor", "params": {}}
            )
            job_id = reply.json()["jobId"]
            await until(lambda: "waiting" in client.jobs.get(job_id, {}), 30, "waiting")
            before = client.epoch or ""
            ray.kill(ray.get_actor(shard_name(index), namespace=hub.settings.namespace), no_restart=False)
            await until(lambda: client.epoch not in (None, before), 60, "a re-sync with the restarted shard")
            await until(lambda: "waiting" in client.jobs.get(job_id, {}), 30, "waiting read again")
            again = dict(client.jobs[job_id])
            cancel = await asyncio.to_thread(educator.http.post, f"/api/jobs/{job_id}/cancel")
            assert cancel.status_code == 202, cancel.text
            await until(lambda: client.jobs[job_id]["status"] == "cancelled", 30, "the cancel")
            assert "waiting" not in client.jobs[job_id]
            return job_id, again, before
        finally:
            await client.close()

    job_id, again, _ = asyncio.run(go())
    assert again["status"] == "queued"
    assert again["waiting"]["reason"] == f"waiting for 1 {MISSING}: the cluster's one node has none"
    assert again["waiting"]["since"] == again["createdAt"]


def test_more_tasks_than_cpus_wait_for_a_free_one_and_the_wait_goes_once_they_run(
    hub: LocalHub, educator: Api, waiting_kinds: None
) -> None:
    """A job with more CPU tasks than the cluster has CPUs: the ones Ray holds back make it say so
    ("none free", the node has CPUs), and once they run, while the job still runs, it no longer does."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    seconds = scaled(1) + hub.settings.waiting_grace + 2 * hub.settings.waiting_interval

    async def go() -> list[dict[str, Any]]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        try:
            body = {"kind": "crowds_the_cpus", "params": {"tasks": cpus + 1, "seconds": seconds}}
            reply = await asyncio.to_thread(educator.http.post, "/api/jobs", json=body)
            job_id = reply.json()["jobId"]
            envelopes, _ = await messages_until(ws, terminal(job_id), timeout=120)
            return [e["data"] for e in envelopes if e["data"].get("jobId") == job_id]
        finally:
            await ws.close()

    msgs = asyncio.run(go())
    assert msgs[-1]["status"] == "completed" and "waiting" not in msgs[-1]
    waits = [i for i, m in enumerate(msgs) if "waiting" in m]
    assert waits, [m.get("message") for m in msgs]
    reason = msgs[waits[0]]["waiting"]["reason"]
    assert re.fullmatch(r"\d+ tasks? waiting for 1 CPU( each)?: none free on the cluster's one node", reason), reason
    assert all(msgs[i]["status"] == "processing" for i in waits)
    cleared = [m for m in msgs[waits[-1] + 1 :] if m["status"] == "processing"]
    assert cleared and "waiting" not in cleared[0]  # gone while the job still ran
