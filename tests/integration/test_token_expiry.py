"""Token expiry on a live connection (PROTOCOL.md section 2, "Token expiry (v1.1)"; issue 13, B) and
clock-skew leeway (issue 13, E): the hub holds a connection to its token's `exp` (+ the leeway), a
`refresh` op moves it on, a bad refresh changes nothing, no op of an expired identity runs, and the
Python client refreshes before expiry or reconnects and resumes without loss.

The session hub's leeway is tests.conftest.TOKEN_LEEWAY (2 s), so a close comes 2 s after `exp`."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from hub.client import HubClient, HubClientError
from hub.server import LocalHub
from tests.conftest import TOKEN_LEEWAY, scaled, until
from tests.integration.conftest import SECRET, Api, open_ws
from tests.integration.test_kinds import kinds_registered  # noqa: F401 (a fixture)


def mint(sub: str, ttl: float, *, role: str = "educator", iat_ahead: float = 0.0, secret: str = SECRET) -> str:
    """A token for `sub` expiring `ttl` seconds from now (whole seconds: `exp` is a NumericDate)."""
    now = time.time()
    claims = {"sub": sub, "role": role, "iat": int(now + iat_ahead), "exp": int(now + ttl)}
    return jwt.encode(claims, secret, algorithm="HS256")


def exp_of(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["exp"])


def unique(name: str) -> str:
    return f"{name}-{time.monotonic_ns() % 10**9}"


async def frames_until_closed(ws: Any, limit: float) -> list[dict[str, Any]]:
    """Every frame until the server closes the socket (AssertionError after `limit` seconds)."""
    got: list[dict[str, Any]] = []
    try:
        while True:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), limit)))
    except ConnectionClosed:
        return got
    except TimeoutError:
        raise AssertionError(f"not closed within {limit:.1f}s; got {got}") from None


def publish(hub: LocalHub, educator_id: str, title: str) -> None:
    service = Api(hub, hub.token("expiry-publisher", role="service"))
    body = {"type": "notification", "data": {"level": "info", "title": title, "body": ""}, "educatorIds": [educator_id]}
    assert service.http.post("/api/publish", json=body).status_code == 202


# -- the server -------------------------------------------------------------------------------------


def test_without_refresh_the_hub_closes_4401_at_exp_plus_leeway(hub: LocalHub) -> None:
    sub = unique("expiring")
    token = mint(sub, scaled(2))

    async def go() -> tuple[float, tuple[Any, str], list[dict[str, Any]]]:
        ws, welcome = await open_ws(hub, {"token": token})
        assert welcome["op"] == "welcome"
        await asyncio.to_thread(publish, hub, sub, "before exp")
        frames = await frames_until_closed(ws, scaled(2) + TOKEN_LEEWAY + scaled(3))
        return time.time(), (ws.close_code, ws.close_reason), frames

    closed_at, close, frames = asyncio.run(go())
    assert close == (4401, "token expired")
    expected = exp_of(token) + TOKEN_LEEWAY
    assert expected - 0.1 <= closed_at <= expected + scaled(1.5), (closed_at, expected)
    titles = [e["data"]["title"] for f in frames if f["op"] == "batch" for e in f["messages"]]
    assert titles == ["before exp"]
    # a new connection with the expired token is refused; the same stream with a fresh token resumes
    refused = httpx.get(hub.url + "/api/jobs", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def test_refresh_keeps_the_connection_past_the_old_exp(hub: LocalHub) -> None:
    sub = unique("refreshing")
    token = mint(sub, scaled(2))
    later = mint(sub, 600)

    async def go() -> list[dict[str, Any]]:
        ws, _ = await open_ws(hub, {"token": token})
        await ws.send(json.dumps({"op": "refresh", "token": later}))
        refreshed = json.loads(await asyncio.wait_for(ws.recv(), scaled(5)))
        assert refreshed == {"op": "refreshed", "exp": exp_of(later)}
        await asyncio.sleep(max(0.0, exp_of(token) + TOKEN_LEEWAY + scaled(1) - time.time()))
        await asyncio.to_thread(publish, hub, sub, "after the old exp")
        await ws.send(json.dumps({"op": "ping", "id": "still here"}))
        got = [json.loads(await asyncio.wait_for(ws.recv(), scaled(5))) for _ in range(2)]
        await ws.close()
        return got

    got = asyncio.run(go())
    assert {"op": "pong", "id": "still here"} in got
    assert any(f["op"] == "batch" and f["messages"][0]["data"]["title"] == "after the old exp" for f in got)


def test_a_bad_refresh_is_refused_and_changes_nothing(hub: LocalHub) -> None:
    sub = unique("bad-refresh")
    token = mint(sub, scaled(3))
    bad = {
        "another educator": mint("someone-else", 600),
        "another role": mint(sub, 600, role="service"),
        "another secret": mint(sub, 600, secret="another-secret-0123456789abcdef-xyz"),
        "garbage": "not-a-token",
        "expired": mint(sub, -60),
        "not later": token,
    }

    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]], float, Any]:
        ws, _ = await open_ws(hub, {"token": token})
        answers = []
        for name, tok in bad.items():
            await ws.send(json.dumps({"op": "refresh", "token": tok}))
            answers.append({"case": name, **json.loads(await asyncio.wait_for(ws.recv(), scaled(5)))})
        rest = await frames_until_closed(ws, scaled(3) + TOKEN_LEEWAY + scaled(3))
        return answers, rest, time.time(), (ws.close_code, ws.close_reason)

    answers, rest, closed_at, close = asyncio.run(go())
    for answer in answers:
        assert (answer["op"], answer["code"], answer["ref"]) == ("error", "unauthorized", "refresh"), answer
        assert answer["message"].startswith("refresh refused: "), answer
    assert "same identity" in answers[0]["message"] and "same identity" in answers[1]["message"]
    assert "expire later" in answers[-1]["message"]
    assert close == (4401, "token expired") and rest == []
    expected = exp_of(token) + TOKEN_LEEWAY  # still the old exp: nothing changed
    assert expected - 0.1 <= closed_at <= expected + scaled(1.5), (closed_at, expected)


class RawSocket:
    """A client that writes frames and never reads: the hub's close frame goes unread, so ops sent
    after `exp` reach the hub's read loop (a client that ignores the close, or a slow one)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, hub: LocalHub) -> RawSocket:
        where = urlsplit(hub.url)
        reader, writer = await asyncio.open_connection(where.hostname, where.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /ws HTTP/1.1\r\nHost: {where.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send(self, obj: dict[str, Any]) -> None:
        payload, mask = json.dumps(obj).encode(), os.urandom(4)
        n = len(payload)
        length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
        self.writer.write(b"\x81" + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        try:
            await self.writer.drain()
        except OSError:
            pass  # the hub may have dropped the connection: the op is then not carried out either

    def close(self) -> None:
        self.writer.close()


def test_an_op_sent_after_exp_is_never_carried_out(hub: LocalHub, kinds_registered: None) -> None:  # noqa: F811
    """Checked at each op, not only by the close timer: the client here ignores the close frame, and
    the hub's loop is late to fire the timer."""
    sub = unique("late-cancel")
    api = Api(hub, mint(sub, 600))
    token = mint(sub, scaled(2))

    def submit() -> str:
        reply = api.http.post("/api/jobs", json={"kind": "slow_steps", "params": {"steps": 4000, "delay": 0.05}})
        assert reply.status_code == 202, reply.text
        return str(reply.json()["jobId"])

    def status(job_id: str) -> str:
        return str(api.http.get(f"/api/jobs/{job_id}").json()["status"])

    async def until_status(job_id: str, want: str) -> None:
        deadline = time.monotonic() + scaled(30)
        while (now := await asyncio.to_thread(status, job_id)) != want:
            assert time.monotonic() < deadline, f"{job_id} is {now}, not {want}"
            await asyncio.sleep(0.1)

    async def go() -> None:
        early, late = submit(), submit()
        await until_status(late, "processing")
        raw = await RawSocket.open(hub)
        try:
            await raw.send({"op": "hello", "token": token, "types": ["notification"]})
            await raw.send({"op": "cancel", "jobId": early})  # before exp: carried out
            await until_status(early, "cancelled")
            # The hub's loop stalls over the moment of expiry, so that its timer fires late: the
            # cancel written meanwhile reaches the read loop before the close does.
            stall_from = exp_of(token) + TOKEN_LEEWAY - 0.5
            await asyncio.sleep(max(0.0, stall_from - time.time()))
            hub.server.servers[0].get_loop().call_soon_threadsafe(time.sleep, 1.5)
            await asyncio.sleep(max(0.0, stall_from + 0.8 - time.time()))
            await raw.send({"op": "cancel", "jobId": late})  # after exp: never carried out
            await asyncio.sleep(scaled(2))
            assert await asyncio.to_thread(status, late) == "processing"
        finally:
            raw.close()
            api.http.post(f"/api/jobs/{late}/cancel")

    asyncio.run(go())


# -- the Python client -------------------------------------------------------------------------------


def test_python_client_with_a_token_function_refreshes_and_keeps_its_connection(hub: LocalHub) -> None:
    sub = unique("py-refresh")
    minted: list[str] = []

    async def fresh_token() -> str:  # an async token function (a sync one is the next test's)
        minted.append(mint(sub, scaled(3)))
        return minted[-1]

    async def go() -> tuple[HubClient, list[str], list[str]]:
        client = HubClient(hub.url, fresh_token, base_delay=0.1)
        titles: list[str] = []
        states: list[str] = []
        client.on("notification", lambda env: titles.append(env["data"]["title"]))
        client.on("state", lambda s: states.append(s["state"]))
        await client.start()
        for i in range(4):  # spans more than two lifetimes of a token
            await asyncio.to_thread(publish, hub, sub, f"n{i}")
            await asyncio.sleep(scaled(2))
        await until(lambda: len(titles) == 4, 10, "every notification")
        await client.close()
        return client, titles, states

    client, titles, states = asyncio.run(go())
    assert titles == ["n0", "n1", "n2", "n3"]
    assert client.refreshes >= 2 and len(minted) == client.refreshes + 1
    assert client.connects == 1 and states == ["connecting", "connected", "closed"]


def test_python_client_without_refresh_reconnects_with_a_new_token_and_loses_nothing(
    hub: LocalHub,
    kinds_registered: None,  # noqa: F811
) -> None:
    sub = unique("py-reconnect")
    api = Api(hub, mint(sub, 600))
    calls: list[float] = []

    def fresh_token() -> str:  # a plain function: it runs on a worker thread
        calls.append(time.time())
        return mint(sub, scaled(2))

    async def go() -> tuple[HubClient, list[dict[str, Any]], list[str], str]:
        client = HubClient(hub.url, fresh_token, refresh=False, base_delay=0.1)
        envelopes: list[dict[str, Any]] = []
        states: list[str] = []
        client.on("*", envelopes.append)
        client.on("state", lambda s: states.append(s["state"]))
        await client.start()
        reply = await asyncio.to_thread(
            api.http.post, "/api/jobs", json={"kind": "slow_steps", "params": {"steps": 200, "delay": 0.06}}
        )
        job_id = reply.json()["jobId"]
        await until(lambda: client.jobs.get(job_id, {}).get("status") == "completed", 90, "the job to complete")
        await client.close()
        return client, envelopes, states, job_id

    client, envelopes, states, job_id = asyncio.run(go())
    assert client.connects >= 2 and len(calls) == client.connects and "reconnecting" in states
    seqs = [e["seq"] for e in envelopes]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # resumed: nothing missed or repeated
    mine = [e["data"]["status"] for e in envelopes if e["data"].get("jobId") == job_id]
    assert mine[0] == "queued" and "processing" in mine and mine[-1] == "completed"


def test_python_client_with_a_plain_token_stops_at_expiry_and_a_bad_token_stays_final(hub: LocalHub) -> None:
    sub = unique("py-plain")

    async def plain() -> tuple[HubClient, list[dict[str, Any]]]:
        client = HubClient(hub.url, mint(sub, scaled(1)), base_delay=0.1)
        errors: list[dict[str, Any]] = []
        client.on("error", errors.append)
        await client.start()
        await until(lambda: client.state == "closed", scaled(1) + TOKEN_LEEWAY + 10, "the close at expiry")
        return client, errors

    client, errors = asyncio.run(plain())
    assert errors[-1]["code"] == 4401 and "token expired" in errors[-1]["message"]
    assert client.connects == 1

    async def forged() -> None:
        client = HubClient(hub.url, lambda: mint(sub, 600, secret="another-secret-0123456789abcdef-xyz"))
        with pytest.raises(HubClientError) as caught:
            await client.start()
        assert caught.value.code == 4401 and "invalid token" in str(caught.value)

    asyncio.run(forged())


# -- leeway -----------------------------------------------------------------------------------------


def test_a_token_issued_slightly_in_the_future_is_accepted_on_http_and_websocket(hub: LocalHub) -> None:
    sub = unique("skewed")
    ahead = mint(sub, 600, iat_ahead=TOKEN_LEEWAY - 0.5)  # an issuer whose clock runs ahead
    assert jwt.decode(ahead, options={"verify_signature": False})["iat"] > time.time()
    reply = httpx.get(hub.url + "/api/jobs", headers={"Authorization": f"Bearer {ahead}"})
    assert reply.status_code == 200, reply.text
    too_far = mint(sub, 600, iat_ahead=60)
    reply = httpx.get(hub.url + "/api/jobs", headers={"Authorization": f"Bearer {too_far}"})
    assert reply.status_code == 401 and "not yet valid" in reply.json()["detail"]

    async def hello(token: str) -> tuple[str | None, int | None]:
        ws, _ = await open_ws(hub, None)
        await ws.send(json.dumps({"op": "hello", "token": token}))
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))
        except ConnectionClosed:
            return None, ws.close_code
        await ws.close()
        return frame["op"], None

    assert asyncio.run(hello(ahead)) == ("welcome", None)
    assert asyncio.run(hello(too_far)) == (None, 4401)


def test_a_long_poll_ends_when_its_token_expires(hub: LocalHub) -> None:
    """A poll outlives its token no more than a WebSocket does: one asking to wait 25 s with a token
    that lapses sooner answers (empty) at exp + leeway, before a later push could reach it."""
    sub = unique("polling-expiring")
    token = mint(sub, scaled(2))
    headers = {"Authorization": f"Bearer {token}"}
    first = httpx.get(hub.url + "/api/events", headers=headers, params={"timeout": 0}).json()
    started = time.time()
    reply = httpx.get(
        hub.url + "/api/events",
        headers=headers,
        params={"epoch": first["epoch"], "after": first["seq"], "timeout": 25},
        timeout=30,
    )
    answered = time.time()
    assert reply.status_code == 200 and reply.json()["messages"] == []
    assert answered <= exp_of(token) + TOKEN_LEEWAY + scaled(1.5), (answered - started, exp_of(token) - started)
    assert httpx.get(hub.url + "/api/events", headers=headers).status_code == 401  # and then it is refused
