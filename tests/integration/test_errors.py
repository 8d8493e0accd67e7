"""Bad input gets its close code, error frame or HTTP status, and harms nobody else."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed

from hub.server import LocalHub
from tests.conftest import scaled
from tests.integration.conftest import Api, messages_until, open_ws, terminal


async def close_code(hub: LocalHub, first: str | None, **kw: object) -> int:
    ws, _ = await open_ws(hub, None, **kw)
    with pytest.raises(ConnectionClosed):
        if first is not None:
            await ws.send(first)  # a refusal may come before the hello is even read
        while True:
            await asyncio.wait_for(ws.recv(), scaled(10))
    assert ws.close_code is not None
    return ws.close_code


@pytest.mark.parametrize(
    ("first", "code"),
    [
        ('{"op": "ping", "id": 1}', 4400),
        ("not json", 4400),
        ('{"op": "hello"}', 4400),
        ('{"op": "hello", "token": "forged.token.here"}', 4401),
        (None, 4408),
    ],
)
def test_handshake_close_codes(hub: LocalHub, first: str | None, code: int) -> None:
    assert asyncio.run(close_code(hub, first)) == code


def test_foreign_origin_is_refused(hub: LocalHub, educator: Api) -> None:
    hello = json.dumps({"op": "hello", "token": educator.token})
    assert asyncio.run(close_code(hub, hello, origin="https://evil.example")) == 4403  # type: ignore[arg-type]


def test_oversized_frame_closes_1009(hub: LocalHub, educator: Api) -> None:
    async def go() -> int:
        ws, _ = await open_ws(hub, {"token": educator.token})
        await ws.send(json.dumps({"op": "ping", "id": "x" * 70_000}))
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), scaled(10))
        return ws.close_code or 0

    assert asyncio.run(go()) == 1009


def test_bad_ops_after_hello_get_error_frames_and_the_connection_stays(hub: LocalHub, educator: Api) -> None:
    async def go() -> list[dict]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        frames = []
        for bad in [
            '{"op":"fly"}',
            '{"op":"subscribe","types":["nope"]}',
            "[]",
            json.dumps({"op": "hello", "token": educator.token}),
            '{"op":"cancel","jobId":"not-mine"}',
        ]:
            await ws.send(bad)
            frames.append(json.loads(await ws.recv()))
        await ws.send('{"op":"ping","id":1}')
        frames.append(json.loads(await ws.recv()))
        await ws.close()
        return frames

    frames = asyncio.run(go())
    assert [f["op"] for f in frames] == ["error"] * 5 + ["pong"]
    assert frames[0]["ref"] == "fly" and frames[3]["ref"] == "hello"
    assert frames[4]["code"] == "not_found"
    assert all(f["message"] for f in frames[:5])


def test_http_errors(hub: LocalHub, educator: Api) -> None:
    http = educator.http
    assert (
        http.post("/api/jobs", json={"kind": "quiz_generation", "params": {"numQuestions": 0, "text": "x"}}).status_code
        == 422
    )
    missing = http.post("/api/jobs", json={"kind": "quiz_generation", "params": {}})
    assert missing.status_code == 422 and "text" in json.dumps(missing.json()["detail"])
    unknown = http.post("/api/jobs", json={"kind": "nope", "params": {}})
    assert unknown.status_code == 422 and "unknown job kind" in json.dumps(unknown.json())
    assert http.get("/api/jobs/does-not-exist").status_code == 404
    anonymous = http.get("/api/jobs", headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.json()["detail"]
    assert http.get("/api/jobs", headers={"Authorization": "Bearer bad"}).status_code == 401
    service = http.post(
        "/api/jobs",
        json={"kind": "quiz_generation", "params": {"text": "x"}},
        headers={"Authorization": f"Bearer {hub.token('svc', role='service')}"},
    )
    assert service.status_code == 403


def test_result_before_completion_is_409(hub: LocalHub, educator: Api) -> None:
    job_id = educator.submit_quiz(n=2)
    early = educator.http.get(f"/api/jobs/{job_id}/result")
    assert early.status_code == 409
    assert any(s in early.json()["detail"] for s in ("queued", "processing"))


def test_health_and_metrics(hub: LocalHub) -> None:
    import httpx

    health = httpx.get(hub.url + "/healthz")
    assert health.status_code == 200 and health.json()["shards"] == 2
    metrics = httpx.get(hub.url + "/metrics").text
    assert "hub_connections " in metrics and "hub_delivery_latency_seconds_bucket" in metrics


def test_metrics_show_shards_jobs_by_status_and_deliveries_by_type(hub: LocalHub, educator: Api) -> None:
    import re

    async def go() -> str:
        ws, _ = await open_ws(hub, {"token": educator.token})
        job_id = await asyncio.to_thread(educator.submit_quiz, n=2)
        envelopes, _ = await messages_until(ws, terminal(job_id))
        await ws.close()
        assert envelopes[-1]["data"]["status"] == "completed"
        return (await asyncio.to_thread(educator.http.get, "/metrics")).text

    text = asyncio.run(go())
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples['hub_shard_up{shard="0"}'] == 1 and samples['hub_shard_up{shard="1"}'] == 1
    assert samples['hub_jobs{status="completed"}'] >= 1
    assert samples['hub_deliveries_total{type="quiz_status"}'] >= 3  # queued, processing..., completed
    assert sum(v for k, v in samples.items() if k.startswith("hub_shard_published_total")) >= 3
    assert all(re.fullmatch(r'hub_shard_feed_pending\{shard="\d"\}', k) for k in samples if "feed_pending{" in k)
