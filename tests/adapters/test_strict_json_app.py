"""Strict JSON at the ingress's edges (adapter tests): the real FastAPI app over Starlette's
TestClient, with plain RegistryShards and a JobStore standing in for their Ray actors
(tests/adapters/fakes.py). No Ray."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hub.auth import Identity
from hub.core import strictjson
from hub.core.errors import InvalidParams
from hub.core.records import FeedBatch
from hub.ingress.desk import JobDesk, Publish
from hub.metrics import IngressMetrics
from tests.adapters.fakes import FakeCluster, InProcessShard, auth, hello, make_client, strict
from tests.strict_values import CONSTANTS, OVERFLOWS, SURROGATE_FRAMES, lenient_text, values

BAD_VALUES = [*CONSTANTS, *OVERFLOWS, '"\\ud83d"', '"x\\udc00"', '{"\\ud83d":1}', '[1,["\\udfff"]]']


# -- HTTP bodies and query strings: 422 with the reason, for every route ----------------------


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_publish_bodies_that_are_not_strict_json_get_422_with_the_reason(
    client: tuple[TestClient, FakeCluster], bad: str
) -> None:
    http, _ = client
    body = f'{{"type":"analytics_update","data":{{"updates":{{"v":{bad}}}}},"educatorIds":["alice"]}}'
    reply = http.post("/api/publish", content=body, headers=auth("svc", "service"))
    assert reply.status_code == 422, reply.text
    error = strict(reply.content)["detail"][0]
    assert error["type"] == "json_invalid"
    assert error["ctx"]["error"].startswith("data.updates.v")


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_job_params_that_are_not_strict_json_get_422_and_start_nothing(
    client: tuple[TestClient, FakeCluster], bad: str
) -> None:
    http, cluster = client
    body = f'{{"kind":"quiz_generation","params":{{"text":"Plants make sugar.","numQuestions":3,"x":{bad}}}}}'
    reply = http.post("/api/jobs", content=body, headers=auth("alice"))
    assert reply.status_code == 422, reply.text
    assert "params.x" in strict(reply.content)["detail"][0]["ctx"]["error"]
    assert cluster.spawned == []


def test_a_body_with_surrogates_encoded_as_utf8_bytes_gets_422(client: tuple[TestClient, FakeCluster]) -> None:
    http, _ = client
    body = b'{"type":"notification","data":{"title":"\xed\xa0\xbd"},"educatorIds":["alice"]}'
    reply = http.post("/api/publish", content=body, headers=auth("svc", "service"))
    assert reply.status_code == 422 and "UTF-8" in strict(reply.content)["detail"][0]["ctx"]["error"]


@pytest.mark.parametrize("timeout", ["nan", "inf", "-inf", "Infinity"])
def test_query_floats_must_be_finite(client: tuple[TestClient, FakeCluster], timeout: str) -> None:
    http, _ = client
    reply = http.get(f"/api/events?timeout={timeout}", headers=auth("alice"))
    assert reply.status_code == 422 and strict(reply.content)


def test_backend_publish_from_code_is_refused_with_the_reason(tmp_path: Path) -> None:
    import asyncio

    desk = JobDesk(FakeCluster(tmp_path), IngressMetrics())
    body = Publish(type="analytics_update", data={"updates": {"v": math.nan}}, educatorIds=["alice"])  # type: ignore[call-arg]
    with pytest.raises(InvalidParams) as info:
        asyncio.run(desk.publish(Identity(sub="backend", role="admin"), body))
    assert info.value.errors[0]["msg"].startswith("not strict JSON: updates.v: NaN")


# -- WebSocket ops --------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [*SURROGATE_FRAMES, *(f'{{"op":"ping","id":{c}}}' for c in CONSTANTS + OVERFLOWS)])
def test_a_ping_that_is_not_strict_json_gets_bad_frame_and_the_connection_goes_on(
    client: tuple[TestClient, FakeCluster], frame: str
) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        ws.send_text(frame)
        error = strict(ws.receive_text())
        assert error["op"] == "error" and error["code"] == "bad_frame" and error["ref"] == "ping"
        assert error["message"].startswith("not strict JSON: id")
        ws.send_text('{"op":"ping","id":2}')
        assert strict(ws.receive_text()) == {"op": "pong", "id": 2}


@pytest.mark.parametrize(
    "frame",
    ['{"op":"hello","token":"\\ud83d"}', '{"op":"hello","token":"t","resume":{"epoch":"e","seq":1e999}}'],
)
def test_a_first_frame_that_is_not_strict_json_closes_4400(client: tuple[TestClient, FakeCluster], frame: str) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        ws.send_text(frame)
        closed = ws.receive()
    assert closed["type"] == "websocket.close" and closed["code"] == 4400
    assert closed["reason"].startswith("not strict JSON")


# -- the same safe value on every transport -------------------------------------------------


def envelope_texts(frame_text: str) -> str:
    prefix = '{"op":"batch","messages":['
    assert frame_text.startswith(prefix)
    return frame_text[len(prefix) : frame_text.rindex("]")]


def test_websocket_and_long_poll_carry_the_same_bytes_for_a_non_finite_publish(
    client: tuple[TestClient, FakeCluster],
) -> None:
    http, cluster = client
    shard = cluster.shard_for("alice")
    with http.websocket_connect("/ws") as ws:
        welcome = hello(ws, "alice")
        data = {"updates": {"v": math.nan, "w": math.inf, "x": -math.inf, "s": "\ud83d", "ok": 1.5}}
        http.portal.call(shard.publish_message, ["alice"], "analytics_update", data)  # type: ignore[union-attr]
        ws_text = envelope_texts(ws.receive_text())
    poll = http.get(f"/api/events?epoch={welcome['epoch']}&after={welcome['seq']}&timeout=0", headers=auth("alice"))
    assert poll.status_code == 200
    assert ws_text in poll.text  # byte for byte
    (env,) = strict(poll.content)["messages"]
    assert env["data"] == {"updates": {"v": None, "w": None, "x": None, "s": "\ufffd", "ok": 1.5}}
    assert "NaN" not in poll.text and "Infinity" not in poll.text


def test_stored_results_and_states_with_non_finite_values_are_answered_safely(
    client: tuple[TestClient, FakeCluster],
) -> None:
    http, cluster = client
    state = {
        "jobId": "legacy",
        "kind": "quiz_generation",
        "educatorId": "alice",
        "status": "completed",
        "progress": 100.0,
        "message": "done \ud83d",
        "createdAt": 1.0,
        "updatedAt": 1.0,
    }
    # A row written before this rule, by Python's lenient json (NaN and an escaped lone surrogate).
    cluster.store.target.db.execute(
        "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ("legacy", "alice", "quiz_generation", "completed", 1.0, 1.0, json.dumps(state), '{"score": NaN}'),
    )
    result = http.get("/api/jobs/legacy/result", headers=auth("alice"))
    assert result.status_code == 200 and strict(result.content) == {"score": None}
    job = http.get("/api/jobs/legacy", headers=auth("alice"))
    assert job.status_code == 200 and strict(job.content)["message"] == "done \ufffd"
    listed = http.get("/api/jobs", headers=auth("alice"))
    assert listed.status_code == 200 and strict(listed.content)[0]["message"] == "done \ufffd"
    with http.websocket_connect("/ws") as ws:
        assert hello(ws, "alice")["snapshot"][0]["message"] == "done \ufffd"


# -- /healthz while a shard's delivery is stuck ---------------------------------------------


class BrokenPull(InProcessShard):
    async def pull(
        self, ingress_id: str, ack: int, timeout: float | None = None, feed_id: str | None = None
    ) -> FeedBatch:
        if self.index == 0:
            raise KeyError("a bug in the pull")
        return await super().pull(ingress_id, ack, timeout, feed_id)


def test_healthz_is_503_with_a_reason_while_a_relay_task_keeps_failing(tmp_path: Path) -> None:
    http, _ = make_client(tmp_path, BrokenPull)
    with http:
        deadline = time.monotonic() + 10
        while True:
            health = http.get("/healthz")
            if health.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        metrics = http.get("/metrics").text
    assert health.status_code == 503, health.text
    body = health.json()
    assert body["status"] == "unavailable" and body["shards"] == 2
    assert body["reason"].startswith("delivery stuck: shard 0: relay task failed")
    assert 'hub_relay_restarts_total{shard="0"}' in metrics


def test_healthz_is_200_when_delivery_flows(client: tuple[TestClient, FakeCluster]) -> None:
    http, _ = client
    time.sleep(0.1)
    assert http.get("/healthz").json() == {"status": "ok", "shards": 2}


# -- property: random Unicode and non-finite floats in every input path ---------------------


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(value=values, ascii_only=st.booleans(), path=st.sampled_from(["ping", "cancel", "publish", "job", "notify"]))
def test_property_no_input_wedges_a_connection_or_gets_a_500(
    client: tuple[TestClient, FakeCluster], value: Any, ascii_only: bool, path: str
) -> None:
    http, cluster = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "prop")
        if path in ("ping", "cancel"):
            ws.send_text(lenient_text({"op": path, "id" if path == "ping" else "jobId": value}, ascii_only))
            answer = strict(ws.receive_text())
            assert answer["op"] in ("pong", "error")
        else:
            # An HTTP body is bytes: a raw lone surrogate goes out as a careless encoder writes it
            # (surrogatepass: ED A0 80...), where httpx would refuse to encode the text at all.
            def lenient_bytes(body: Any) -> bytes:
                return lenient_text(body, ascii_only).encode("utf-8", "surrogatepass")

            if path == "publish":
                body = {"type": "analytics_update", "data": {"updates": {"v": value}}, "educatorIds": ["prop"]}
                reply = http.post("/api/publish", content=lenient_bytes(body), headers=auth("s", "service"))
            elif path == "notify":
                body = {"type": "notification", "data": {"title": value}, "educatorIds": ["prop"]}
                reply = http.post("/api/publish", content=lenient_bytes(body), headers=auth("s", "service"))
            else:
                body = {"kind": "quiz_generation", "params": {"text": value, "numQuestions": 2}}
                reply = http.post("/api/jobs", content=lenient_bytes(body), headers=auth("prop"))
            assert reply.status_code in (202, 422), reply.text
            strict(reply.content)
            if reply.status_code == 202 and path != "job":
                strict(ws.receive_text())  # what was published arrives, strictly
            if path == "job" and reply.status_code == 202:
                strict(ws.receive_text())  # the `queued` status
        # The connection still works, and the value never reached a stream unless strict.
        ws.send_text('{"op":"ping","id":"after"}')
        assert strict(ws.receive_text()) == {"op": "pong", "id": "after"}
    if strictjson.problem(value) is not None:
        for shard in cluster.shards:
            for stream in shard.target.streams.values():
                for env in stream._history:
                    assert strictjson.problem(env.data) is None
