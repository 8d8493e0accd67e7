"""Helpers for the integration tests; the session's hub fixture is in tests/conftest.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect

from hub.server import LocalHub
from tests.conftest import DOCUMENT, SECRET, scaled  # noqa: F401 (re-exported for the tests here)


class Api:
    def __init__(self, hub: LocalHub, token: str) -> None:
        self.hub = hub
        self.token = token
        self.http = httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    @property
    def educator_id(self) -> str:
        """The token's subject."""
        return str(jwt.decode(self.token, options={"verify_signature": False})["sub"])

    def submit_quiz(self, text: str = DOCUMENT, n: int = 5, **extra: Any) -> str:
        reply = self.http.post(
            "/api/jobs", json={"kind": "quiz_generation", "params": {"text": text, "numQuestions": n, **extra}}
        )
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


async def messages_until(
    ws: ClientConnection, done: Callable[[dict[str, Any]], bool], timeout: float = 60.0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read batch frames until an envelope satisfies `done`; return (the envelopes up to and including
    that one, the frames). What its batch carried after it is left out: a batch may hold the next
    message too (the job's `analytics_update` right after its `completed`, under the feed's linger)."""
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
        for env in frame["messages"]:
            envelopes.append(env)
            if done(env):
                return envelopes, frames


def terminal(job_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["data"].get("jobId") == job_id and e["data"]["status"] in ("completed", "failed", "cancelled")
