"""Why a job waits (PROTOCOL.md section 9) on a three-node cluster with two ingresses: a job that asks
for a resource no node has carries `waiting` naming it (each ingress shows the same), then a node
with that resource joins (ray.cluster_utils) and the job runs and completes with `waiting` gone.
Once for a job whose monitor asks for it (it stays `queued`), once for a job whose Ray task does
(its monitor runs: `processing`)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
import ray

from jobs.kinds import Params
from tests.cluster.conftest import NAMESPACE, HubCluster, api
from tests.conftest import scaled

MONITOR_RESOURCE = "waiting_test_monitor"  # no node has these until the tests add one
TASK_RESOURCE = "waiting_test_task"


class NoParams(Params):
    pass


def done_at_once(ctx: Any, params: NoParams) -> dict[str, Any]:
    return {"node": ray.get_runtime_context().get_node_id()}


@ray.remote(num_cpus=0, resources={TASK_RESOURCE: 1})
def on_the_new_node() -> str:
    return str(ray.get_runtime_context().get_node_id())


async def runs_a_task(ctx: Any, params: NoParams) -> dict[str, Any]:
    ctx.progress(5, "Asking Ray for a task")
    return {"node": await ctx.track(on_the_new_node.remote())}


@pytest.fixture(scope="module")
def waiting_kinds(hub_cluster: HubCluster) -> None:
    from jobs import connect

    nb = connect(hub_cluster.ingresses[0].url, hub_cluster.token("waiting-registrar"), namespace=NAMESPACE)
    nb.register_kind("monitor_waits", done_at_once, NoParams, resources={MONITOR_RESOURCE: 1})
    nb.register_kind("task_waits", runs_a_task, NoParams)
    nb.close()


def poll(http: httpx.Client, job_id: str, until: Any, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + scaled(timeout)
    while True:
        state = http.get(f"/api/jobs/{job_id}").json()
        if until(state):
            return state
        assert time.monotonic() < deadline, f"timed out at {state}"
        time.sleep(0.2)


def waits_then_runs(hub_cluster: HubCluster, kind: str, resource: str, status: str, who: str) -> None:
    token = hub_cluster.token(f"waiter-{kind}-{time.monotonic_ns() % 10**8}")
    a, b = (api(ingress, token) for ingress in hub_cluster.ingresses)
    reply = a.post("/api/jobs", json={"kind": kind, "params": {}})
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["jobId"]
    seen = poll(a, job_id, lambda s: "waiting" in s)
    assert seen["status"] == status
    nodes = len([n for n in ray.nodes() if n["Alive"]])
    assert re.fullmatch(
        rf"{who}waiting for 1 {resource}: no node of the cluster's {nodes} has one", seen["waiting"]["reason"]
    ), seen
    other = b.get(f"/api/jobs/{job_id}").json()  # the other ingress reads the same from the shard
    assert other["waiting"] == seen["waiting"]
    node = hub_cluster.cluster.add_node(num_cpus=1, resources={resource: 1})
    try:
        done = poll(a, job_id, lambda s: s["status"] in ("completed", "failed", "cancelled"))
        assert done["status"] == "completed", done
        assert "waiting" not in done and "waiting" not in b.get(f"/api/jobs/{job_id}").json()
        assert a.get(f"/api/jobs/{job_id}/result").json()["node"] == node.node_id  # it ran on the new node
    finally:
        hub_cluster.cluster.remove_node(node)


def test_a_queued_monitor_waits_for_a_node_with_its_resource_then_runs(
    hub_cluster: HubCluster, waiting_kinds: None
) -> None:
    waits_then_runs(hub_cluster, "monitor_waits", MONITOR_RESOURCE, "queued", "")


def test_a_processing_job_waits_for_a_node_for_its_task_then_runs(hub_cluster: HubCluster, waiting_kinds: None) -> None:
    waits_then_runs(hub_cluster, "task_waits", TASK_RESOURCE, "processing", "1 task ")
