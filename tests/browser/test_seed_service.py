"""The seed web app's API of the browser client (clients/js/src/service.js, served at /static/) in
Chromium against the real hub: getWebSocketService() with its token from the app's token route,
one WebSocket shared by every subscriber, handler(data, envelope) up to `completed`, the job's
educatorId from the token; the sentence when the route gives no token; and long-polling with
NEXT_PUBLIC_ENABLE_WEBSOCKET=false. The app's token route is played by Playwright (page.route):
the app is not part of the hub; the tokens it answers are the hub's own."""

from __future__ import annotations

import json
from typing import Any

from hub.server import LocalHub
from tests.conftest import scaled

TEXT = "Plants make sugar from light. Chlorophyll absorbs red and blue light. Oxygen is released."

SUBSCRIBE_AND_SUBMIT = """async ([text]) => {
  const { getWebSocketService } = await import("/static/hub-client.js");
  const { getWebSocketService: fromService } = await import("/static/service.js");
  const hub = getWebSocketService();
  window.hub = hub;
  window.got = { a: [], b: [] };
  hub.subscribe("quiz_status", (data, env) => window.got.a.push([data.jobId, data.status, data.progress, env.seq]));
  fromService().subscribe("quiz_status", (data) => window.got.b.push(data.status));
  await hub.connect();
  window.connectedAfterConnect = hub.isConnected;
  window.stateAfterConnect = hub.state;
  const { jobId } = await hub.client.submitJob("quiz_generation", { text, numQuestions: 2 });
  return { jobId, same: fromService() === hub };
}"""


def serve_token(page: Any, answer: dict[str, Any], status: int = 200) -> list[str]:
    """Answer GET /api/hub-token on the page's origin with `answer`; returns the list of requests."""
    asked: list[str] = []

    def handle(route: Any) -> None:
        asked.append(route.request.url)
        route.fulfill(status=status, content_type="application/json", body=json.dumps(answer))

    page.route("**/api/hub-token", handle)
    return asked


def test_one_shared_connection_with_the_token_from_the_token_route_carries_a_job_to_completed(
    hub: LocalHub, page: Any
) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    asked = serve_token(page, {"token": hub.token("seed-ann")})
    page.goto(hub.url + "/healthz")
    out = page.evaluate(SUBSCRIBE_AND_SUBMIT, [TEXT])
    assert out["same"], "hub-client.js and service.js give the same page service"
    assert page.evaluate("() => [window.connectedAfterConnect, window.stateAfterConnect]") == [True, "connected"]
    page.wait_for_function("() => window.got.b.includes('completed')", timeout=scaled(60) * 1000)
    got = page.evaluate("() => window.got")
    assert all(job == out["jobId"] for job, *_ in got["a"])
    statuses = [status for _, status, _, _ in got["a"]]
    assert statuses[0] == "queued" and statuses[-1] == "completed" and got["b"] == statuses
    seqs = [seq for *_, seq in got["a"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "envelopes in order, each once"
    assert len(sockets) == 1 and sockets[0].endswith("/ws"), sockets
    assert asked == [hub.url + "/api/hub-token"], "one token request: the token is reused"
    job = page.evaluate("(id) => window.hub.client.getJob(id)", out["jobId"])
    assert job["educatorId"] == "seed-ann", "the job's educatorId is the token's sub"
    page.evaluate("() => window.hub.disconnect()")
    assert page.evaluate("() => [window.hub.isConnected, window.hub.state, window.hub.client]") == [False, "idle", None]


def test_no_token_from_the_route_rejects_connect_with_a_sentence_and_opens_no_socket(hub: LocalHub, page: Any) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    serve_token(page, {"detail": "sign in first"}, status=401)
    page.goto(hub.url + "/healthz")
    message = page.evaluate(
        """async () => {
          const { getWebSocketService } = await import("/static/hub-client.js");
          return getWebSocketService().connect().then(() => "connected", (err) => err.message);
        }"""
    )
    assert message.startswith("could not get a hub token from /api/hub-token: HTTP 401"), message
    assert "configureWebSocketService({ token })" in message and "NEXT_PUBLIC_HUB_TOKEN_URL" in message
    assert sockets == []


def test_next_public_enable_websocket_false_long_polls_and_still_delivers(hub: LocalHub, page: Any) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    serve_token(page, {"token": hub.token("seed-bea")})
    page.goto(hub.url + "/healthz")
    page.evaluate("() => { window.NEXT_PUBLIC_ENABLE_WEBSOCKET = 'false'; }")
    out = page.evaluate(SUBSCRIBE_AND_SUBMIT, [TEXT])
    assert page.evaluate("() => [window.connectedAfterConnect, window.stateAfterConnect]") == [False, "polling"]
    page.wait_for_function("() => window.got.b.includes('completed')", timeout=scaled(60) * 1000)
    assert page.evaluate("(id) => window.got.a.length > 1 && window.got.a.every(([job]) => job === id)", out["jobId"])
    assert sockets == [], "no WebSocket with NEXT_PUBLIC_ENABLE_WEBSOCKET=false"
