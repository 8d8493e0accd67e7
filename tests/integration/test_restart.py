"""The job store across a restart: every actor of a hub is ended (as when `hub serve` stops and
its Ray goes with it) and a new hub starts on the same data dir."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import ray

from actors.names import STORE_NAME, job_actor_name, shard_name
from actors.store import STOPPED_REASON
from hub.server import LocalHub
from hub.settings import Settings
from jobs import connect
from tests.conftest import scaled
from tests.integration.conftest import DOCUMENT, SECRET, open_ws
from tests.integration.test_kinds import SlowParams, slow_kind


def kill_everything(namespace: str, shards: int, job_ids: list[str]) -> None:
    for name in [STORE_NAME, *(shard_name(k) for k in range(shards)), *map(job_actor_name, job_ids)]:
        try:
            ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
        except ValueError:
            pass  # a finished job's actor is already gone
    deadline = time.monotonic() + scaled(20)
    while time.monotonic() < deadline:  # names are freed once the actors are dead
        try:
            ray.get_actor(STORE_NAME, namespace=namespace)
            time.sleep(0.1)
        except ValueError:
            return


def test_finished_jobs_survive_a_restart_and_running_ones_fail_with_a_reason(hub: LocalHub, tmp_path: Path) -> None:
    settings = Settings(
        port=0, secret=SECRET, data_dir=tmp_path, namespace="hub-restart", shards=2, log_level="warning"
    )
    first = LocalHub(settings)
    token = first.token("restart-alice")
    nb = connect(first.url, token, namespace=settings.namespace)
    nb.register_kind("slow_steps", slow_kind, SlowParams)
    done = nb.submit_quiz(DOCUMENT, num_questions=3)
    done.wait(timeout=scaled(60))
    running = nb.submit("slow_steps", steps=2000, delay=0.05)
    deadline = time.monotonic() + scaled(60)
    while (nb.latest(running.id) or {}).get("status") != "processing":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    nb.close()
    first.stop()
    kill_everything(settings.namespace, settings.shards, [done.id, running.id])
    assert (tmp_path / "jobs.db").exists()

    second = LocalHub(settings)
    try:
        http = httpx.Client(base_url=second.url, headers={"Authorization": f"Bearer {token}"})
        listed = {j["jobId"]: j for j in http.get("/api/jobs").json()}
        assert listed[done.id]["status"] == "completed"
        assert listed[running.id]["status"] == "failed" and listed[running.id]["error"] == STOPPED_REASON
        assert http.get(f"/api/jobs/{running.id}").json()["status"] == "failed"
        assert len(http.get(f"/api/jobs/{done.id}/result").json()["questions"]) == 3

        async def snapshot() -> list[dict]:
            ws, welcome = await open_ws(second, {"token": token})
            await ws.close()
            return welcome["snapshot"]

        snap = {j["jobId"]: j["status"] for j in asyncio.run(snapshot())}
        assert snap == {done.id: "completed", running.id: "failed"}
    finally:
        second.stop()
        kill_everything(settings.namespace, settings.shards, [])
