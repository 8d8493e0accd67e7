"""MessagePack (PROTOCOL.md section 8) against the real hub: the `hub.v1.msgpack` subprotocol (selected as
the first of the client's list the hub speaks), binary frames both ways holding exactly what JSON would,
with and without permessage-deflate; a text or malformed frame answered `bad_frame` with the connection
left open; the Python client's `protocol="msgpack"`; `Accept: application/msgpack` on GET /api/jobs/{id}
and /result."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import msgpack
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hub.client import HubClient
from hub.server import LocalHub
from tests.conftest import scaled
from tests.integration.conftest import Api, terminal, ws_url

MSGPACK = "hub.v1.msgpack"


async def open_mp(
    hub: LocalHub, token: str | None, protocols: list[str] | None = None, **kw: Any
) -> tuple[ClientConnection, dict[str, Any]]:
    """A raw connection offering `protocols` (MessagePack first by default); with a token, the hello
    (packed) and the welcome (unpacked)."""
    ws = await connect(ws_url(hub), subprotocols=protocols or [MSGPACK, "hub.v1"], **kw)  # type: ignore[arg-type]
    if token is None:
        return ws, {}
    await ws.send(msgpack.packb({"op": "hello", "token": token}))
    return ws, await recv_mp(ws)


async def recv_mp(ws: ClientConnection) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), scaled(10))
    assert isinstance(frame, bytes), f"a text frame on a MessagePack connection: {frame!r}"
    value = msgpack.unpackb(frame, raw=False)
    assert isinstance(value, dict)
    return value


async def pong(ws: ClientConnection) -> dict[str, Any]:
    """The next frame that is not a batch (the job's analytics_update may come after its completion)."""
    while True:
        frame = await recv_mp(ws)
        if frame["op"] != "batch":
            return frame


async def until_terminal(ws: ClientConnection, job_id: str) -> list[dict[str, Any]]:
    done = terminal(job_id)
    envelopes: list[dict[str, Any]] = []
    while True:
        frame = await recv_mp(ws)
        if frame["op"] == "batch":
            envelopes += frame["messages"]
            if any(done(e) for e in frame["messages"]):
                return envelopes


@pytest.mark.parametrize("compression", ["deflate", None])
def test_a_msgpack_connection_carries_a_job_to_completion(
    hub: LocalHub, educator: Api, compression: str | None
) -> None:
    async def go() -> None:
        ws, welcome = await open_mp(hub, educator.token, compression=compression)
        assert ws.subprotocol == MSGPACK
        assert welcome["op"] == "welcome" and welcome["educatorId"] == educator.educator_id
        assert welcome["resumed"] is False and welcome["snapshot"] == []
        job_id = await asyncio.to_thread(educator.submit_quiz, n=3)
        envelopes = await until_terminal(ws, job_id)
        statuses = [e["data"]["status"] for e in envelopes if e["type"] == "quiz_status"]
        assert statuses[0] == "queued" and statuses[-1] == "completed"
        seqs = [e["seq"] for e in envelopes]
        assert seqs == sorted(seqs) and all(type(s) is int for s in seqs)
        assert all(type(e["ts"]) is float and math.isfinite(e["ts"]) for e in envelopes)
        # The same objects as JSON: what GET /api/jobs/{id} says of the job matches the last status.
        state = (await asyncio.to_thread(educator.http.get, f"/api/jobs/{job_id}")).json()
        assert state["status"] == "completed"
        await ws.send(msgpack.packb({"op": "ping", "id": {"n": [1, 2.5, None, "x"]}}))
        assert await pong(ws) == {"op": "pong", "id": {"n": [1, 2.5, None, "x"]}}
        await ws.close()

    asyncio.run(go())


def test_the_server_selects_the_first_protocol_the_client_lists(hub: LocalHub, educator: Api) -> None:
    async def go() -> None:
        ws = await connect(ws_url(hub), subprotocols=["hub.v1", MSGPACK])  # type: ignore[list-item]
        assert ws.subprotocol == "hub.v1"
        await ws.send(json.dumps({"op": "hello", "token": educator.token}))
        assert json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))["op"] == "welcome"
        await ws.close()
        ws = await connect(ws_url(hub), subprotocols=["hub.v2", MSGPACK])  # type: ignore[list-item]
        assert ws.subprotocol == MSGPACK  # the first it speaks
        await ws.close()
        ws = await connect(ws_url(hub), subprotocols=[MSGPACK])  # type: ignore[list-item]  # alone
        assert ws.subprotocol == MSGPACK
        await ws.close()

    asyncio.run(go())


BAD_FRAMES: list[tuple[str, str | bytes]] = [
    ("a text frame", json.dumps({"op": "ping", "id": 1})),
    ("not MessagePack", b"\xc1"),
    ("truncated", msgpack.packb({"op": "ping", "id": "abcdef"})[:-3]),
    ("trailing bytes", msgpack.packb({"op": "ping", "id": 1}) + b"\x00"),
    ("not a map", msgpack.packb([1, 2, 3])),
    ("NaN", msgpack.packb({"op": "ping", "id": float("nan")})),
    ("Infinity", msgpack.packb({"op": "ping", "id": float("inf")})),
    ("a bin value", msgpack.packb({"op": "ping", "id": b"\x00\x01"}, use_bin_type=True)),
    ("an ext value", msgpack.packb({"op": "ping", "id": msgpack.ExtType(5, b"x")})),
    ("a timestamp", msgpack.packb({"op": "ping", "id": msgpack.Timestamp(1, 0)})),
    ("an integer key", msgpack.packb({"op": "ping", 1: 2}, strict_types=False)),
    ("a map as key", b"\x82\xa2op\xa4ping\x81\x01\x02\x03"),
    ("invalid UTF-8", b"\x82\xa2op\xa4ping\xa2id\xa2\xed\xa0"),
    ("nested too deep", b"\x91" * 5000),
    ("an unknown op", msgpack.packb({"op": "dance"})),
    ("a wrong field", msgpack.packb({"op": "cancel", "jobId": 42})),
]


