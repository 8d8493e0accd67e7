"""The HTTP edge of the session hub over real sockets: CORS preflights from a web front end on another
origin, HEAD probes, a chunked body over the limit, and paging GET /api/jobs past what a shard holds."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import ray

from hub.core.paging import DEFAULT_LIMIT
from hub.server import LocalHub
from tests.conftest import scaled
from tests.integration.conftest import Api, open_ws

FRONT_END = "http://localhost:3000"  # a Next.js dev server: loopback, trusted by default as on /ws


@pytest.mark.parametrize(("path", "method"), [("/api/jobs", "POST"), ("/api/events", "GET"), ("/api/jobs", "GET")])
def test_a_front_end_on_a_trusted_origin_passes_the_preflight(hub: LocalHub, path: str, method: str) -> None:
    reply = httpx.options(
        hub.url + path,
        headers={
            "Origin": FRONT_END,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["access-control-allow-origin"] == FRONT_END
    assert method in reply.headers["access-control-allow-methods"]
    assert {h.strip().lower() for h in reply.headers["access-control-allow-headers"].split(",")} >= {
        "authorization",
        "content-type",
        "idempotency-key",
    }


def test_the_front_ends_requests_can_read_the_answers(hub: LocalHub, educator: Api) -> None:
    headers = {"Origin": FRONT_END}
    listed = educator.http.get("/api/jobs", headers=headers)
    polled = educator.http.get("/api/events", params={"timeout": 0}, headers=headers)
    refused = educator.http.post("/api/jobs", json={"kind": "nope"}, headers=headers)
    for reply in (listed, polled, refused):
        assert reply.headers["access-control-allow-origin"] == FRONT_END
        assert "retry-after" in reply.headers["access-control-expose-headers"].lower()
    assert listed.status_code == 200 and polled.status_code == 200 and refused.status_code >= 400


def test_an_untrusted_origin_gets_no_cors_at_all(hub: LocalHub, educator: Api) -> None:
    evil = "https://evil.example"
    pre = httpx.options(
        hub.url + "/api/jobs",
        headers={
            "Origin": evil,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert pre.status_code == 400
    assert not [k for k in pre.headers if k.lower().startswith("access-control-")]
    actual = educator.http.get("/api/jobs", headers={"Origin": evil})
    assert not [k for k in actual.headers if k.lower().startswith("access-control-")]

    async def ws_close() -> int | None:
        ws, _ = await open_ws(hub, None, origin=evil)  # type: ignore[arg-type]
        try:
            await asyncio.wait_for(ws.recv(), scaled(5))
        except Exception:
            pass
        return ws.close_code

    assert asyncio.run(ws_close()) == 4403  # the same origin is refused on /ws


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/", "/static/hub-client.js"])
def test_head_answers_as_get_without_a_body(hub: LocalHub, path: str) -> None:
    got = httpx.get(hub.url + path)
    head = httpx.head(hub.url + path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    if path != "/metrics":  # its figures (and so its length) change between two requests
        assert head.headers["content-length"] == got.headers["content-length"]


def raw_request(hub: LocalHub, head: bytes, body_chunks: int, chunk: bytes) -> tuple[int, bytes]:
    """Send a request with a chunked body over a plain socket; return the status and response body."""
    with socket.create_connection(("127.0.0.1", hub.port), timeout=scaled(30)) as sock:
        sock.sendall(head)
        piece = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        for _ in range(body_chunks):
            sock.sendall(piece)
        sock.sendall(b"0\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        header, _, rest = data.partition(b"\r\n\r\n")
        length = int(
            next(line.split(b":")[1] for line in header.split(b"\r\n") if line.lower().startswith(b"content-length"))
        )
        while len(rest) < length:
            rest += sock.recv(65536)
    return int(header.split(b" ")[1]), rest[:length]


@pytest.mark.parametrize("path", ["/api/jobs", "/api/publish"])
def test_a_chunked_body_over_the_limit_is_413(hub: LocalHub, path: str) -> None:
    token = hub.token("chunky", role="admin" if path == "/api/publish" else "educator")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b" " * 65536
    status, body = raw_request(hub, head, hub.settings.max_body // len(chunk) + 2, chunk)
    assert status == 413
    assert json.loads(body) == {"detail": f"request body over {hub.settings.max_body:,} bytes"}
    # and a small chunked body still works on the same routes
    status, body = raw_request(hub, head, 1, b'{"kind": "nope", "params": {}}' if path == "/api/jobs" else b"{}")
    assert status == 422, body


def seed_jobs(hub: LocalHub, educator_id: str, count: int) -> list[str]:
    """`count` finished jobs in the job store (as an earlier run of the hub left them), newest first."""
    store = ray.get_actor("hub-store", namespace=hub.settings.namespace)
    now = time.time() - 3600
    ids = [f"seed-{i:04d}-{uuid.uuid4().hex[:6]}" for i in range(count)]
    saves = []
    for i, job_id in enumerate(ids):
        state = {
            "jobId": job_id,
            "kind": "quiz_generation",
            "educatorId": educator_id,
            "status": "completed",
            "progress": 100.0,
            "message": "Done",
            "createdAt": now + i // 3,  # some share a createdAt
            "updatedAt": now + i // 3 + 1,
        }
        saves.append(store.save.remote(state))
    ray.get(saves)
    return sorted(ids, key=lambda j: (now + ids.index(j) // 3, j), reverse=True)


def test_get_jobs_pages_through_more_than_a_shard_holds(hub: LocalHub) -> None:
    educator_id = f"many-{uuid.uuid4().hex[:8]}"
    api = Api(hub, hub.token(educator_id))
    expected = seed_jobs(hub, educator_id, 1234)  # a shard holds the newest 500

    first = api.http.get("/api/jobs")
    assert first.status_code == 200 and isinstance(first.json(), list)  # still a bare list (v1)
    assert len(first.json()) == DEFAULT_LIMIT == 500  # the default page: as many as v1 callers got before

    walked: list[str] = []
    url: str | None = "/api/jobs?limit=500"
    pages = 0
    while url is not None:
        reply = api.http.get(url)
        assert reply.status_code == 200, reply.text
        walked += [j["jobId"] for j in reply.json()]
        pages += 1
        link = reply.links.get("next")
        url = link["url"] if link else None
        if url is not None:
            assert parse_qs(urlsplit(url).query)["cursor"] == [reply.headers["x-next-cursor"]]
        else:
            assert "x-next-cursor" not in reply.headers
    assert pages == 3 and walked == expected

    # the cursor alone, with another limit
    second = api.http.get("/api/jobs", params={"limit": 7, "cursor": first.headers["x-next-cursor"]})
    assert [j["jobId"] for j in second.json()] == expected[DEFAULT_LIMIT : DEFAULT_LIMIT + 7]

    for bad in ({"limit": 0}, {"limit": 501}, {"cursor": "garbage"}):
        refused = api.http.get("/api/jobs", params=bad)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"]


def test_the_snapshot_says_when_it_holds_fewer_than_all(hub: LocalHub) -> None:
    educator_id = f"snap-{uuid.uuid4().hex[:8]}"
    token = hub.token(educator_id)
    seed_jobs(hub, educator_id, 520)
    few = hub.token(f"few-{uuid.uuid4().hex[:8]}")

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        ws, welcome = await open_ws(hub, {"token": token})
        await ws.close()
        ws, other = await open_ws(hub, {"token": few})
        await ws.close()
        return welcome, other

    welcome, other = asyncio.run(go())
    assert welcome["op"] == "welcome" and len(welcome["snapshot"]) == 500
    assert welcome["snapshotTruncated"] is True
    assert "snapshotTruncated" not in other

    polled = httpx.get(hub.url + "/api/events", params={"timeout": 0}, headers={"Authorization": f"Bearer {token}"})
    assert polled.json()["snapshotTruncated"] is True and len(polled.json()["snapshot"]) == 500
