"""Adapter tests: the ingress's adapters (the relay, the job desk, the WebSocket endpoint and the
HTTP API) driven through the real FastAPI app with Starlette's TestClient, against a FakeCluster
(tests/adapters/fakes.py) whose registry shards, job store and job monitors are the real plain
classes in this process. No Ray (ray.init raises here, as in tests/unit), no sockets, no uvicorn:
the whole folder runs in seconds in the default `pytest` session.

The layers: tests/unit (pure logic), tests/adapters (this: the ingress over in-process actors),
tests/integration and tests/browser (a real local Ray, a real server, Chromium), tests/cluster (a
multi-node Ray, its own session). Run this layer alone with `pytest tests/adapters`; it is part of
the default `pytest` session. Its test files' names are unique across tests/ (test_test_layout.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient, WebSocketTestSession

from tests.adapters.fakes import RECEIVE_TIMEOUT, FakeCluster, make_client
from tests.noray import refuse_ray


@pytest.fixture(autouse=True)
def _no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_ray(monkeypatch, "adapter")


@pytest.fixture(autouse=True)
def _receive_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame that never comes fails the test (TestClient's receive would wait for ever)."""

    def receive(self: WebSocketTestSession) -> Any:
        async def next_message() -> Any:
            with anyio.fail_after(RECEIVE_TIMEOUT):
                return await self._send_rx.receive()

        try:
            return self.portal.call(next_message)
        except TimeoutError:
            raise AssertionError(f"no frame from the server within {RECEIVE_TIMEOUT:g}s") from None

    monkeypatch.setattr(WebSocketTestSession, "receive", receive)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, FakeCluster]]:
    """The app (default adapter settings) over a two-shard FakeCluster, started (lifespan run)."""
    http, cluster = make_client(tmp_path)
    with http:
        yield http, cluster
