"""Values strict JSON cannot carry (PROTOCOL.md section 2), against the real hub: a bad client gets
an error frame and its connection goes on; other educators still get their messages; WebSocket and
long-poll carry the same safe value (never NaN); no 500s anywhere; random input never wedges."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import httpx
import pytest
import ray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from actors.names import shard_name
from hub.backend import Backend
from hub.core import strictjson
from hub.core.errors import InvalidParams
from hub.core.sharding import shard_of
from hub.server import LocalHub
from jobs import connect
from tests.conftest import scaled
from tests.integration.conftest import Api, messages_until, open_ws
from tests.strict_values import CONSTANTS, OVERFLOWS, SURROGATE_FRAMES, lenient_text, values

BAD_PINGS = [*SURROGATE_FRAMES, *(f'{{"op":"ping","id":{v}}}' for v in CONSTANTS + OVERFLOWS)]
BAD_VALUES = [*CONSTANTS, *OVERFLOWS, '"\\ud83d"', '{"\\udc00":1}']


def strict(text: str | bytes) -> Any:
    """Parse as a browser would have to: strict JSON in valid UTF-8 (raises otherwise)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    text.encode("utf-8")
    return strictjson.loads(text)


async def recv(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = strict(await asyncio.wait_for(ws.recv(), scaled(10)))
    return frame


async def until_op(ws: ClientConnection, op: str) -> dict[str, Any]:
    while True:
        frame = await recv(ws)
        if frame["op"] == op:
            return frame


def publish(hub: LocalHub, body: str) -> httpx.Response:
    service = Api(hub, hub.token("strict-service", role="service"))
    return service.http.post("/api/publish", content=body, headers={"content-type": "application/json"})


async def shard_publish(hub: LocalHub, educator_ids: list[str], data: dict[str, Any]) -> int:
    """Publish straight on the educator's registry shard actor, as code in the cluster can."""
    k = shard_of(educator_ids[0], hub.settings.shards)
    shard = ray.get_actor(shard_name(k), namespace=hub.settings.namespace)
    delivered: int = await shard.publish_message.remote(educator_ids, "analytics_update", data)
    return delivered


def test_bad_pings_get_bad_frame_the_socket_goes_on_and_others_still_get_theirs(hub: LocalHub) -> None:
    """Issue 13 A.1: `{"op":"ping","id":"\\ud83d"}` once killed the sender and wedged the socket."""
    bad, other = Api(hub, hub.token("strict-bad")), Api(hub, hub.token("strict-other"))

    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        ws_bad, _ = await open_ws(hub, {"token": bad.token})
        ws_other, _ = await open_ws(hub, {"token": other.token})
        errors = []
        for i, frame in enumerate(BAD_PINGS):
            await ws_bad.send(frame)
            errors.append(await until_op(ws_bad, "error"))
            await ws_bad.send(json.dumps({"op": "ping", "id": i}))
            assert await until_op(ws_bad, "pong") == {"op": "pong", "id": i}
            await asyncio.sleep(0.05)  # under the inbound rate limit
        body = {"type": "notification", "data": {"title": "for both"}, "educatorIds": ["strict-bad", "strict-other"]}
        assert (await asyncio.to_thread(publish, hub, json.dumps(body))).status_code == 202
        got_other, _ = await messages_until(ws_other, lambda e: e["data"].get("title") == "for both")
        got_bad, _ = await messages_until(ws_bad, lambda e: e["data"].get("title") == "for both")
        await ws_bad.close()
        await ws_other.close()
        assert got_bad[-1]["data"]["title"] == "for both"
        return errors, got_other

    errors, got_other = asyncio.run(go())
    assert [(e["code"], e["ref"]) for e in errors] == [("bad_frame", "ping")] * len(BAD_PINGS)
    assert errors[0]["message"] == "not strict JSON: id: lone surrogate in a string (not valid Unicode)"
    assert got_other[-1]["data"]["title"] == "for both"


@pytest.mark.parametrize(
    "frame",
    [
        '{"op":"hello","token":"\\ud83d"}',
        '{"op":"hello","token":"x","types":NaN}',
        '{"op":"' + "x" * 300 + '"}',  # quoted in the reason: cut to fit a close frame, not a failed close
    ],
)
def test_a_first_frame_that_is_not_strict_json_closes_4400(hub: LocalHub, frame: str) -> None:
    async def go() -> int | None:
        ws, _ = await open_ws(hub, None)
        await ws.send(frame)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), scaled(10))
        return ws.close_code

    assert asyncio.run(go()) == 4400


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_http_bodies_that_are_not_strict_json_get_422_never_500(hub: LocalHub, educator: Api, bad: str) -> None:
    """Issue 13 A.2 over HTTP: an analytics_update with NaN, Infinity, 1e999 or a lone surrogate."""
    body = f'{{"type":"analytics_update","data":{{"updates":{{"v":{bad}}}}},"educatorIds":["{educator.educator_id}"]}}'
    reply = publish(hub, body)
    assert reply.status_code == 422, reply.text
    assert strict(reply.content)["detail"][0]["ctx"]["error"].startswith("data.updates.v")
    job = f'{{"kind":"quiz_generation","params":{{"text":"Plants make sugar from light.","numQuestions":{bad}}}}}'
    reply = educator.http.post("/api/jobs", content=job, headers={"content-type": "application/json"})
    assert reply.status_code == 422, reply.text
    assert "params.numQuestions" in strict(reply.content)["detail"][0]["ctx"]["error"]
    assert educator.http.get("/api/jobs").json() == []  # nothing started, nothing recorded


