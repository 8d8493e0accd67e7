"""Hypothesis-driven fuzzing of the WebSocket and HTTP surfaces: 500+ malformed, oversized,
wrongly-typed and out-of-order frames and bodies. Each gets its error frame, close code or 4xx;
the server stays up; a well-behaved client alongside receives every message meant for it."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from typing import Any

import httpx
import msgpack
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hub.core.rooms import is_room_id
from hub.server import LocalHub
from tests.conftest import scaled, until
from tests.integration.conftest import Api, open_ws, ws_url

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


# -- rooms (PROTOCOL.md section 7) --------------------------------------------------------------
# Each case: (frame text, the error code it must get, its `ref`, the `room` the error must carry or
# None). "quiz:JOINED" stands for the room the fuzzing connection is in (replaced per connection);
# every token here may use "quiz:*" only.
JOINED = "quiz:JOINED"
_ROOM_OPS = ("join", "leave", "publish", "typing")
_VALID: dict[str, dict[str, Any]] = {
    "join": {"op": "join", "room": JOINED},
    "leave": {"op": "leave", "room": JOINED},
    "publish": {"op": "publish", "room": JOINED, "event": "comment", "data": {"t": 1}},
    "typing": {"op": "typing", "room": JOINED, "typing": True},
}
_FIELDS = {  # op -> field -> what the contract says it is (`id` of a publish may be any JSON value)
    "join": {"room": "room", "presence": "bool", "info": "object?", "resume": "resume?"},
    "leave": {"room": "room"},
    "publish": {"room": "room", "event": "event", "data": "object", "ephemeral": "bool"},
    "typing": {"room": "room", "typing": "bool"},
}
_REQUIRED = {"join": ["room"], "leave": ["room"], "publish": ["room", "event", "data"], "typing": ["room", "typing"]}
Case = tuple[str, str, str | None, str | None]
room_ids = st.from_regex(r"[A-Za-z0-9_.:@-]{1,40}", fullmatch=True)
bad_room_ids = st.one_of(
    st.just(""),
    st.text(alphabet="abc:", min_size=129, max_size=200),
    st.text(min_size=1, max_size=20).filter(lambda t: not is_room_id(t)),
    room_ids.map(lambda r: r + " "),
    room_ids.map(lambda r: r + "/x"),
    room_ids.map(lambda r: r + "*"),
)


def _not(kind: str) -> st.SearchStrategy[Any]:
    """JSON values that are not of `kind` (a field's type in the contract; `?`: null is allowed)."""
    others = json_values.filter(lambda v: v is not None) if kind.endswith("?") else json_values
    if kind == "room":
        return others.filter(lambda v: not isinstance(v, str)) | bad_room_ids
    if kind == "bool":  # a lenient reader would take "off" as false and 1 as true
        return others.filter(lambda v: not isinstance(v, bool)) | st.sampled_from(["true", "off", "yes", 1, 0])
    if kind in ("object", "object?"):
        return others.filter(lambda v: not isinstance(v, dict))
    if kind == "resume?":
        wrong_seq = st.fixed_dictionaries(
            {"epoch": st.text(max_size=8), "seq": st.sampled_from(["3", True, 1.5, -1, None, [1]])}
        )
        odd = st.sampled_from([{"epoch": "e"}, {"seq": 1}, {"epoch": 5, "seq": 1}, {"epoch": "e", "seq": 1, "x": 1}])
        return others.filter(lambda v: not isinstance(v, dict)) | wrong_seq | odd
    if kind == "event":
        too_long = st.text(alphabet="ev", min_size=65, max_size=120)
        return others.filter(lambda v: not isinstance(v, str)) | st.just("") | too_long
    raise AssertionError(kind)


def _case(frame: dict[str, Any], code: str) -> Case:
    """The error a frame must get: its `ref` is its op; its `room`, the frame's when a valid room id."""
    op = frame.get("op")
    room = frame.get("room")
    ref = op if isinstance(op, str) else None
    return json.dumps(frame), code, ref, room if ref in _ROOM_OPS and is_room_id(room) else None


@st.composite
def wrong_typed(draw: st.DrawFn) -> Case:
    op = draw(st.sampled_from(_ROOM_OPS))
    name = draw(st.sampled_from(sorted(_FIELDS[op])))
    return _case({**_VALID[op], name: draw(_not(_FIELDS[op][name]))}, "bad_frame")


@st.composite
def missing_or_extra(draw: st.DrawFn) -> Case:
    op = draw(st.sampled_from(_ROOM_OPS))
    frame = dict(_VALID[op])
    if draw(st.booleans()):
        del frame[draw(st.sampled_from(_REQUIRED[op]))]
    else:
        extras = ["extra", "Room", "rooms", "members", "seq", "educatorId", "session", "token", "ack"]
        frame[draw(st.sampled_from(extras))] = draw(json_values)
    return _case(frame, "bad_frame")


@st.composite
def not_strict_json(draw: st.DrawFn) -> Case:
    token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", '"\\ud800"', '"a\\udfffb"']))
    if draw(st.booleans()):
        return f'{{"op": "join", "room": "{JOINED}", "info": {{"x": {token}}}}}', "bad_frame", "join", JOINED
    text = f'{{"op": "publish", "room": "{JOINED}", "event": "comment", "data": {{"x": {token}}}}}'
    return text, "bad_frame", "publish", JOINED


@st.composite
def unknown_op(draw: st.DrawFn) -> Case:
    base = draw(st.sampled_from(_ROOM_OPS))
    variants = ["Join", "JOIN", "joined", "left", "join ", "leave_room", "pub", "publish2", "Typing", "presence"]
    op = draw(st.sampled_from(variants) | st.sampled_from([base + "s", " " + base, base.upper()]))
    return _case({**_VALID[base], "op": op}, "bad_frame")


@st.composite
def refused(draw: st.DrawFn) -> Case:
    """Well-formed ops the hub refuses: forbidden joins, ops on rooms not joined, oversized info or data."""
    kind = draw(st.sampled_from(["forbidden", "not_joined", "big_info", "big_data"]))
    if kind == "forbidden":
        room = draw(room_ids.filter(lambda r: not r.startswith("quiz:")))
        return _case({"op": "join", "room": room, "presence": draw(st.booleans())}, "forbidden")
    if kind == "not_joined":
        room = "quiz:nj-" + draw(st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True))
        frame = draw(st.sampled_from([_VALID["publish"], _VALID["typing"]]))
        return _case({**frame, "room": room}, "not_joined")
    if kind == "big_info":
        room = draw(st.sampled_from([JOINED, "quiz:other"]))
        return _case({"op": "join", "room": room, "info": {"blob": "i" * draw(st.integers(1025, 20_000))}}, "too_large")
    data = {"blob": "d" * draw(st.integers(16 * 1024, 60_000))}  # under the 64 KiB frame limit
    return _case({**_VALID["publish"], "data": data, "id": 1}, "too_large")


