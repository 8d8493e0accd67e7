"""Hypothesis-driven fuzzing of the WebSocket and HTTP surfaces: 500+ malformed, oversized,
wrongly-typed and out-of-order frames and bodies. Each gets its error frame, close code or 4xx;
the server stays up; a well-behaved client alongside receives every message meant for it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from hub.server import LocalHub
from tests.conftest import scaled
from tests.integration.conftest import Api, open_ws

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
# Frames that are wrong by construction, once a connection has said hello.
bad_frames = st.one_of(
    st.text(max_size=40).filter(lambda t: not _is_json_object(t)),  # not a JSON object at all
    st.lists(json_values, max_size=3).map(json.dumps),  # JSON, but not an object
    st.dictionaries(st.sampled_from(["op", "jobId", "types", "id", "token"]), json_values, max_size=4)
    .filter(lambda d: d.get("op") not in ("ping", "subscribe", "unsubscribe", "cancel"))
    .map(json.dumps),
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["subscribe", "unsubscribe"]),
            "types": st.lists(st.text(max_size=12), min_size=1, max_size=3).filter(
                lambda ts: any(t not in _TYPES for t in ts)
            ),
        }
    ).map(json.dumps),
    st.fixed_dictionaries({"op": st.just("cancel"), "jobId": st.integers() | st.none() | st.lists(st.integers())}).map(
        json.dumps
    ),
    st.fixed_dictionaries({"op": st.just("ping"), "id": json_values, "extra": json_values}).map(json.dumps),
    st.fixed_dictionaries({"op": st.just("hello"), "token": st.text(max_size=20)}).map(json.dumps),
)
_TYPES = {"quiz_status", "question_replace", "document_processing", "analytics_update", "notification"}

bad_bodies = st.one_of(
    st.fixed_dictionaries({"kind": st.text(max_size=20) | st.integers() | st.none(), "params": json_values}),
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["quiz_generation", "document_processing", "question_replace"]),
            "params": st.fixed_dictionaries(
                {"numQuestions": st.integers(51, 10**6) | st.text(max_size=5), "text": json_values}
            ),
        }
    ),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    json_values,
)


def _is_hello(text: str) -> bool:
    """A well-formed hello (with a made-up token): refused 4401 rather than 4400."""
    return _is_json_object(text) and set(json.loads(text)) == {"op", "token"} and json.loads(text)["op"] == "hello"


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


@settings(
    max_examples=1,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.data_too_large, HealthCheck.too_slow],
)
@given(
    frames=st.lists(bad_frames, min_size=400, max_size=400),
    before_hello=st.lists(bad_frames, min_size=12, max_size=12),
    bodies=st.lists(bad_bodies, min_size=150, max_size=150),
)
def test_fuzzed_input_gets_errors_and_hurts_no_one(
    hub: LocalHub, frames: list[str], before_hello: list[str], bodies: list[Any]
) -> None:
    watcher = Api(hub, hub.token("fuzz-watcher"))
    service = Api(hub, hub.token("fuzz-service", role="service"))
    fuzzers = [Api(hub, hub.token(f"fuzz-{i}")) for i in range(10)]

    async def fuzz_connection(api: Api, chunk: list[str]) -> tuple[int, int]:
        ws, welcome = await open_ws(hub, {"token": api.token})
        assert welcome["op"] == "welcome"
        answers = 0
        for frame in chunk:
            await ws.send(frame)
            reply = json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))
            assert reply["op"] == "error" and reply["code"] and reply["message"], (frame, reply)
            answers += 1
            await asyncio.sleep(0.04)  # under the inbound rate limit: we test validation here
        await ws.send(json.dumps({"op": "ping", "id": "still-alive"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), scaled(10))) == {"op": "pong", "id": "still-alive"}
        await ws.close()
        return answers, len(chunk)

    async def before_hello_codes() -> list[int | None]:
        codes = []
        for frame in before_hello:
            ws, _ = await open_ws(hub, None)
            try:
                await ws.send(frame)
                while True:
                    await asyncio.wait_for(ws.recv(), scaled(10))
            except ConnectionClosed:
                codes.append(ws.close_code)
        ws, _ = await open_ws(hub, None)
        try:
            await ws.send(b"\x00binary")
            await asyncio.wait_for(ws.recv(), scaled(10))
        except ConnectionClosed:
            codes.append(ws.close_code)
        return codes

    async def watcher_gets_everything() -> list[int]:
        ws, _ = await open_ws(hub, {"token": watcher.token})
        for n in range(40):
            reply = await asyncio.to_thread(
                service.http.post,
                "/api/publish",
                json={"type": "notification", "data": {"title": f"n{n}"}, "educatorIds": ["fuzz-watcher"]},
            )
            assert reply.status_code == 202
            await asyncio.sleep(0.05)
        got: list[int] = []
        while len(got) < 40:
            frame = json.loads(await asyncio.wait_for(ws.recv(), scaled(20)))
            got += [int(m["data"]["title"][1:]) for m in frame.get("messages", [])]
        await ws.close()
        return got

    def post_bodies() -> list[int]:
        statuses = []
        for i, body in enumerate(bodies):
            api = fuzzers[i % len(fuzzers)]
            path = "/api/jobs" if i % 3 else "/api/publish"
            statuses.append(
                api.http.post(path, content=json.dumps(body), headers={"content-type": "application/json"}).status_code
            )
        return statuses

    async def everything() -> tuple[list[tuple[int, int]], list[int | None], list[int], list[int]]:
        chunks = [frames[i :: len(fuzzers)] for i in range(len(fuzzers))]
        return await asyncio.gather(
            asyncio.gather(*(fuzz_connection(api, chunk) for api, chunk in zip(fuzzers, chunks, strict=False))),
            before_hello_codes(),
            watcher_gets_everything(),
            asyncio.to_thread(post_bodies),
        )

    answered, codes, watched, statuses = asyncio.run(everything())
    assert all(a == n for a, n in answered) and sum(n for _, n in answered) == len(frames)
    expected = [4401 if _is_hello(f) else 4400 for f in before_hello] + [4400]  # + the binary frame
    assert codes == expected
    assert watched == list(range(40))  # every message, in order, for the well-behaved client
    assert set(statuses) <= {400, 403, 404, 413, 422, 429}, sorted(set(statuses))
    assert httpx.get(hub.url + "/healthz").status_code == 200