def test_a_non_finite_publish_on_the_shard_reaches_websocket_and_long_poll_as_the_same_safe_bytes(
    hub: LocalHub,
) -> None:
    """Issue 13 A.2 through the shard: the WebSocket once carried a bare NaN, the long-poll null."""
    a, b = Api(hub, hub.token("strict-ws-a")), Api(hub, hub.token("strict-ws-b"))
    data = {"updates": {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "big": float("1e999"), "s": "\ud83d"}}
    safe = {"updates": {"nan": None, "inf": None, "ninf": None, "big": None, "s": "\ufffd"}}

    async def go() -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        ws_a, welcome = await open_ws(hub, {"token": a.token})
        ws_b, _ = await open_ws(hub, {"token": b.token})
        assert await shard_publish(hub, ["strict-ws-a"], data) == 1
        assert await shard_publish(hub, ["strict-ws-b"], data) == 1
        raw = await asyncio.wait_for(ws_a.recv(), scaled(10))
        got_b, _ = await messages_until(ws_b, lambda e: e["type"] == "analytics_update")
        await ws_a.close()
        await ws_b.close()
        return str(raw), welcome, got_b

    raw, welcome, got_b = asyncio.run(go())
    frame = strict(raw)
    assert frame["op"] == "batch" and frame["messages"][0]["data"] == safe
    assert got_b[-1]["data"] == safe
    poll = a.http.get("/api/events", params={"epoch": welcome["epoch"], "after": welcome["seq"], "timeout": 0})
    assert poll.status_code == 200
    envelope = raw[len('{"op":"batch","messages":[') : raw.rindex("]")]
    assert envelope in poll.text  # the same bytes on both transports
    assert strict(poll.content)["messages"][0]["data"] == safe
    assert "NaN" not in poll.text and "Infinity" not in poll.text and "NaN" not in raw
    # The shard made it safe where it entered (one copy for every transport), not the ingress.
    assert 'hub_values_made_safe_total{where="ingress"}' not in httpx.get(hub.url + "/metrics").text


def unsafe_kind(ctx: Any, params: Any) -> dict[str, Any]:
    ctx.progress(50, "half way \ud83d")
    time.sleep(0.3)  # past the monitor's coalescing: the tick goes out
    return {"score": math.nan, "best": math.inf, "worst": -math.inf, "label": "\udc00"}


