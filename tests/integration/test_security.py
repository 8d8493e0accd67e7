"""Authentication, isolation, limits and TLS against the real server."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.common import self_signed_tls
from hub.server import LocalHub
from hub.settings import Settings
from tests.conftest import scaled
from tests.integration.conftest import SECRET, Api, open_ws


def hs512(claims: dict[str, Any]) -> str:
    with warnings.catch_warnings():  # our 40-byte secret is short for HS512: that is the point
        warnings.simplefilter("ignore")
        return jwt.encode(claims, SECRET, algorithm="HS512")


def forged_tokens() -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "mallory", "role": "admin", "iat": now, "exp": now + 600}
    header_rs = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return {
        "alg none": jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
        "RS256 header": f"{header_rs}.{body}.c2lnbmF0dXJl",
        "HS512": hs512(claims),  # our secret, the wrong algorithm
        "other secret": jwt.encode(claims, "x" * 40, algorithm="HS256"),
        "expired": jwt.encode({**claims, "exp": now - 5}, SECRET, algorithm="HS256"),
        "no exp": jwt.encode({"sub": "mallory", "role": "admin"}, SECRET, algorithm="HS256"),
        "odd role": jwt.encode({**claims, "role": "root"}, SECRET, algorithm="HS256"),
        "garbage": "not-a-token",
    }


@pytest.mark.filterwarnings("ignore:The HMAC key")
@pytest.mark.parametrize("name", sorted(forged_tokens()))
def test_forged_and_expired_tokens_are_refused(hub: LocalHub, name: str) -> None:
    token = forged_tokens()[name]

    async def ws_code() -> int | None:
        ws, _ = await open_ws(hub, None)
        with pytest.raises(ConnectionClosed):
            await ws.send(json.dumps({"op": "hello", "token": token}))
            await asyncio.wait_for(ws.recv(), scaled(10))
        return ws.close_code

    assert asyncio.run(ws_code()) == 4401
    reply = httpx.get(hub.url + "/api/jobs", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 401 and reply.json()["detail"]


def test_connection_cap_per_token(hub: LocalHub, educator: Api) -> None:
    cap = hub.settings.max_connections_per_token

    async def go() -> int | None:
        sockets = [(await open_ws(hub, {"token": educator.token}))[0] for _ in range(cap)]
        extra, _ = await open_ws(hub, None)
        with pytest.raises(ConnectionClosed):
            await extra.send(json.dumps({"op": "hello", "token": educator.token}))
            await asyncio.wait_for(extra.recv(), scaled(10))
        for ws in sockets:
            await ws.close()
        again, welcome = await open_ws(hub, {"token": educator.token})  # room again once they left
        await again.close()
        assert welcome["op"] == "welcome"
        return extra.close_code

    assert asyncio.run(go()) == 4429


def test_inbound_rate_limit_warns_then_closes_4429(hub: LocalHub, educator: Api) -> None:
    async def go() -> tuple[list[dict[str, Any]], int | None]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        frames = []
        with pytest.raises(ConnectionClosed):
            for n in range(200):
                await ws.send(json.dumps({"op": "ping", "id": n}))
            while True:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), scaled(10))))
        return frames, ws.close_code

    frames, code = asyncio.run(go())
    assert code == 4429
    errors = [f for f in frames if f["op"] == "error"]
    assert errors and {e["code"] for e in errors} == {"rate_limited"}
    assert sum(f["op"] == "pong" for f in frames) >= hub.settings.inbound_burst - 1


def test_job_submission_rate_limit_says_when_to_retry(hub: LocalHub, educator: Api) -> None:
    bad = {"kind": "quiz_generation", "params": {"numQuestions": 0, "text": "x"}}  # cheap: 422 each
    codes = [educator.http.post("/api/jobs", json=bad).status_code for _ in range(int(hub.settings.submit_burst))]
    assert set(codes) == {422}
    limited = educator.http.post("/api/jobs", json=bad)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "try again" in limited.json()["detail"]
    other = Api(hub, hub.token("not-limited")).http.post("/api/jobs", json=bad)
    assert other.status_code == 422  # per educator


def test_a_body_over_max_body_is_413(hub: LocalHub, educator: Api) -> None:
    """A request body over HUB_MAX_BODY is refused as a body (413); a document over the upload
    limit inside a smaller body is a param (422: tests/integration/test_input_errors.py)."""
    huge = educator.http.post(
        "/api/jobs",
        content=b"{" + b" " * (hub.settings.max_body + 10) + b"}",
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413


def test_serve_refuses_a_public_host_without_a_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HUB_SECRET"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "hub"), "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert done.returncode == 2 and "HUB_SECRET" in done.stderr


# -- TLS ---------------------------------------------------------------------------------------------


def test_tls_serves_https_and_wss(hub: LocalHub, tmp_path: Path) -> None:
    cert, key = self_signed_tls(tmp_path)
    settings = Settings(
        port=0,
        secret=SECRET,
        data_dir=tmp_path,
        namespace="hub-tls",
        shards=1,
        ssl_certfile=cert,
        ssl_keyfile=key,
        log_level="warning",
    )
    with LocalHub(settings) as secure:
        assert secure.url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(secure.url + "/healthz", verify=trust).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(secure.url + "/healthz")  # not trusted by default: it really is TLS

        async def hello() -> dict[str, Any]:
            async with connect(secure.url.replace("https", "wss") + "/ws", ssl=trust) as ws:
                await ws.send(json.dumps({"op": "hello", "token": secure.token("tls-alice")}))
                return json.loads(await ws.recv())

        assert asyncio.run(hello())["op"] == "welcome"


# -- isolation ---------------------------------------------------------------------------------------

EDUCATORS = [f"iso-{i}" for i in range(6)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["notify", "peek"]),
            st.lists(st.sampled_from(EDUCATORS), min_size=1, max_size=3, unique=True),
        ),
        min_size=3,
        max_size=12,
    )
)
def test_no_educator_ever_sees_another_ones_messages_or_jobs(
    hub: LocalHub, script: list[tuple[str, list[str]]]
) -> None:
    service = Api(hub, hub.token("iso-service", role="service"))
    apis = {e: Api(hub, hub.token(e)) for e in EDUCATORS}
    marker = f"run-{time.monotonic_ns()}"
    expected: dict[str, list[str]] = {e: [] for e in EDUCATORS}

    async def go() -> dict[str, list[str]]:
        sockets = {e: (await open_ws(hub, {"token": apis[e].token}))[0] for e in EDUCATORS}
        polls = {
            e: (await asyncio.to_thread(apis[e].http.get, "/api/events", params={"timeout": 0})).json()
            for e in EDUCATORS
        }
        for n, (op, targets) in enumerate(script):
            if op == "notify":
                title = f"{marker}-{n}"
                reply = await asyncio.to_thread(
                    service.http.post,
                    "/api/publish",
                    json={"type": "notification", "data": {"title": title}, "educatorIds": targets},
                )
                assert reply.status_code == 202
                for t in targets:
                    expected[t].append(title)
            else:  # someone asks for a job that is not theirs: 404, never someone else's data
                reply = await asyncio.to_thread(apis[targets[0]].http.get, f"/api/jobs/{marker}-{n}")
                assert reply.status_code == 404
        done = f"{marker}-end"
        await asyncio.to_thread(
            service.http.post,
            "/api/publish",
            json={"type": "notification", "data": {"title": done}, "educatorIds": EDUCATORS},
        )
        got: dict[str, list[str]] = {}
        for e, ws in sockets.items():
            titles: list[str] = []
            while done not in titles:
                frame = json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))
                titles += [m["data"]["title"] for m in frame.get("messages", []) if m["type"] == "notification"]
            await ws.close()
            poll = (
                await asyncio.to_thread(
                    apis[e].http.get,
                    "/api/events",
                    params={"epoch": polls[e]["epoch"], "after": polls[e]["seq"], "timeout": 0},
                )
            ).json()
            polled = [m["data"]["title"] for m in poll["messages"] if m["type"] == "notification"]
            assert polled == titles, "polling and the WebSocket disagree"
            got[e] = [t for t in titles if t != done]
        return got

    assert asyncio.run(go()) == expected
