"""The Python client against real servers: an ingress restart mid-job with an offline queue, the
long-poll fallback and its upgrade back, dead-connection detection, and the pytest plugin."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import serve

from hub.client import HubClient
from hub.server import LocalHub
from hub.settings import Settings
from jobs import connect
from tests.conftest import free_port, until
from tests.integration.conftest import DOCUMENT, SECRET, Api
from tests.integration.test_kinds import SlowParams, slow_kind


def test_ingress_restart_mid_job_resumes_and_sends_the_offline_queue(hub: LocalHub, tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        port=port, secret=SECRET, data_dir=tmp_path, namespace="hub-client-restart", shards=1, log_level="warning"
    )
    first = LocalHub(settings)
    token = first.token("restart-carol")
    nb = connect(first.url, token, namespace=settings.namespace)
    nb.register_kind("slow_steps", slow_kind, SlowParams)
    nb.close()
    api = Api(first, token)
    second: LocalHub | None = None

    async def go() -> tuple[HubClient, list[str], list[int], str, str]:
        nonlocal second
        client = HubClient(first.url, token, base_delay=0.1)
        states: list[str] = []
        seqs: list[int] = []
        client.on("state", lambda s: states.append(s["state"]))
        client.on("*", lambda env: seqs.append(env["seq"]))
        await client.start()
        keep = api.http.post("/api/jobs", json={"kind": "slow_steps", "params": {"steps": 80, "delay": 0.05}}).json()[
            "jobId"
        ]
        stop = api.http.post("/api/jobs", json={"kind": "slow_steps", "params": {"steps": 400, "delay": 0.05}}).json()[
            "jobId"
        ]
        await until(lambda: client.jobs.get(keep, {}).get("progress", 0) > 5, 60, "progress")
        await asyncio.to_thread(first.stop)  # the ingress goes; the jobs go on in Ray
        await until(lambda: client.state == "reconnecting", 10, "the client to notice")
        await client.cancel(stop)  # queued while offline
        second = await asyncio.to_thread(LocalHub, settings)  # a new ingress on the same port
        await until(lambda: client.jobs[keep]["status"] == "completed", 60, "completion")
        await until(lambda: client.jobs[stop]["status"] == "cancelled", 30, "the queued cancel")
        await client.close()
        return client, states, seqs, keep, stop

    try:
        client, states, seqs, keep, stop = asyncio.run(go())
    finally:
        if second is not None:
            second.stop()
    assert states[:2] == ["connecting", "connected"] and "reconnecting" in states
    assert states[-2:] == ["connected", "closed"]
    assert client.connects == 2
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # resumed: nothing missed or repeated


def test_long_poll_fallback_then_upgrade_back(hub: LocalHub, educator: Api) -> None:
    async def go() -> tuple[list[str], str]:
        client = HubClient(
            hub.url,
            educator.token,
            websocket_url=f"ws://127.0.0.1:{free_port()}/ws",
            base_delay=0.05,
            max_attempts=2,
            upgrade_retry=1.0,
        )
        states: list[str] = []
        client.on("state", lambda s: states.append(s["state"]))
        welcome = await client.start()
        assert welcome.get("polling") is True
        job_id = await asyncio.to_thread(educator.submit_quiz, DOCUMENT, 3)
        await until(lambda: client.jobs.get(job_id, {}).get("status") == "completed", 60, "completion by polling")
        assert client.state == "polling"
        client.websocket_url = None  # the WebSocket works again
        await until(lambda: client.state == "connected", 10, "the upgrade back to a WebSocket")
        await client.close()
        return states, job_id

    states, _ = asyncio.run(go())
    assert "polling" in states and states.index("polling") < states.index("connected")


def test_dead_connection_is_detected_by_heartbeat() -> None:
    async def silent(ws: Any) -> None:  # answers hello, then never says anything again
        await ws.recv()
        await ws.send(
            json.dumps(
                {
                    "op": "welcome",
                    "session": "s",
                    "educatorId": "x",
                    "epoch": "e",
                    "seq": 0,
                    "heartbeat": 0.2,
                    "resumed": False,
                    "snapshot": [],
                }
            )
        )
        await ws.wait_closed()  # never answers a ping

    async def go() -> int:
        async with serve(silent, "127.0.0.1", 0, ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            client = HubClient(f"http://127.0.0.1:{port}", "token", base_delay=0.05)
            await client.start()
            await until(lambda: client.connects >= 2, 10, "a reconnect after the silence")
            await client.close()
            return client.connects

    assert asyncio.run(go()) >= 2


def test_pytest_plugin_fixtures(hub_local: Any, hub_recorder: Any) -> None:
    recorder = hub_recorder("plugin-alice")
    api = Api(hub_local, hub_local.token("plugin-alice"))
    job_id = api.submit_quiz(n=2)
    done = recorder.wait_for(lambda e: e["data"].get("jobId") == job_id and e["data"]["status"] == "completed")
    assert done["type"] == "quiz_status" and recorder.job(job_id)["status"] == "completed"
    assert recorder.welcomes[0]["resumed"] is False
    assert "quiz_status" in recorder.types()
    with pytest.raises(TimeoutError):
        recorder.wait_for(lambda e: False, timeout=0.2)