room_cases = st.one_of(wrong_typed(), missing_or_extra(), not_strict_json(), unknown_op(), refused())

# hello.rooms: a malformed entry makes the hello malformed (4400, PROTOCOL.md section 2); a forbidden or
# oversized one is an error object in welcome.rooms, in order, the others joined.
hello_room_entries = st.one_of(
    st.builds(lambda r: ({"room": "quiz:h-" + r}, "joined"), st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)),
    st.builds(lambda r: ({"room": r}, "forbidden"), room_ids.filter(lambda r: not r.startswith("quiz:"))),
    st.builds(lambda n: ({"room": "quiz:h-big", "info": {"b": "x" * n}}, "too_large"), st.integers(1025, 4000)),
    st.builds(lambda r: ({"room": r}, "malformed"), bad_room_ids.filter(lambda r: len(r) < 200)),
    st.builds(lambda v: ({"room": "quiz:h-x", "presence": v}, "malformed"), _not("bool")),
    st.builds(lambda v: ({"room": "quiz:h-x", "extra": v}, "malformed"), json_values),
)


async def _answer(ws: ClientConnection) -> dict[str, Any]:
    """The next frame that is not a batch."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))
        if frame["op"] != "batch":
            return dict(frame)


@settings(
    max_examples=1,
    deadline=None,
    phases=[Phase.generate],  # a failing run is reported as drawn: shrinking re-runs minutes of sockets
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.data_too_large, HealthCheck.too_slow],
)
@given(
    cases=st.lists(room_cases, min_size=240, max_size=240),
    hellos=st.lists(st.lists(hello_room_entries, min_size=1, max_size=4), min_size=12, max_size=12),
)
def test_fuzzed_room_ops_get_their_codes_and_reach_no_one(hub: LocalHub, cases: list[Case], hellos: list[Any]) -> None:
    """240 malformed or refused room ops over 4 connections, each answered by its `error` (code, ref,
    room); the connections stay open; a watcher in their rooms receives nothing from any of them (only
    their presence and one valid publish each, the control). Then the room and rate limits, and
    malformed or refused hello.rooms."""
    uid = uuid.uuid4().hex[:8]
    fuzzers = 4

    async def fuzz(i: int, chunk: list[Case]) -> int:
        room = f"quiz:fz-{i}-{uid}"
        token = hub.token(f"room-fuzz-{i}", rooms=["quiz:*"])
        ws, welcome = await open_ws(hub, {"token": token, "rooms": [{"room": room}]})
        assert welcome["rooms"][0]["op"] == "joined"
        for text, code, ref, shown in chunk:
            await ws.send(text.replace(JOINED, room))
            reply = await _answer(ws)
            assert reply["op"] == "error" and reply["code"] == code and reply.get("ref") == ref, (text[:300], reply)
            assert reply.get("room") == (shown.replace(JOINED, room) if shown else None), (text[:300], reply)
            assert isinstance(reply["message"], str) and reply["message"] and "Traceback" not in reply["message"]
            await asyncio.sleep(0.06)  # under the inbound and room op rates: validation is tested here
        await ws.send(json.dumps({"op": "ping", "id": f"alive-{i}"}))
        assert await _answer(ws) == {"op": "pong", "id": f"alive-{i}"}
        # the control: a valid publish does reach the watcher
        await ws.send(json.dumps({"op": "publish", "room": room, "event": "done", "data": {"i": i}, "id": "c"}))
        assert (await _answer(ws))["op"] == "ack"
        await ws.close()
        return len(chunk)

    async def room_limits() -> list[str]:
        """Past 100 rooms: too_large; past 20 publish and typing ops a second: rate_limited (not a close)."""
        codes = []
        ws, _ = await open_ws(hub, {"token": hub.token(f"room-limits-{uid}", rooms=["quiz:*"])})
        for n in range(105):
            await ws.send(json.dumps({"op": "join", "room": f"quiz:lim-{uid}-{n}", "presence": False}))
            reply = await _answer(ws)
            if n < 100:
                assert reply["op"] == "joined", reply
            else:
                assert reply["message"] == "at most 100 rooms per connection; leave one first"
                assert reply["ref"] == "join" and reply["room"] == f"quiz:lim-{uid}-{n}"
                codes.append(reply["code"])
            await asyncio.sleep(0.055)  # under the inbound rate (20 frames a second)
        await asyncio.sleep(2.1)  # the inbound bucket full again (a burst of 40)
        room = f"quiz:lim-{uid}-0"
        for _ in range(35):  # at once: within the inbound burst, over the room ops' (20)
            await ws.send(json.dumps({"op": "typing", "room": room, "typing": True}))
        await ws.send(json.dumps({"op": "ping", "id": "typed"}))  # a typing that passes has no answer
        while (reply := await _answer(ws))["op"] != "pong":
            assert reply["op"] == "error" and reply["ref"] == "typing" and reply["room"] == room, reply
            codes.append(reply["code"])
        await asyncio.sleep(1.1)
        await ws.send(json.dumps({"op": "ping", "id": "limits"}))
        assert await _answer(ws) == {"op": "pong", "id": "limits"}
        await ws.close()
        return codes

    async def hello_rooms() -> int:
        malformed = 0
        for n, entries in enumerate(hellos):
            rooms = [e for e, _ in entries]
            ws, _ = await open_ws(hub, None)
            await ws.send(
                json.dumps({"op": "hello", "token": hub.token(f"room-hello-{n}", rooms=["quiz:*"]), "rooms": rooms})
            )
            if any(kind == "malformed" for _, kind in entries):
                malformed += 1
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), scaled(10))
                except ConnectionClosed:
                    assert ws.close_code == 4400, rooms
                continue
            welcome = json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))
            assert [a["op"] if a["op"] == "joined" else a["code"] for a in welcome["rooms"]] == [k for _, k in entries]
            for entry, answer in zip(rooms, welcome["rooms"], strict=True):
                assert answer["room"] == entry["room"]
                assert answer["op"] == "joined" or (answer["ref"] == "join" and answer["message"])
            await ws.send(json.dumps({"op": "ping", "id": n}))
            assert await _answer(ws) == {"op": "pong", "id": n}
            await ws.close()
        return malformed

    async def everything() -> tuple[list[int], list[str], list[dict[str, Any]]]:
        rooms = [{"room": f"quiz:fz-{i}-{uid}", "presence": False} for i in range(fuzzers)]
        token = hub.token(f"room-watch-{uid}", rooms=["quiz:*"])
        watcher, welcome = await open_ws(hub, {"token": token, "rooms": rooms})
        assert [r["op"] for r in welcome["rooms"]] == ["joined"] * fuzzers
        got: list[dict[str, Any]] = []

        async def watch() -> None:
            async for raw in watcher:
                frame = json.loads(raw)
                if frame["op"] == "batch":
                    got.extend(frame["messages"])

        reader = asyncio.get_running_loop().create_task(watch())
        chunks = [cases[i::fuzzers] for i in range(fuzzers)]
        counts, codes, _ = await asyncio.gather(
            asyncio.gather(*(fuzz(i, chunk) for i, chunk in enumerate(chunks))), room_limits(), hello_rooms()
        )
        await until(lambda: sum(e["type"] == "presence" for e in got) >= 2 * fuzzers, 10, "the fuzzers' leaves")
        await asyncio.sleep(0.3)
        reader.cancel()
        await watcher.close()
        return list(counts), codes, got

    counts, codes, got = asyncio.run(everything())
    assert sum(counts) == len(cases) >= 200
    assert codes[:5] == ["too_large"] * 5 and codes[5:].count("rate_limited") >= 10, codes
    assert set(codes[5:]) == {"rate_limited"}
    # the watcher saw the fuzzers come and go and their controls: nothing from any refused op
    assert sorted(e["data"]["data"]["i"] for e in got if e["type"] == "room_message") == list(range(fuzzers))
    assert {e["data"]["event"] for e in got if e["type"] == "room_message"} == {"done"}
    assert {e["type"] for e in got} == {"room_message", "presence"}
    presence = sorted((e["data"]["member"]["educatorId"], e["data"]["action"]) for e in got if e["type"] == "presence")
    assert presence == sorted((f"room-fuzz-{i}", action) for i in range(fuzzers) for action in ("join", "leave"))
    assert httpx.get(hub.url + "/healthz").status_code == 200


# -- MessagePack (PROTOCOL.md section 8) --------------------------------------------------------------
# Each case: (frame, the code its error must carry; None: any error code). On a hub.v1.msgpack connection
# a text frame, bytes that are not one MessagePack value, and a value JSON cannot carry are `bad_frame`.
MpCase = tuple[str | bytes, str | None]
_NOT_JSON = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.binary(max_size=8),
    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4)),
    st.builds(msgpack.Timestamp, st.integers(0, 2**32 - 1), st.integers(0, 999_999_999)),
)


def _unpacks_to_map(data: bytes) -> bool:
    try:
        return isinstance(msgpack.unpackb(data, raw=False, strict_map_key=False), dict)
    except Exception:  # whatever garbage makes the unpacker raise: not a map
        return False


mp_cases = st.one_of(
    st.binary(min_size=0, max_size=60).filter(lambda b: not _unpacks_to_map(b)).map(lambda b: (b, "bad_frame")),
    st.text(max_size=40).map(lambda t: (t, "bad_frame")),  # a text frame
    st.fixed_dictionaries(
        {"op": st.sampled_from(["ping", "subscribe", "cancel", "join", "publish"]), "id": _NOT_JSON}
    ).map(lambda d: (msgpack.packb(d, use_bin_type=True), "bad_frame")),
    st.fixed_dictionaries({"op": st.just("ping"), "id": st.lists(_NOT_JSON, min_size=1, max_size=3)}).map(
        lambda d: (msgpack.packb(d, use_bin_type=True), "bad_frame")
    ),
    st.tuples(st.text(max_size=12), st.integers(1, 8)).map(  # a valid frame, cut short
        lambda tn: (msgpack.packb({"op": "ping", "id": tn[0] + "#" * 9})[: -tn[1]], "bad_frame")
    ),
    bad_frames.filter(_is_json_object).map(lambda t: (msgpack.packb(json.loads(t)), None)),  # JSON's bad ops
)


async def _answer_mp(ws: ClientConnection) -> dict[str, Any]:
    """The next frame that is not a batch, unpacked (a text frame here fails the test)."""
    while True:
        frame = await asyncio.wait_for(ws.recv(), scaled(10))
        assert isinstance(frame, bytes), frame
        value = msgpack.unpackb(frame, raw=False)
        if value["op"] != "batch":
            return dict(value)


@settings(
    max_examples=1,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.data_too_large, HealthCheck.too_slow],
)
@given(
    cases=st.lists(mp_cases, min_size=300, max_size=300),
    firsts=st.lists(st.binary(max_size=30) | st.text(max_size=30), min_size=10, max_size=10),
)
def test_fuzzed_msgpack_frames_get_bad_frame_and_hurt_no_one(
    hub: LocalHub, cases: list[MpCase], firsts: list[str | bytes]
) -> None:
    """300 malformed MessagePack frames over 6 hub.v1.msgpack connections, each answered by its `error`;
    the connections stay open; 10 bad first frames close 4400; a MessagePack watcher receives every
    message meant for it, in order."""
    uid = uuid.uuid4().hex[:8]
    service = Api(hub, hub.token("mp-fuzz-service", role="service"))
    mp = ["hub.v1.msgpack"]

    async def fuzz(i: int, chunk: list[MpCase]) -> int:
        ws = await connect(ws_url(hub), subprotocols=mp)  # type: ignore[arg-type]
        await ws.send(msgpack.packb({"op": "hello", "token": hub.token(f"mp-fuzz-{i}-{uid}")}))
        assert (await _answer_mp(ws))["op"] == "welcome"
        for frame, code in chunk:
            await ws.send(frame)
            reply = await _answer_mp(ws)
            assert reply["op"] == "error" and reply["code"] == (code or reply["code"]), (frame, reply)
            assert isinstance(reply["message"], str) and reply["message"] and "Traceback" not in reply["message"]
            await asyncio.sleep(0.04)  # under the inbound rate limit: validation is tested here
        await ws.send(msgpack.packb({"op": "ping", "id": f"alive-{i}"}))
        assert await _answer_mp(ws) == {"op": "pong", "id": f"alive-{i}"}
        await ws.close()
        return len(chunk)

    async def first_frames() -> list[int | None]:
        codes = []
        for first in firsts:
            ws = await connect(ws_url(hub), subprotocols=mp)  # type: ignore[arg-type]
            try:
                await ws.send(first)
                while True:
                    await asyncio.wait_for(ws.recv(), scaled(10))
            except ConnectionClosed:
                codes.append(ws.close_code)
        return codes

    async def watcher_gets_everything() -> list[int]:
        ws = await connect(ws_url(hub), subprotocols=mp, compression="deflate")  # type: ignore[arg-type]
        await ws.send(msgpack.packb({"op": "hello", "token": hub.token(f"mp-watcher-{uid}")}))
        assert (await _answer_mp(ws))["op"] == "welcome"
        for n in range(40):
            reply = await asyncio.to_thread(
                service.http.post,
                "/api/publish",
                json={"type": "notification", "data": {"title": f"n{n}"}, "educatorIds": [f"mp-watcher-{uid}"]},
            )
            assert reply.status_code == 202
            await asyncio.sleep(0.05)
        got: list[int] = []
        while len(got) < 40:
            frame = msgpack.unpackb(await asyncio.wait_for(ws.recv(), scaled(20)), raw=False)
            got += [int(m["data"]["title"][1:]) for m in frame.get("messages", [])]
        await ws.close()
        return got

    async def everything() -> tuple[list[int], list[int | None], list[int]]:
        chunks = [cases[i::6] for i in range(6)]
        return await asyncio.gather(
            asyncio.gather(*(fuzz(i, chunk) for i, chunk in enumerate(chunks))),
            first_frames(),
            watcher_gets_everything(),
        )

    counts, codes, watched = asyncio.run(everything())
    assert sum(counts) == len(cases)
    assert codes == [4400] * len(firsts)
    assert watched == list(range(40))
    assert httpx.get(hub.url + "/healthz").status_code == 200