def test_bad_frames_get_bad_frame_and_the_connection_stays_open(hub: LocalHub, educator: Api) -> None:
    async def go() -> None:
        ws, _ = await open_mp(hub, educator.token)
        for name, frame in BAD_FRAMES:
            await ws.send(frame)
            reply = await recv_mp(ws)
            assert (reply["op"], reply["code"]) == ("error", "bad_frame"), (name, reply)
            assert isinstance(reply["message"], str) and reply["message"], name
            await asyncio.sleep(0.03)  # under the inbound rate limit
        await ws.send(msgpack.packb({"op": "ping", "id": "still-alive"}))
        assert await recv_mp(ws) == {"op": "pong", "id": "still-alive"}
        await ws.close()

    asyncio.run(go())


def test_an_error_names_the_op_of_a_frame_that_is_not_json_carriable(hub: LocalHub, educator: Api) -> None:
    async def go() -> None:
        ws, _ = await open_mp(hub, educator.token)
        await ws.send(msgpack.packb({"op": "ping", "id": float("nan")}))
        reply = await recv_mp(ws)
        assert (reply["code"], reply.get("ref")) == ("bad_frame", "ping")
        await ws.close()

    asyncio.run(go())


@pytest.mark.parametrize(
    "first", [json.dumps({"op": "hello", "token": "x"}), b"\xc1", msgpack.packb({"op": "ping", "id": 1})]
)
def test_a_first_frame_that_is_no_msgpack_hello_closes_4400(hub: LocalHub, first: str | bytes) -> None:
    assert asyncio.run(close_code_after(hub, first)) == 4400


def test_a_packed_hello_with_a_bad_token_closes_4401(hub: LocalHub) -> None:
    assert asyncio.run(close_code_after(hub, msgpack.packb({"op": "hello", "token": "not-a-token"}))) == 4401


async def close_code_after(hub: LocalHub, first: str | bytes) -> int | None:
    """The close code of a MessagePack connection whose first frame is `first`."""
    ws, _ = await open_mp(hub, None)
    await ws.send(first)
    try:
        while True:
            await asyncio.wait_for(ws.recv(), scaled(10))
    except ConnectionClosed:
        return ws.close_code


def test_the_python_client_speaks_msgpack_when_asked(hub: LocalHub, educator: Api) -> None:
    async def go() -> None:
        client = HubClient(hub.url, educator.token, protocol="msgpack")
        done = asyncio.get_running_loop().create_future()
        got: list[dict[str, Any]] = []

        def on_status(env: dict[str, Any]) -> None:
            got.append(env)
            if env["data"]["status"] == "completed" and not done.done():
                done.set_result(None)

        client.on("quiz_status", on_status)
        welcome = await client.start()
        assert client.wire_protocol == MSGPACK and welcome["op"] == "welcome"
        await asyncio.to_thread(educator.submit_quiz, n=2)
        await asyncio.wait_for(done, scaled(60))
        assert [e["data"]["status"] for e in got][-1] == "completed"
        assert all(type(e["ts"]) is float for e in got)
        await client.close()

    asyncio.run(go())


def test_the_python_client_refuses_an_unknown_protocol() -> None:
    with pytest.raises(ValueError, match="json.*msgpack"):
        HubClient("http://127.0.0.1:1", "t", protocol="cbor")


def test_http_answers_msgpack_with_accept(hub: LocalHub, educator: Api) -> None:
    job_id = educator.submit_quiz(n=3)

    async def wait() -> None:
        ws, _ = await open_mp(hub, educator.token)
        await until_terminal(ws, job_id)
        await ws.close()

    asyncio.run(wait())
    for path in (f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/result"):
        as_json = educator.http.get(path)
        as_msgpack = educator.http.get(path, headers={"Accept": "application/msgpack"})
        assert as_json.headers["content-type"].startswith("application/json")
        assert as_msgpack.status_code == 200
        assert as_msgpack.headers["content-type"] == "application/msgpack"
        assert "accept" in as_msgpack.headers["vary"].lower()
        assert msgpack.unpackb(as_msgpack.content, raw=False) == as_json.json()
        assert len(as_msgpack.content) < len(as_json.content)
        preferred = educator.http.get(path, headers={"Accept": "application/json;q=0.5, application/msgpack"})
        assert preferred.headers["content-type"] == "application/msgpack"
        refused = educator.http.get(path, headers={"Accept": "application/msgpack;q=0, application/json"})
        assert refused.headers["content-type"].startswith("application/json")
    missing = educator.http.get("/api/jobs/no-such-job", headers={"Accept": "application/msgpack"})
    assert missing.status_code == 404 and missing.json()["detail"]  # errors stay JSON, with a sentence
