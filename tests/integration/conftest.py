"""One local Ray and one in-process hub (real uvicorn, real shards and job actors) per test run."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from hub.server import LocalHub
from hub.settings import Settings
from tests.conftest import scaled

SECRET = "integration-test-secret-0123456789abcdef"

DOCUMENT = (Path(__file__).parent.parent / "data" / "photosynthesis.txt").read_text()


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    settings = Settings(
        port=0, secret=SECRET, data_dir=tmp_path_factory.mktemp("hub-data"), namespace="hub-test",
        hello_timeout=scaled(1.5), shards=2, log_level="warning",
    )
    with LocalHub(settings) as local:
        yield local
    import ray

    ray.shutdown()


class Api:
    def __init__(self, hub: LocalHub, token: str) -> None:
        self.hub = hub
        self.token = token
        self.http = httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def submit_quiz(self, text: str = DOCUMENT, n: int = 5, **extra: Any) -> str:
        reply = self.http.post("/api/jobs", json={"kind": "quiz_generation",
                                                  "params": {"text": text, "numQuestions": n, **extra}})
        assert reply.status_code == 202, reply.text
        assert reply.json()["status"] == "queued"
        return reply.json()["jobId"]


@pytest.fixture
def educator(hub: LocalHub, request: pytest.FixtureRequest) -> Api:
    """A fresh educator per test, so streams don't mix between tests."""
    name = f"edu-{request.node.name[:40]}-{time.monotonic_ns() % 10**8}"
    return Api(hub, hub.token(name))


def ws_url(hub: LocalHub) -> str:
    return hub.url.replace("http://", "ws://") + "/ws"


async def open_ws(hub: LocalHub, hello: dict[str, Any] | None, **kw: Any) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(ws_url(hub), subprotocols=["hub.v1"], **kw)  # type: ignore[list-item]
    if hello is None:
        return ws, {}
    await ws.send(json.dumps({"op": "hello", **hello}))
    welcome = json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))
    return ws, welcome


async def messages_until(ws: ClientConnection, done: Callable[[dict[str, Any]], bool],
                         timeout: float = 60.0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read batch frames until an envelope satisfies `done`; return (envelopes, frames)."""
    envelopes: list[dict[str, Any]] = []
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + scaled(timeout)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; got {[(e['seq'], e['data'].get('status')) for e in envelopes]}")
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        frames.append(frame)
        if frame["op"] != "batch":
            continue
        envelopes.extend(frame["messages"])
        if any(done(e) for e in frame["messages"]):
            return envelopes, frames


def terminal(job_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["data"].get("jobId") == job_id and e["data"]["status"] in ("completed", "failed", "cancelled")
