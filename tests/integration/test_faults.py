"""Faults on real Ray: a job monitor killed (for good, and restarted), a registry shard killed, an
ingress killed.
(SIGTERM's drain is in test_readme_and_cli.)"""

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

from actors.names import job_actor_name, shard_name
from hub.client import HubClient
from hub.core.sharding import shard_of
from hub.server import LocalHub
from jobs import connect
from tests.conftest import scaled, until
from tests.integration.conftest import Api
from tests.integration.test_kinds import SlowParams, slow_kind


@pytest.fixture(scope="module")
def slow_registered(hub: LocalHub) -> None:
    nb = connect(hub.url, hub.token("fault-registrar"), namespace=hub.settings.namespace)
    nb.register_kind("slow_steps", slow_kind, SlowParams)
    nb.close()


def submit(api: Api, steps: int, delay: float = 0.05) -> str:
    reply = api.http.post("/api/jobs", json={"kind": "slow_steps", "params": {"steps": steps, "delay": delay}})
    assert reply.status_code == 202, reply.text
    return str(reply.json()["jobId"])


def test_killed_job_monitor_fails_the_job_within_seconds(hub: LocalHub, educator: Api, slow_registered: None) -> None:
    async def go() -> dict[str, Any]:
        client = HubClient(hub.url, educator.token)
        await client.start()
        job_id = await asyncio.to_thread(submit, educator, 2000)
        await until(lambda: client.jobs.get(job_id, {}).get("status") == "processing", 60, "processing")
        # no_restart: a monitor Ray may not bring back (restarts exhausted) is gone for good
        ray.kill(ray.get_actor(job_actor_name(job_id), namespace=hub.settings.namespace), no_restart=True)
        killed = time.monotonic()
        await until(lambda: client.jobs[job_id]["status"] != "processing", 15, "the job to end")
        took = time.monotonic() - killed
        await client.close()
        return {**client.jobs[job_id], "took": took}

    job = asyncio.run(go())
    assert job["status"] == "failed" and "monitor" in job["error"]
    assert job["took"] < scaled(5)
    assert educator.http.get(f"/api/jobs/{job['jobId']}").json()["status"] == "failed"


def test_restarted_job_monitor_runs_the_job_again_and_completes(
    hub: LocalHub, educator: Api, slow_registered: None
) -> None:
    """A monitor that Ray restarts (as when its node is lost) runs the job again from the start and
    says so, its progress going on from where the job was (PROTOCOL.md section 9: it never goes
    backwards); the shard's death watch waits on the restarted monitor instead of failing the job."""

    async def go() -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        client = HubClient(hub.url, educator.token)
        messages: list[dict[str, Any]] = []
        client.on("*", messages.append)
        await client.start()
        job_id = await asyncio.to_thread(submit, educator, 60, 0.05)  # about 3 s
        await until(lambda: client.jobs.get(job_id, {}).get("progress", 0) > 10, 60, "progress")
        ray.kill(ray.get_actor(job_actor_name(job_id), namespace=hub.settings.namespace), no_restart=False)
        await until(lambda: client.jobs[job_id]["status"] != "processing", 60, "the job to end")
        await client.close()
        return job_id, client.jobs[job_id], messages

    job_id, job, messages = asyncio.run(go())
    assert job["status"] == "completed", job
    mine = [m["data"] for m in messages if m["data"].get("jobId") == job_id]
    restarted = [i for i, d in enumerate(mine) if d["message"].startswith("Restarted")]
    assert restarted and "(attempt 2)" in mine[restarted[0]]["message"]
    assert mine[restarted[0]]["progress"] >= mine[restarted[0] - 1]["progress"]  # not from 0 again
    progress = [d["progress"] for d in mine]
    assert progress == sorted(progress)  # never backwards for the client, also across the restart
    state = educator.http.get(f"/api/jobs/{job_id}").json()
    assert state["status"] == "completed" and state["attempt"] == 2
    assert educator.http.get(f"/api/jobs/{job_id}/result").json() == {"steps": 60}


def test_killed_registry_shard_restarts_and_clients_resync(hub: LocalHub, educator: Api, slow_registered: None) -> None:
    educator_id = educator.educator_id
    index = shard_of(educator_id, hub.settings.shards)

    async def go() -> tuple[HubClient, list[dict[str, Any]], str, str]:
        client = HubClient(hub.url, educator.token, base_delay=0.1)
        welcomes: list[dict[str, Any]] = []
        client.on("welcome", welcomes.append)
        await client.start()
        job_id = await asyncio.to_thread(submit, educator, 120, 0.05)  # about 6 s
        await until(lambda: client.jobs.get(job_id, {}).get("progress", 0) > 5, 60, "progress")
        before = client.epoch
        ray.kill(ray.get_actor(shard_name(index), namespace=hub.settings.namespace), no_restart=False)
        await until(lambda: client.jobs[job_id]["status"] == "completed", 60, "completion after the restart")
        await client.close()
        return client, welcomes, job_id, before or ""

    client, welcomes, job_id, before = asyncio.run(go())
    assert len(welcomes) >= 2, "the ingress did not make the client re-sync"
    resync = welcomes[-1]
    assert resync["resumed"] is False and resync["epoch"] != before  # a new epoch: history was lost
    assert job_id in {j["jobId"] for j in resync["snapshot"]}  # re-announced or loaded from the store
    assert client.jobs[job_id]["status"] == "completed"
    assert educator.http.get(f"/api/jobs/{job_id}/result").json() == {"steps": 120}


def test_killed_ingress_clients_resume_on_another(
    hub: LocalHub, educator: Api, tmp_path: Path, slow_registered: None
) -> None:
    port = 19_000 + os.getpid() % 1000
    env = {
        **os.environ,
        "HUB_NAMESPACE": hub.settings.namespace,
        "HUB_SHARDS": str(hub.settings.shards),
        "HUB_SECRET": hub.secret,
    }
    other = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "hub"),
            "serve",
            "--address",
            ray.get_runtime_context().gcs_address,
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + scaled(60)
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and other.poll() is None, "second ingress did not start"
            time.sleep(0.2)

        async def go() -> tuple[HubClient, list[dict[str, Any]], list[int], str]:
            client = HubClient([url, hub.url], educator.token, base_delay=0.1)
            welcomes: list[dict[str, Any]] = []
            client.on("welcome", welcomes.append)
            seqs: list[int] = []
            client.on("*", lambda env: seqs.append(env["seq"]))
            await client.start()
            job_id = await asyncio.to_thread(submit, educator, 60, 0.05)
            await until(lambda: client.jobs.get(job_id, {}).get("progress", 0) > 10, 60, "progress")
            other.send_signal(signal.SIGKILL)
            await until(lambda: client.jobs[job_id]["status"] == "completed", 60, "completion elsewhere")
            await client.close()
            return client, welcomes, seqs, job_id

        client, welcomes, seqs, job_id = asyncio.run(go())
    finally:
        if other.poll() is None:
            other.kill()
        other.wait(timeout=30)
    assert len(welcomes) == 2 and welcomes[1]["resumed"] is True  # same stream, nothing lost
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # in order, none missed, none twice
    assert client.jobs[job_id]["status"] == "completed"
