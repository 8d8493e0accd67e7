"""The browser client (/static/hub-client.js) with `protocol: "msgpack"` in Chromium against the real hub
(PROTOCOL.md section 8): the socket offers hub.v1.msgpack and the hub selects it, the page loads the
bundled codec (/static/hub-msgpack.js) only then, every frame both ways is binary MessagePack, a quiz
job's progress arrives through to completed, and a ping comes back as its pong. Without the option
the page speaks JSON on hub.v1 and never loads the codec."""

from __future__ import annotations

import time
from typing import Any

import msgpack

from hub.server import LocalHub
from tests.conftest import DOCUMENT, scaled

START = """async ([token, protocol]) => {
  const { HubClient } = await import("/static/hub-client.js");
  window.log = [];
  window.pongs = [];
  window.errors = [];
  const hub = new HubClient({ url: location.origin, token, ...(protocol ? { protocol } : {}) });
  window.hub = hub;
  hub.on("quiz_status", (e) => window.log.push({ seq: e.seq, ts: e.ts, ...e.data }));
  hub.on("pong", (f) => window.pongs.push(f.id));
  hub.on("error", (e) => window.errors.push([e.code, e.message]));
  const welcome = await hub.start();
  return { selected: hub._ws.protocol, protocol: hub.protocol, binaryType: hub._ws.binaryType,
    educatorId: welcome.educatorId, resumed: welcome.resumed };
}"""


class Frames:
    """Every WebSocket frame of the page, each way: (binary, payload)."""

    def __init__(self, page: Any) -> None:
        self.sent: list[tuple[bool, Any]] = []
        self.received: list[tuple[bool, Any]] = []
        page.on("websocket", self._socket)

    def _socket(self, ws: Any) -> None:
        ws.on("framesent", lambda payload: self.sent.append(self._read(payload)))
        ws.on("framereceived", lambda payload: self.received.append(self._read(payload)))

    @staticmethod
    def _read(payload: str | bytes) -> tuple[bool, Any]:
        if isinstance(payload, bytes):
            return True, msgpack.unpackb(payload, raw=False)
        return False, payload


def open_page(hub: LocalHub, page: Any, name: str, protocol: str | None) -> tuple[dict[str, Any], Frames, list[str]]:
    loaded: list[str] = []
    page.on("response", lambda r: loaded.append(f"{r.status} {r.url.removeprefix(hub.url)}"))
    frames = Frames(page)
    page.goto(hub.url + "/healthz")
    token = hub.token(f"{name}-{time.monotonic_ns() % 10**8}")
    return page.evaluate(START, [token, protocol]), frames, loaded


def test_msgpack_in_chromium_carries_a_job_to_completion_and_a_ping(hub: LocalHub, page: Any) -> None:
    ms = scaled(60) * 1000
    opened, frames, loaded = open_page(hub, page, "js-msgpack", "msgpack")
    assert opened["selected"] == "hub.v1.msgpack", opened
    assert opened["protocol"] == "msgpack" and opened["binaryType"] == "arraybuffer"
    assert opened["resumed"] is False
    assert "200 /static/hub-msgpack.js" in loaded, loaded

    job_id = page.evaluate(
        """async ([text]) => (await window.hub.submitJob("quiz_generation", { text, numQuestions: 3 })).jobId""",
        [DOCUMENT],
    )
    page.wait_for_function(
        "([id]) => window.log.some((e) => e.jobId === id && e.status === 'completed')", arg=[job_id], timeout=ms
    )
    log = [e for e in page.evaluate("window.log") if e["jobId"] == job_id]
    statuses = [e["status"] for e in log]
    assert statuses[0] == "queued" and statuses[-1] == "completed" and "processing" in statuses, statuses
    progress = [e["progress"] for e in log]
    assert progress == sorted(progress) and progress[-1] == 100, progress
    seqs = [e["seq"] for e in log]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(isinstance(e["ts"], float) for e in log)

    ping_id = {"n": 7, "text": "héllo ✓", "list": [1, 2.5, None, True]}
    page.evaluate("([id]) => window.hub.send({ op: 'ping', id })", [ping_id])
    page.wait_for_function("() => window.pongs.length > 0", timeout=scaled(10) * 1000)
    assert page.evaluate("window.pongs") == [ping_id]

    # every frame both ways was binary MessagePack: the hello, the ping; the welcome, the batches, the pong
    assert frames.sent and all(binary for binary, _ in frames.sent), frames.sent
    assert all(binary for binary, _ in frames.received)
    assert frames.sent[0][1]["op"] == "hello"
    assert {"op": "ping", "id": ping_id} in [frame for _, frame in frames.sent]
    ops = [frame["op"] for _, frame in frames.received]
    assert ops[0] == "welcome" and "batch" in ops and "pong" in ops
    assert page.evaluate("window.errors") == []
    assert page.evaluate("window.hub.state") == "connected"
    page.evaluate("window.hub.close()")


def test_json_by_default_in_chromium_without_loading_the_codec(hub: LocalHub, page: Any) -> None:
    opened, frames, loaded = open_page(hub, page, "js-json", None)
    assert opened["selected"] == "hub.v1" and opened["protocol"] == "json", opened
    page.evaluate("() => window.hub.send({ op: 'ping', id: 1 })")
    page.wait_for_function("() => window.pongs.length > 0", timeout=scaled(10) * 1000)
    assert frames.sent and not any(binary for binary, _ in frames.sent)
    assert not any(binary for binary, _ in frames.received)
    assert not [url for url in loaded if "hub-msgpack" in url], loaded
    page.evaluate("window.hub.close()")
