"""A worker node removed while jobs run on warm job monitors (Settings.monitor_pool, actors.pool: the
cluster's ingresses run with the default pool): Ray restarts the lost warm monitors on the nodes
left, retries their `run_job` call there, and each runs its job again as its next attempt; jobs
elsewhere are untouched. The warm monitors are found by name before the jobs are submitted."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import ray

from tests.cluster.conftest import NAMESPACE, NODE_IN_MESSAGE, HubCluster, api, submit
from tests.conftest import scaled

pytestmark = pytest.mark.cluster

STEPS = 120  # 0.05 s each: about 6 s a run, long enough to be cut short by the removal


def warm_names() -> set[str]:
    """The job ids every job monitor actor in the namespace is named for (idle warm ones before any
    job is submitted)."""
    return {
        a["name"].removeprefix("hub-job-")
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == NAMESPACE and a["name"].startswith("hub-job-")
    }


def state_of(http: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job's state; {} while the hub does not answer (its shard is restarting)."""
    try:
        reply = http.get(f"/api/jobs/{job_id}")
    except httpx.HTTPError:
        return {}
    return reply.json() if reply.status_code == 200 else {}  # type: ignore[no-any-return]


def test_jobs_on_warm_monitors_of_a_lost_node_run_again_elsewhere(
    hub_cluster: HubCluster, where_registered: str
) -> None:
    token = hub_cluster.token("pool-loss")
    https = [api(ingress, token) for ingress in hub_cluster.ingresses]
    workers = {str(w.node_id) for w in hub_cluster.workers}
    node: dict[str, str] = {}  # job -> the node its monitor first ran on
    warm_jobs: set[str] = set()
    try:
        for _ in range(6):  # SPREAD is not round robin: rounds until a warm monitor's job runs on a worker
            deadline = time.monotonic() + scaled(60)
            while len(warm := warm_names() - set(node)) < 4:  # two warm monitors per ingress
                assert time.monotonic() < deadline, f"the ingresses' pools did not fill: {warm}"
                time.sleep(0.1)
            submitted = [submit(http, STEPS) for http in https for _ in range(2)]
            warm_jobs |= set(submitted) & warm
            deadline = time.monotonic() + scaled(60)
            for job_id in submitted:
                while not (found := NODE_IN_MESSAGE.search(state_of(https[0], job_id).get("message", ""))):
                    assert time.monotonic() < deadline, f"job {job_id} did not report its node"
                    time.sleep(0.05)
                node[job_id] = found.group(1)
            if {node[j] for j in warm_jobs} & workers:
                break
        assert warm_jobs, "no job started on a warm monitor"
        on_workers = [node[j] for j in warm_jobs if node[j] in workers]
        assert on_workers, f"no warm monitor's job on a worker node: {node}"
        victim_id = max(set(on_workers), key=on_workers.count)
        victim = next(w for w in hub_cluster.workers if str(w.node_id) == victim_id)
        hub_cluster.remove_worker(victim)
        removed_at = time.monotonic()
        final: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + scaled(90)
        while len(final) < len(node):
            assert time.monotonic() < deadline, f"jobs not ended: {set(node) - set(final)}"
            for job_id in set(node) - set(final):
                state = state_of(https[1], job_id)
                if state.get("status") in ("completed", "failed", "cancelled"):
                    final[job_id] = state
            time.sleep(0.1)
        took = time.monotonic() - removed_at
        lost = {j for j, n in node.items() if n == victim_id}
        print(
            f"{len(lost)} jobs lost with their node ({len(lost & warm_jobs)} on warm monitors), ended {took:.1f}s after"
        )
        assert lost & warm_jobs
        for job_id, state in final.items():
            result = https[1].get(f"/api/jobs/{job_id}/result").json()
            assert state["status"] == "completed" and result["steps"] == STEPS, (state, result)
            if job_id in lost:  # ran again, elsewhere, as its second attempt
                assert state["attempt"] == 2 and result["node"] != victim_id, (state, result)
            else:
                assert "attempt" not in state and result["node"] == node[job_id], (state, result)
        assert took < scaled(60)
    finally:
        for http in https:
            http.close()
        if len(hub_cluster.workers) < 2:
            hub_cluster.add_worker()  # three nodes again for whatever runs next
