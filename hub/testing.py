"""A pytest plugin for applications that use the hub: test your code against the real thing (an
in-process hub on a local Ray, a real WebSocket client) instead of mocking the WebSocket.

    def test_my_app_reports_progress(hub_local, hub_recorder):
        recorder = hub_recorder("alice")                     # connected, recording alice's stream
        my_app.start_quiz(hub_url=hub_local.url, token=hub_local.token("alice"))
        done = recorder.wait_for(lambda env: env["data"].get("status") == "completed")
        assert recorder.types() >= {"quiz_status"}

Enabled by installing the hub (entry point `pytest11`); the fixtures start nothing until used.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hub.client import HubClient, ThreadedClient


class RecordingClient:
    """A real hub client on its own thread that records every envelope it receives."""

    def __init__(self, url: str, token: str, **client_options: Any) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.welcomes: list[dict[str, Any]] = []
        self.states: list[str] = []
        self._changed = threading.Condition()
        self._runner = ThreadedClient(HubClient(url, token, **client_options), name="hub-recorder")
        self.client = self._runner.client
        self.client.on("*", self._record(self.envelopes))
        self.client.on("welcome", self._record(self.welcomes))
        self.client.on("state", lambda s: self._record(self.states)(s["state"]))
        self._runner.start()

    def _record(self, into: list[Any]) -> Callable[[Any], None]:
        def record(item: Any) -> None:
            with self._changed:
                into.append(item)
                self._changed.notify_all()

        return record

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60.0) -> dict[str, Any]:
        """The first recorded envelope (past or future) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for env in self.envelopes:
                    if predicate(env):
                        return env
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching message in {timeout}s; got {len(self.envelopes)}")
                self._changed.wait(left)

    def of_type(self, mtype: str) -> list[dict[str, Any]]:
        """The envelopes recorded so far whose `type` is `mtype`, in the order received."""
        return [e for e in self.envelopes if e["type"] == mtype]

    def types(self) -> set[str]:
        """The set of message types recorded so far."""
        return {e["type"] for e in self.envelopes}

    def job(self, job_id: str) -> dict[str, Any] | None:
        """The newest state of job `job_id` seen on the stream (snapshot entries merged with later messages'
        data), or None."""
        return self.client.jobs.get(job_id)

    def send(self, op: dict[str, Any]) -> None:
        """Send one op (a dict such as `{"op": "cancel", "jobId": ...}`) on the connection, or queue it
        while disconnected (HubClient.send)."""
        self._runner.call(self.client.send(op))

    def close(self) -> None:
        """Close the client and its thread."""
        self._runner.close()


@pytest.fixture(scope="session")
def hub_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An in-process hub (local Ray, shards, job store, uvicorn on a free port) for the session.
    Reuses a Ray already started in this process. `.url`, `.token(educator_id, role=...)`."""
    from hub.server import LocalHub
    from hub.settings import Settings

    settings = Settings(
        port=0,
        secret="hub-testing-secret-" + "0" * 24,
        namespace="hub-pytest",
        data_dir=tmp_path_factory.mktemp("hub-local"),
        shards=2,
        log_level="warning",
    )
    with LocalHub(settings) as local:
        yield local


@pytest.fixture
def hub_recorder(hub_local: Any) -> Iterator[Callable[..., RecordingClient]]:
    """Make recording clients: `hub_recorder("alice")` connects as alice and records her stream."""
    made: list[RecordingClient] = []

    def make(educator_id: str, **client_options: Any) -> RecordingClient:
        recorder = RecordingClient(hub_local.url, hub_local.token(educator_id), **client_options)
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.close()
