"""Warm job monitors (Settings.monitor_pool, actors.pool) against the real hub: jobs start on monitors
started before them, the pool refills, cancel works, and no warm monitor outlives the ingress that
made it (stopped, or killed). The session hub runs with the default pool (2) unless HUB_MONITOR_POOL=0,
which skips the tests here that need one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray

from actors.cluster import Cluster
from actors.names import job_actor_name
from actors.pool import MonitorPool
from hub.server import LocalHub
from tests.conftest import free_port, scaled
from tests.integration.conftest import Api
from tests.integration.test_kinds import cancel_via_http, kinds_registered, run_job, statuses  # noqa: F401


def pool_of(hub: LocalHub) -> MonitorPool:
    pool = hub.app.state.cluster.pool
    if pool is None:
        pytest.skip("the session hub runs without warm monitors (HUB_MONITOR_POOL=0)")
    return pool  # type: ignore[no-any-return]


def ready_ids(pool: MonitorPool, count: int) -> set[str]:
    """The job ids of `count` ready warm monitors, once the pool has them."""
    deadline = time.monotonic() + scaled(60)
    while True:
        ready = pool.ready_job_ids()
        if len(ready) >= count:
            return set(ready)
        assert time.monotonic() < deadline, f"the pool has {len(ready)} ready warm monitors, not {count}"
        time.sleep(0.05)


def alive(name: str, namespace: str) -> bool:
    try:
        ray.get_actor(name, namespace=namespace)
        return True
    except ValueError:
        return False


def gone_within(names: list[str], namespace: str, seconds: float) -> list[str]:
    """The names still held by an actor after `seconds` (polled)."""
    deadline = time.monotonic() + seconds
    left = names
    while left and time.monotonic() < deadline:
        left = [n for n in left if alive(n, namespace)]
        time.sleep(0.1)
    return left


def wait_for_status(api: Api, job_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + scaled(60)
    while (state := api.http.get(f"/api/jobs/{job_id}").json())["status"] != status:
        assert time.monotonic() < deadline and state["status"] in ("queued", "processing"), state
        time.sleep(0.05)
    return state  # type: ignore[no-any-return]


def named_job_actors(namespace: str) -> set[str]:
    return {
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == namespace and a["name"].startswith("hub-job-")
    }


def test_jobs_start_on_warm_monitors_one_after_another_and_the_pool_refills(hub: LocalHub, educator: Api) -> None:
    pool = pool_of(hub)
    size = hub.settings.monitor_pool
    warm = ready_ids(pool, size)
    handed = pool.handed
    first = educator.submit_quiz(n=2)
    second = educator.submit_quiz(n=2)  # right after the first: the second warm monitor takes it
    assert first in warm and second in warm, (first, second, warm)
    assert pool.handed == handed + 2

    done = [wait_for_status(educator, job_id, "completed") for job_id in (first, second)]
    assert all(d.get("attempt") is None for d in done)  # a first run, not a restart
    # The pool is refilled with new warm monitors; the ones that ran a job exit after it.
    refilled = ready_ids(pool, size)
    assert not refilled & {first, second}
    assert gone_within([job_actor_name(first), job_actor_name(second)], hub.settings.namespace, scaled(10)) == []
    lines = httpx.get(hub.url + "/metrics").text.splitlines()
    exposed = dict(line.split(" ", 1) for line in lines if line.startswith("hub_monitor"))
    assert float(exposed["hub_monitor_pool_handed"]) == pool.handed >= handed + 2
    assert float(exposed["hub_monitor_pool_ready"]) == len(pool.ready_job_ids())


def test_a_job_on_a_warm_monitor_is_cancelled_while_processing(
    hub: LocalHub,
    educator: Api,
    kinds_registered: None,  # noqa: F811
) -> None:
    pool = pool_of(hub)
    warm = ready_ids(pool, 1)
    submitted: list[str] = []

    def cancel_when_processing(job_id: str) -> None:
        submitted.append(job_id)
        deadline = time.monotonic() + scaled(30)
        while educator.http.get(f"/api/jobs/{job_id}").json()["status"] != "processing":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cancel_via_http(educator, 0)(job_id)

    msgs = run_job(hub, educator, "slow_steps", {"steps": 400}, after_submit=cancel_when_processing)
    assert submitted[0] in warm
    assert statuses(msgs)[-1] == "cancelled"
    assert gone_within([job_actor_name(submitted[0])], hub.settings.namespace, scaled(10)) == []


def test_a_job_on_a_warm_monitor_cancelled_at_once_ends_cancelled_never_failed(
    hub: LocalHub,
    educator: Api,
    kinds_registered: None,  # noqa: F811
) -> None:
    """Cancel right after the 202, while the job is `queued` and its warm monitor may or may not have
    had the hand-over yet: the monitor is asked (Cluster.cancel_job: a warm one is not killed, which
    could race its `processing` and leave the shard to end the job `failed`, as
    test_kinds.test_cancel_while_queued once saw), and the job ends `cancelled` whichever comes first."""
    pool = pool_of(hub)
    for delay in (0.0, 0.05, 0.1):
        warm = ready_ids(pool, 1)
        reply = educator.http.post("/api/jobs", json={"kind": "slow_steps", "params": {"steps": 400}})
        job_id = reply.json()["jobId"]
        assert job_id in warm
        time.sleep(delay)
        cancel = educator.http.post(f"/api/jobs/{job_id}/cancel")
        assert cancel.status_code == 202, cancel.text
        assert wait_for_status(educator, job_id, "cancelled")["status"] == "cancelled"
        assert gone_within([job_actor_name(job_id)], hub.settings.namespace, scaled(10)) == []


def test_a_kind_asking_for_resources_starts_its_own_monitor(hub: LocalHub) -> None:
    pool = pool_of(hub)
    cluster: Cluster = hub.app.state.cluster
    warm = ready_ids(pool, 1)
    assert cluster.new_job_id({"num_gpus": 1}) not in warm  # warm monitors hold no GPU, no custom resource
    assert cluster.new_job_id({"custom": 1.0}) not in warm
    assert set(pool.ready_job_ids()) == warm  # none was reserved


def test_a_stopping_ingress_ends_its_warm_monitors(hub: LocalHub) -> None:
    namespace = hub.settings.namespace
    cluster = Cluster(hub.settings.shards or 2, namespace, pool=2, pool_lease=60.0)
    assert cluster.pool is not None
    names = [job_actor_name(j) for j in ready_ids(cluster.pool, 2)]
    assert all(alive(n, namespace) for n in names)
    asyncio.run(cluster.close())  # what the ingress's lifespan does at its end
    assert gone_within(names, namespace, scaled(10)) == []
    assert cluster.pool.idle_names() == []


def test_warm_monitors_of_a_killed_ingress_end_when_their_lease_lapses(hub: LocalHub, tmp_path: Path) -> None:
    namespace = hub.settings.namespace
    before = named_job_actors(namespace)
    lease = 3.0
    port = free_port()
    env = {
        **os.environ,
        "HUB_NAMESPACE": namespace,
        "HUB_SHARDS": str(hub.settings.shards),
        "HUB_SECRET": hub.secret,
        "HUB_MONITOR_POOL": "2",
        "HUB_MONITOR_POOL_LEASE": str(lease),
    }
    command = [str(Path(sys.executable).parent / "hub"), "serve", "--address", ray.get_runtime_context().gcs_address]
    command += ["--port", str(port), "--data-dir", str(tmp_path), "--log-level", "warning"]
    other = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + scaled(60)
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert other.poll() is None and time.monotonic() < deadline, "the second ingress did not start"
            time.sleep(0.2)
        deadline = time.monotonic() + scaled(30)
        while len(theirs := named_job_actors(namespace) - before - set(pool_names(hub))) < 2:
            assert time.monotonic() < deadline, f"the second ingress's pool did not fill: {theirs}"
            time.sleep(0.1)
        time.sleep(lease)  # alive past one lease: their ingress renews it
        assert all(alive(n, namespace) for n in theirs)
    finally:
        other.send_signal(signal.SIGKILL)  # no shutdown: nothing ends the pool but the lease
        other.wait(timeout=30)
    assert gone_within(sorted(theirs), namespace, lease + scaled(5)) == []


def pool_names(hub: LocalHub) -> list[str]:
    pool = hub.app.state.cluster.pool
    return [] if pool is None else pool.idle_names()
