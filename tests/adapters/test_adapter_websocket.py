"""`GET /ws` (hub/ingress/ws.py) as PROTOCOL.md section 2 states it: hello and welcome, filters,
ping, error frames for bad ops (the connection goes on), the contract's close codes for a bad
handshake, and token expiry and refresh."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.auth import issue_token, verify_token
from tests.adapters.fakes import (
    SECRET,
    FakeCluster,
    closed,
    envelopes,
    hello,
    make_client,
    notes,
    publish,
    strict,
    token,
)

Client = tuple[TestClient, FakeCluster]


def test_hello_is_answered_by_a_welcome_with_the_stream_position_and_a_snapshot(client: Client) -> None:
    http, cluster = client
    http.post(
        "/api/jobs",
        json={"kind": "quiz_generation", "params": {"text": "Plants.", "numQuestions": 1}},
        headers={"Authorization": f"Bearer {token('alice')}"},
    )
    with http.websocket_connect("/ws", subprotocols=["hub.v1"]) as ws:
        assert ws.accepted_subprotocol == "hub.v1"
        welcome = hello(ws, "alice")
    assert set(welcome) >= {"op", "session", "educatorId", "epoch", "seq", "heartbeat", "resumed", "snapshot"}
    assert welcome["educatorId"] == "alice" and welcome["resumed"] is False
    assert isinstance(welcome["session"], str) and welcome["session"]
    assert welcome["epoch"] == cluster.shard_object("alice").epoch
    assert welcome["seq"] == 1  # the job's `queued` status
    assert welcome["heartbeat"] == 20
    (job,) = welcome["snapshot"]
    assert job["status"] == "queued" and job["kind"] == "quiz_generation" and job["educatorId"] == "alice"


def test_no_subprotocol_is_selected_when_none_is_offered(client: Client) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        assert ws.accepted_subprotocol is None
        hello(ws, "alice")


def test_types_in_hello_and_subscribe_and_unsubscribe_filter_what_arrives(client: Client) -> None:
    http, cluster = client
    analytics = {"educatorId": "alice", "updates": {"quizzes": 1}}
    with http.websocket_connect("/ws") as ws:
        seq = hello(ws, "alice", types=["notification"])["seq"]
        publish(http, cluster, "alice", "analytics_update", analytics)
        publish(http, cluster, "alice", "notification", next(notes(1)))
        assert [(e["type"], e["seq"]) for e in envelopes(ws, 1)] == [("notification", seq + 2)]
        ws.send_text('{"op":"subscribe","types":["analytics_update"]}')
        publish(http, cluster, "alice", "analytics_update", analytics)
        assert [(e["type"], e["seq"]) for e in envelopes(ws, 1)] == [("analytics_update", seq + 3)]
        ws.send_text('{"op":"unsubscribe","types":["notification"]}')
        publish(http, cluster, "alice", "notification", next(notes(1)))
        publish(http, cluster, "alice", "analytics_update", analytics)
        # A filtered message keeps its seq: the next one delivered shows the gap.
        assert [(e["type"], e["seq"]) for e in envelopes(ws, 1)] == [("analytics_update", seq + 5)]
        ws.send_text('{"op":"ping","id":"end"}')
        assert strict(ws.receive_text()) == {"op": "pong", "id": "end"}


@pytest.mark.parametrize("ping_id", [1, "abc", None, [1, {"a": 2}], {"nested": True}, 2.5])
def test_ping_is_answered_by_pong_with_the_same_id(client: Client, ping_id: Any) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        ws.send_text(json.dumps({"op": "ping", "id": ping_id}))
        assert strict(ws.receive_text()) == {"op": "pong", "id": ping_id}


@pytest.mark.parametrize(
    ("frame", "ref"),
    [
        ("not json", None),
        ("[1, 2]", None),
        ('{"op":"dance"}', None),
        ('{"no_op":1}', None),
        ('{"op":"subscribe","types":"notification"}', "subscribe"),
        ('{"op":"subscribe","types":["no_such_type"]}', "subscribe"),
        ('{"op":"cancel"}', "cancel"),
        ('{"op":"cancel","jobId":42}', "cancel"),
        ('{"op":"ping","id":1,"extra":true}', "ping"),
        (json.dumps({"op": "hello", "token": "t"}), "hello"),
    ],
)
def test_a_bad_frame_after_hello_gets_an_error_frame_and_the_connection_goes_on(
    client: Client, frame: str, ref: str | None
) -> None:
    http, cluster = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        ws.send_text(frame)
        error = strict(ws.receive_text())
        assert error["op"] == "error" and error["code"] == "bad_frame", error
        assert isinstance(error["message"], str) and error["message"] and "Traceback" not in error["message"]
        if ref is not None:
            assert error["ref"] == ref
        publish(http, cluster, "alice", "notification", next(notes(1)))
        assert envelopes(ws, 1)[0]["data"]["title"] == "note 0"
        ws.send_text('{"op":"ping","id":7}')
        assert strict(ws.receive_text()) == {"op": "pong", "id": 7}


def test_a_binary_frame_on_a_json_connection_is_an_error_frame(client: Client) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        ws.send_bytes(b'{"op":"ping","id":1}')
        error = strict(ws.receive_text())
        assert error["op"] == "error" and error["code"] == "bad_frame"
        ws.send_text('{"op":"ping","id":2}')
        assert strict(ws.receive_text()) == {"op": "pong", "id": 2}


@pytest.mark.parametrize(
    ("first", "code", "says"),
    [
        ('{"op":"ping","id":1}', 4400, "the first frame must be hello"),
        ("not json", 4400, ""),
        ('{"op":"hello"}', 4400, ""),
        ('{"op":"hello","token":"not-a-jwt"}', 4401, "invalid token"),
        (
            json.dumps(
                {"op": "hello", "token": issue_token("another-secret-0123456789abcdefgh", "a", now=time.time())}
            ),
            4401,
            "not signed with this hub's secret",
        ),
        (json.dumps({"op": "hello", "token": issue_token(SECRET, "alice", ttl=-60, now=time.time())}), 4401, "expired"),
    ],
)
def test_a_bad_first_frame_closes_with_the_contracts_code(client: Client, first: str, code: int, says: str) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        ws.send_text(first)
        close = closed(ws)
    assert close["code"] == code, close
    assert says in close["reason"] and len(close["reason"].encode()) <= 123


def test_a_binary_first_frame_closes_4400(client: Client) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        ws.send_bytes(b"\x81\xa2op\xa5hello")
        assert closed(ws)["code"] == 4400


def test_no_hello_in_time_closes_4408(tmp_path: Path) -> None:
    http, _ = make_client(tmp_path, hello_timeout=0.2)
    with http, http.websocket_connect("/ws") as ws:
        close = closed(ws)
    assert close["code"] == 4408 and close["reason"] == "no hello within 0.2s"


def test_an_origin_that_is_not_allowed_closes_4403(tmp_path: Path) -> None:
    http, _ = make_client(tmp_path, allowed_origins="https://app.example.edu")
    with http:
        with http.websocket_connect("/ws", headers={"Origin": "https://evil.example.com"}) as ws:
            assert closed(ws) == {"type": "websocket.close", "code": 4403, "reason": "origin not allowed"}
        with http.websocket_connect("/ws", headers={"Origin": "https://app.example.edu"}) as ws:
            hello(ws, "alice")


def test_connections_over_the_per_token_cap_close_4429(tmp_path: Path) -> None:
    http, _ = make_client(tmp_path, max_connections_per_token=2)
    with http, http.websocket_connect("/ws") as a, http.websocket_connect("/ws") as b:
        hello(a, "alice")
        hello(b, "alice")
        with http.websocket_connect("/ws") as c:
            c.send_text(json.dumps({"op": "hello", "token": token("alice")}))
            assert closed(c)["code"] == 4429
        with http.websocket_connect("/ws") as other:  # another educator is not affected
            hello(other, "bob")


def test_an_inbound_flood_gets_rate_limited_errors_then_4429(tmp_path: Path) -> None:
    http, _ = make_client(tmp_path, inbound_rate=1, inbound_burst=2, inbound_strikes=3)
    with http, http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        for i in range(8):
            ws.send_text(f'{{"op":"ping","id":{i}}}')
        frames = []
        while True:
            message = ws.receive()
            if message["type"] == "websocket.close":
                break
            frames.append(strict(message["text"]))
    assert frames[:2] == [{"op": "pong", "id": 0}, {"op": "pong", "id": 1}]
    assert {f["code"] for f in frames[2:]} == {"rate_limited"}
    assert message["code"] == 4429 and message["reason"] == "inbound rate limit exceeded"


def test_a_token_refreshed_in_time_keeps_the_connection_open(client: Client) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        first = token("alice", ttl=2)  # exp: 1 to 2 s from now (whole seconds); leeway 0
        ws.send_text(json.dumps({"op": "hello", "token": first}))
        assert strict(ws.receive_text())["op"] == "welcome"
        fresh = token("alice", ttl=600)
        ws.send_text(json.dumps({"op": "refresh", "token": fresh}))
        refreshed = strict(ws.receive_text())
        assert refreshed["op"] == "refreshed" and refreshed["exp"] >= int(time.time()) + 590
        time.sleep(max(0.0, (verify_token(SECRET, first).exp or 0) - time.time()) + 0.5)  # past the first exp
        ws.send_text('{"op":"ping","id":"still"}')
        assert strict(ws.receive_text()) == {"op": "pong", "id": "still"}


@pytest.mark.parametrize(
    ("who", "role", "says"),
    [("bob", "educator", "refresh refused"), ("alice", "service", "refresh refused"), (None, None, "refresh refused")],
)
def test_a_refresh_for_another_identity_or_an_invalid_token_is_refused_and_changes_nothing(
    client: Client, who: str | None, role: str | None, says: str
) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        other = token(who, role or "educator", ttl=7200) if who else "not-a-token"
        ws.send_text(json.dumps({"op": "refresh", "token": other}))
        error = strict(ws.receive_text())
        assert error["op"] == "error" and error["code"] == "unauthorized" and error["ref"] == "refresh"
        assert error["message"].startswith(says)
        ws.send_text('{"op":"ping","id":1}')
        assert strict(ws.receive_text()) == {"op": "pong", "id": 1}


def test_a_token_that_expires_without_a_refresh_closes_4401(client: Client) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"op": "hello", "token": token("alice", ttl=1)}))
        welcome = strict(ws.receive_text())
        close = closed(ws)
    assert close["code"] == 4401 and close["reason"] == "token expired"
    with http.websocket_connect("/ws") as ws:  # a fresh token resumes without loss
        again = hello(ws, "alice", resume={"epoch": welcome["epoch"], "seq": welcome["seq"]})
        assert again["resumed"] is True