def test_a_custom_kinds_non_finite_result_and_lone_surrogate_message_are_made_safe(
    hub: LocalHub, educator: Api
) -> None:
    nb = connect(hub.url, hub.token("strict-registrar"), namespace=hub.settings.namespace)
    nb.register_kind("unsafe_values", unsafe_kind)
    nb.close()

    async def go() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        ws, welcome = await open_ws(hub, {"token": educator.token})
        reply = await asyncio.to_thread(educator.http.post, "/api/jobs", json={"kind": "unsafe_values", "params": {}})
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["jobId"]
        got: list[dict[str, Any]] = []
        while not any(e["data"].get("status") in ("completed", "failed") for e in got):
            frame = strict(await asyncio.wait_for(ws.recv(), scaled(60)))  # every frame strict
            got += [e for e in frame.get("messages", []) if e["data"].get("jobId") == job_id]
        await ws.close()
        return got, welcome

    got, welcome = asyncio.run(go())
    assert got[-1]["data"]["status"] == "completed", got[-1]
    assert "half way \ufffd" in [e["data"]["message"] for e in got]
    job_id = got[0]["data"]["jobId"]
    result = educator.http.get(f"/api/jobs/{job_id}/result")
    assert result.status_code == 200
    assert strict(result.content) == {"score": None, "best": None, "worst": None, "label": "\ufffd"}
    poll = educator.http.get("/api/events", params={"epoch": welcome["epoch"], "after": welcome["seq"], "timeout": 0})
    assert poll.status_code == 200
    assert [e["data"] for e in strict(poll.content)["messages"] if e["data"].get("jobId") == job_id] == [
        e["data"] for e in got
    ]


def test_backend_publish_of_a_non_finite_value_is_refused(hub: LocalHub, educator: Api) -> None:
    backend = Backend.connect(namespace=hub.settings.namespace)
    with pytest.raises(InvalidParams) as info:
        asyncio.run(backend.publish("analytics_update", {"updates": {"v": math.nan}}, [educator.educator_id]))
    assert "NaN" in info.value.errors[0]["msg"]


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=values, ascii_only=st.booleans())
def test_property_generated_values_over_a_real_socket_never_wedge_anything(
    hub: LocalHub, value: Any, ascii_only: bool
) -> None:
    """A handful of generated values (lone surrogates, NaN, the infinities among them) in a ping, a
    cancel, a publish and job params; a watcher must still get its message and nothing answers 500."""
    sender, watcher = Api(hub, hub.token("strict-prop")), Api(hub, hub.token("strict-watch"))

    async def go() -> None:
        ws, _ = await open_ws(hub, {"token": sender.token})
        ws_watch, _ = await open_ws(hub, {"token": watcher.token})
        for op in ({"op": "ping", "id": value}, {"op": "cancel", "jobId": value}, {"op": value}):
            await ws.send(lenient_text(op, ascii_only))
            assert (await recv(ws))["op"] in ("pong", "error")
        bodies = [
            ("/api/publish", {"type": "analytics_update", "data": {"updates": {"v": value}}, "educatorIds": ["x"]}),
            ("/api/publish", {"type": "notification", "data": {"title": value}, "educatorIds": ["x"]}),
            ("/api/jobs", {"kind": "quiz_generation", "params": {"text": value, "numQuestions": 0}}),  # never runs
        ]
        service = Api(hub, hub.token("strict-prop-svc", role="service"))
        for path, body in bodies:
            api = sender if path == "/api/jobs" else service
            text = lenient_text(body, ascii_only)
            headers = {"content-type": "application/json"}
            reply = await asyncio.to_thread(api.http.post, path, content=text, headers=headers)
            assert reply.status_code in (202, 422, 429), reply.text
            strict(reply.content)
            if strictjson.problem(value) is not None:
                assert reply.status_code == 422
        await ws.send(json.dumps({"op": "ping", "id": "after"}))
        assert await until_op(ws, "pong") == {"op": "pong", "id": "after"}
        note = {"type": "notification", "data": {"title": "still here"}, "educatorIds": ["strict-watch"]}
        assert (await asyncio.to_thread(publish, hub, json.dumps(note))).status_code == 202
        await messages_until(ws_watch, lambda e: e["data"].get("title") == "still here")
        await ws.close()
        await ws_watch.close()

    asyncio.run(go())


def test_the_hub_is_healthy_and_no_relay_task_restarted(hub: LocalHub) -> None:
    health = httpx.get(hub.url + "/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = httpx.get(hub.url + "/metrics").text
    assert "hub_relay_restarts_total" in metrics
    assert 'hub_relay_restarts_total{shard="' not in metrics  # none counted
