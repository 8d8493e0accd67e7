"""The HTTP API (hub/ingress/api.py, PROTOCOL.md section 5) at its surface: who may call what
(401/403/404 with a sentence), bad input (422 with the reason, 413), the long-poll fallback's
answers and waits, /healthz and /metrics."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.auth import issue_token
from tests.adapters.fakes import SECRET, FakeCluster, auth, hello, make_client, notes, publish, strict

Client = tuple[TestClient, FakeCluster]

QUIZ = {"kind": "quiz_generation", "params": {"text": "Plants make sugar.", "numQuestions": 2}}


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/jobs"),
        ("GET", "/api/jobs"),
        ("GET", "/api/jobs/j1"),
        ("GET", "/api/jobs/j1/result"),
        ("POST", "/api/jobs/j1/cancel"),
        ("GET", "/api/events"),
        ("POST", "/api/publish"),
    ],
)
def test_every_api_route_needs_a_valid_token_401_with_the_reason(client: Client, method: str, path: str) -> None:
    http, _ = client
    expired = issue_token(SECRET, "alice", ttl=-60, now=time.time())
    forged = issue_token("not-the-hubs-secret-0123456789abcdef", "alice", now=time.time())
    for headers, says in [
        ({}, "missing bearer token"),
        (bearer("garbage"), "invalid token"),
        (bearer(expired), "token expired"),
        (bearer(forged), "not signed with this hub's secret"),
    ]:
        reply = http.request(method, path, headers=headers, json=QUIZ if method == "POST" else None)
        assert reply.status_code == 401, (headers, reply.text)
        assert reply.headers["WWW-Authenticate"] == "Bearer"
        assert says in reply.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/jobs"), ("GET", "/api/jobs"), ("POST", "/api/jobs/j1/cancel"), ("GET", "/api/events")],
)
def test_educator_routes_refuse_a_service_token_403(client: Client, method: str, path: str) -> None:
    http, _ = client
    reply = http.request(method, path, headers=auth("svc", "service"), json=QUIZ if method == "POST" else None)
    assert reply.status_code == 403
    assert reply.json() == {"detail": "this endpoint needs an educator token, not service"}


def test_an_unknown_job_is_404_with_its_id(client: Client) -> None:
    http, _ = client
    for path in ("/api/jobs/nope", "/api/jobs/nope/result"):
        reply = http.get(path, headers=auth("alice"))
        assert reply.status_code == 404 and reply.json() == {"detail": "no job nope"}
    assert http.post("/api/jobs/nope/cancel", headers=auth("alice")).status_code == 404


def test_a_result_before_completion_is_409_saying_the_status(client: Client) -> None:
    http, _ = client
    job_id = http.post("/api/jobs", json=QUIZ, headers=auth("alice")).json()["jobId"]
    reply = http.get(f"/api/jobs/{job_id}/result", headers=auth("alice"))
    assert reply.status_code == 409
    assert reply.json() == {"detail": f"job {job_id} is queued; its result exists once it is completed"}


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/api/jobs?limit=0", None, "limit"),
        ("GET", "/api/jobs?limit=lots", None, "limit"),
        ("GET", "/api/events?after=-1", None, "after"),
        ("GET", "/api/events?timeout=-2", None, "timeout"),
        ("POST", "/api/jobs", b"{not json", None),
        ("POST", "/api/jobs", b"[]", None),
        ("POST", "/api/publish", b'{"type":"gossip","data":{},"educatorIds":["a"]}', "type"),
    ],
)
def test_bad_queries_and_bodies_are_422_naming_the_field(
    client: Client, method: str, path: str, body: bytes | None, field: str | None
) -> None:
    http, _ = client
    role = "service" if "publish" in path else "educator"
    headers = {**auth("alice", role), "Content-Type": "application/json"}
    reply = http.request(method, path, headers=headers, content=body)
    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"]
    assert isinstance(detail, list) and all(isinstance(e["msg"], str) and e["msg"] for e in detail)
    if field is not None:
        assert any(field in e["loc"] for e in detail), detail


def test_a_body_over_the_limit_is_413_with_the_limit(tmp_path: Path) -> None:
    http, cluster = make_client(tmp_path, max_body=1000, max_upload=600)  # an upload limit that fits the body limit
    with http:
        big = {"kind": "quiz_generation", "params": {"text": "x" * 2000, "numQuestions": 1}}
        reply = http.post("/api/jobs", json=big, headers=auth("alice"))
    assert reply.status_code == 413 and reply.json() == {"detail": "request body over 1,000 bytes"}
    assert cluster.spawned == []


def test_a_first_long_poll_answers_at_once_with_the_stream_position_and_a_snapshot(client: Client) -> None:
    http, cluster = client
    job_id = http.post("/api/jobs", json=QUIZ, headers=auth("alice")).json()["jobId"]
    started = time.monotonic()
    reply = http.get("/api/events?timeout=10", headers=auth("alice"))
    assert time.monotonic() - started < 5
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    body = strict(reply.content)
    assert body["resumed"] is False and body["messages"] == []
    assert body["epoch"] == cluster.shard_object("alice").epoch and body["seq"] == 1
    assert [job["jobId"] for job in body["snapshot"]] == [job_id]


def test_a_long_poll_waits_for_the_next_message_and_returns_as_soon_as_it_comes(client: Client) -> None:
    http, cluster = client
    first = http.get("/api/events?timeout=0", headers=auth("alice")).json()
    answer: dict[str, Any] = {}

    def poll() -> None:
        reply = http.get(f"/api/events?epoch={first['epoch']}&after={first['seq']}&timeout=20", headers=auth("alice"))
        answer.update(status=reply.status_code, body=reply.json(), at=time.monotonic())

    waiting = threading.Thread(target=poll)
    waiting.start()
    time.sleep(0.3)
    assert waiting.is_alive()  # nothing yet: it waits
    published = time.monotonic()
    publish(http, cluster, "alice", "notification", next(notes(1)))
    waiting.join(10)
    assert not waiting.is_alive()
    assert answer["status"] == 200 and answer["at"] - published < 5
    body = answer["body"]
    assert body["resumed"] is True and body["epoch"] == first["epoch"] and "snapshot" not in body
    assert [(m["seq"], m["type"], m["data"]["title"]) for m in body["messages"]] == [
        (first["seq"] + 1, "notification", "note 0")
    ]
    assert body["seq"] == first["seq"] + 1


def test_a_long_poll_with_nothing_new_answers_an_empty_list_after_its_timeout(client: Client) -> None:
    http, _ = client
    first = http.get("/api/events?timeout=0", headers=auth("alice")).json()
    started = time.monotonic()
    reply = http.get(f"/api/events?epoch={first['epoch']}&after={first['seq']}&timeout=0.4", headers=auth("alice"))
    took = time.monotonic() - started
    assert reply.status_code == 200 and 0.35 <= took < 5
    assert reply.json() == {"epoch": first["epoch"], "seq": first["seq"], "resumed": True, "messages": []}


def test_a_long_poll_from_an_unknown_epoch_starts_afresh(client: Client) -> None:
    http, _ = client
    reply = http.get("/api/events?epoch=gone&after=12&timeout=5", headers=auth("alice")).json()
    assert reply["resumed"] is False and reply["epoch"] != "gone" and reply["snapshot"] == []


def test_healthz_is_200_when_the_shards_answer_and_503_with_the_reason_when_one_does_not(client: Client) -> None:
    http, cluster = client
    assert http.get("/healthz").json() == {"status": "ok", "shards": 2}
    cluster.shards[1].fail("ping")
    reply = http.get("/healthz")
    assert reply.status_code == 503
    body = reply.json()
    assert body["status"] == "unavailable" and body["reason"].startswith("registry shards unreachable: ")
    assert "registry shard 1" in body["reason"]
    assert http.get("/healthz").status_code == 200  # answered again


def test_healthz_needs_no_token_and_answers_head(client: Client) -> None:
    http, _ = client
    assert http.head("/healthz").status_code == 200


def test_metrics_are_prometheus_text_with_the_shards_and_connections(client: Client) -> None:
    http, cluster = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        cluster.shards[1].fail("stats")
        reply = http.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    text = reply.text
    assert re.search(r'^hub_shard_up\{shard="0"\} 1(\.0)?$', text, re.M), text
    assert re.search(r'^hub_shard_up\{shard="1"\} 0(\.0)?$', text, re.M), text
    assert re.search(r"^hub_connections 1(\.0)?$", text, re.M), text
    assert re.search(r"^hub_connections_total 1(\.0)?$", text, re.M), text
    assert "# TYPE hub_connections gauge" in text
