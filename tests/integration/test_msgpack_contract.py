"""PROTOCOL.md section 8 (MessagePack) and the parts of sections 2 and 7 it touches, as a raw client sees it.

The client here is written from PROTOCOL.md alone: the `websockets` library, the `msgpack` package and
httpx; nothing of the hub's own client or codecs. Every frame the hub sends on a `hub.v1.msgpack`
connection goes through `check_frame`, which walks the raw MessagePack bytes: the frame is binary, one
map (nothing after it), every map key a MessagePack str, no bin or ext value (JSON has none), every
float a float64 (0xcb) and `ts` in particular a float64, `seq` an integer. Each test names the
sentence(s) it checks.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import msgpack
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from hub.server import LocalHub
from tests.conftest import DOCUMENT, SECRET, TOKEN_LEEWAY, scaled

pytestmark = pytest.mark.integration

MSGPACK = "hub.v1.msgpack"
JSON = "hub.v1"
Frame = dict[str, Any]

# Section 2, "Server -> client": the fields each object may carry (besides `op`).
WELCOME_FIELDS = {"session", "educatorId", "epoch", "seq", "heartbeat", "resumed", "snapshot"}
WELCOME_ROOMS = {"rooms"}  # section 7: "the welcome then carries rooms" when hello carried rooms
BATCH_FIELDS = {"messages", "skipped"}
PONG_FIELDS = {"id"}
ERROR_FIELDS = {"code", "message", "ref"}
ENVELOPE_FIELDS = {"seq", "type", "ts", "data"}
ROOM_ENVELOPE_FIELDS = ENVELOPE_FIELDS | {"room"}  # section 7: "An envelope from a room carries room"
JOINED_FIELDS = {"room", "epoch", "seq", "resumed", "members", "memberCount"}
STATUSES = ("queued", "processing", "completed", "failed", "cancelled")


def sync(fn: Callable[..., Any]) -> Callable[..., None]:
    """Run an async test under asyncio.run (the project has no pytest-asyncio); pytest sees fn's signature."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def uid() -> str:
    """A short unique suffix so that educators and rooms never mix between tests of one session."""
    return uuid.uuid4().hex[:10]


def ws_url(hub: LocalHub) -> str:
    return hub.url.replace("http://", "ws://") + "/ws"


# ---------------------------------------------------------------------------------------------------
# A walker over raw MessagePack bytes (the msgpack package decodes float32 and float64 alike, and
# would hide a bin key behind raw=False; the contract speaks of the encoding, so the bytes are read).

_FIXED = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xCA: 4, 0xCB: 8}
_STR_LEN = {0xD9: 1, 0xDA: 2, 0xDB: 4}
_BIN_LEN = {0xC4: 1, 0xC5: 2, 0xC6: 4}
_EXT_LEN = {0xC7: 1, 0xC8: 2, 0xC9: 4}
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
_UINT = {1: ">B", 2: ">H", 4: ">I"}


def is_int_byte(b: int) -> bool:
    return b <= 0x7F or b >= 0xE0 or 0xCC <= b <= 0xCF or 0xD0 <= b <= 0xD3


def is_str_byte(b: int) -> bool:
    return 0xA0 <= b <= 0xBF or b in _STR_LEN


def _length(buf: bytes, pos: int, width: int) -> tuple[int, int]:
    return struct.unpack_from(_UINT[width], buf, pos)[0], pos + width


def _scan(buf: bytes, pos: int, path: tuple[Any, ...], out: list[tuple[tuple[Any, ...], int]]) -> int:
    """Record (path, type byte) for the value at `pos` and everything inside it; return the end position."""
    b = buf[pos]
    out.append((path, b))
    pos += 1
    if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
        return pos
    if 0xA0 <= b <= 0xBF:
        return pos + (b & 0x1F)
    if b in _FIXED:
        return pos + _FIXED[b]
    if b in _STR_LEN or b in _BIN_LEN:
        n, pos = _length(buf, pos, (_STR_LEN | _BIN_LEN)[b])
        return pos + n
    if b in _EXT_LEN:
        n, pos = _length(buf, pos, _EXT_LEN[b])
        return pos + 1 + n
    if b in _FIXEXT:
        return pos + 1 + _FIXEXT[b]
    if 0x90 <= b <= 0x9F or b in (0xDC, 0xDD):
        if 0x90 <= b <= 0x9F:
            n = b & 0x0F
        else:
            n, pos = _length(buf, pos, 2 if b == 0xDC else 4)
        for _ in range(n):
            pos = _scan(buf, pos, (*path, "*"), out)
        return pos
    if 0x80 <= b <= 0x8F or b in (0xDE, 0xDF):
        if 0x80 <= b <= 0x8F:
            n = b & 0x0F
        else:
            n, pos = _length(buf, pos, 2 if b == 0xDE else 4)
        for _ in range(n):
            kb = buf[pos]
            key_start = pos
            pos = _scan(buf, pos, (*path, "<key>"), out)
            key: Any = msgpack.unpackb(buf[key_start:pos], raw=False, strict_map_key=False) if is_str_byte(kb) else kb
            pos = _scan(buf, pos, (*path, key), out)
        return pos
    raise AssertionError(f"byte 0x{b:02x} at {pos - 1} is not a MessagePack type")


def check_frame(raw: str | bytes) -> Frame:
    """Section 8: "every frame ... is a binary frame holding exactly the object that JSON would carry,
    encoded as MessagePack (maps with string keys; ts a float64)". Returns the decoded object."""
    assert isinstance(raw, bytes), f"a text frame on a {MSGPACK} connection: {raw!r}"
    assert raw, "an empty binary frame"
    first = raw[0]
    assert 0x80 <= first <= 0x8F or first in (0xDE, 0xDF), f"the frame is not a map (type byte 0x{first:02x})"
    types: list[tuple[tuple[Any, ...], int]] = []
    end = _scan(raw, 0, (), types)
    assert end == len(raw), f"{len(raw) - end} bytes after the frame's object"
    for path, b in types:
        where = ".".join(map(str, path)) or "<frame>"
        if path and path[-1] == "<key>":
            assert is_str_byte(b), f"a map key that is not a str (type byte 0x{b:02x}) at {where}"
        assert b not in _BIN_LEN and b not in _EXT_LEN and b not in _FIXEXT, f"bin/ext value at {where}: no JSON value"
        assert b != 0xCA, f"a float32 at {where}: JSON's number would not survive it exactly"
        if path and path[-1] == "ts":
            assert b == 0xCB, f"ts at {where} is type byte 0x{b:02x}, not float64 (0xcb)"
        if path and path[-1] == "seq" and "data" not in path:
            assert is_int_byte(b), f"seq at {where} is type byte 0x{b:02x}, not an integer"
    obj = msgpack.unpackb(raw, raw=False)
    assert isinstance(obj, dict) and isinstance(obj.get("op"), str), obj
    return obj


def check_envelope(env: Frame, *, room: str | None = None) -> None:
    """Section 2 "Envelope" (+ section 7: `room` on room envelopes; no `seq` when ephemeral)."""
    allowed = ROOM_ENVELOPE_FIELDS if room is not None else ENVELOPE_FIELDS
    assert set(env) <= allowed, f"envelope fields {sorted(env)} beyond {sorted(allowed)}"
    assert {"type", "ts", "data"} <= set(env), env
    assert isinstance(env["type"], str) and isinstance(env["ts"], float) and isinstance(env["data"], dict), env
    if "seq" in env:
        assert isinstance(env["seq"], int) and not isinstance(env["seq"], bool), env
    if room is not None:
        assert env.get("room") == room, env


def check_fields(frame: Frame, allowed: set[str], required: set[str]) -> None:
    keys = set(frame) - {"op"}
    assert keys <= allowed, f"{frame['op']} carries {sorted(keys - allowed)}, beyond section 2's {sorted(allowed)}"
    assert required <= keys, f"{frame['op']} lacks {sorted(required - keys)}: {frame}"


# ---------------------------------------------------------------------------------------------------
# A raw client.


class Conn:
    """One raw WebSocket connection. On a MessagePack connection every received frame goes through
    `check_frame`; a background reader keeps them, in order, in `frames`."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.msgpack = ws.subprotocol == MSGPACK
        self.frames: list[Frame] = []
        self.raw: list[str | bytes] = []
        self.problems: list[str] = []
        self.closed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.raw.append(raw)
                try:
                    frame = check_frame(raw) if self.msgpack else json.loads(raw)
                except AssertionError as e:
                    self.problems.append(str(e))
                    frame = {"op": "<unreadable>", "raw": raw}
                self.frames.append(frame)
        except ConnectionClosed:
            pass
        self.closed.set()

    async def send(self, obj: Frame) -> None:
        await self.ws.send(msgpack.packb(obj, use_bin_type=True) if self.msgpack else json.dumps(obj))

    async def wait(self, pred: Callable[[Frame], bool], timeout: float = 20.0, start: int = 0) -> Frame:
        """The first frame (from index `start`) satisfying `pred`."""
        deadline = time.monotonic() + scaled(timeout)
        seen = start
        while True:
            for frame in self.frames[seen:]:
                if pred(frame):
                    self.assert_clean()
                    return frame
            seen = max(seen, len(self.frames))
            if self.closed.is_set():
                raise AssertionError(f"closed ({self.ws.close_code} {self.ws.close_reason!r}); got {self.frames}")
            assert time.monotonic() < deadline, f"timed out; got {self.frames[start:]}"
            await asyncio.sleep(0.02)

    def envelopes(self, start: int = 0) -> list[Frame]:
        return [env for f in self.frames[start:] if f["op"] == "batch" for env in f["messages"]]

    async def wait_envelope(self, pred: Callable[[Frame], bool], timeout: float = 30.0, start: int = 0) -> Frame:
        await self.wait(lambda f: f["op"] == "batch" and any(pred(e) for e in f["messages"]), timeout, start)
        return next(e for e in self.envelopes(start) if pred(e))

    async def ping(self, value: Any = None) -> Frame:
        """Section 2: ping is "answered by pong with the same id"; proves the connection is open and served."""
        ident = value if value is not None else f"p-{uid()}"
        mark = len(self.frames)
        await self.send({"op": "ping", "id": ident})
        return await self.wait(lambda f: f["op"] == "pong" and f.get("id") == ident, 10, mark)

    def assert_clean(self) -> None:
        assert not self.problems, self.problems

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


async def open_conn(
    hub: LocalHub,
    token: str | None,
    protocols: list[str] | None = None,
    hello: Frame | None = None,
    **kw: Any,
) -> tuple[Conn, Frame]:
    """Connect offering `protocols` (default: hub.v1.msgpack alone); with a token, say hello and wait for
    the welcome."""
    offer = [Subprotocol(p) for p in ([MSGPACK] if protocols is None else protocols)] or None
    ws = await connect(ws_url(hub), subprotocols=offer, **kw)
    conn = Conn(ws)
    if token is None:
        return conn, {}
    await conn.send({"op": "hello", "token": token, **(hello or {})})
    welcome = await conn.wait(lambda f: f["op"] in ("welcome", "error"), 20)
    assert welcome["op"] == "welcome", welcome
    return conn, welcome


class Http:
    def __init__(self, hub: LocalHub, token: str) -> None:
        self.http = httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def submit_quiz(self, n: int = 3) -> str:
        reply = self.http.post(
            "/api/jobs", json={"kind": "quiz_generation", "params": {"text": DOCUMENT, "numQuestions": n}}
        )
        assert reply.status_code == 202, reply.text
        return str(reply.json()["jobId"])

    def wait_done(self, job_id: str, timeout: float = 90) -> Frame:
        deadline = time.monotonic() + scaled(timeout)
        while True:
            state = self.http.get(f"/api/jobs/{job_id}").json()
            if state["status"] in ("completed", "failed", "cancelled"):
                return dict(state)
            assert time.monotonic() < deadline, state
            time.sleep(0.2)


def notify(hub: LocalHub, educator_id: str, title: str, text: str = "") -> None:
    """Publish a notification to one educator (section 5, service token)."""
    service = Http(hub, hub.token(f"mp-publisher-{uid()}", role="service"))
    data = {"level": "info", "title": title, "body": text}
    body = {"type": "notification", "data": data, "educatorIds": [educator_id]}
    reply = service.http.post("/api/publish", json=body)
    assert reply.status_code == 202, reply.text


def terminal(job_id: str) -> Callable[[Frame], bool]:
    return lambda e: e["data"].get("jobId") == job_id and e["data"].get("status") in STATUSES[2:]


# ---------------------------------------------------------------------------------------------------
# Section 8, first sentence: subprotocol selection.


@pytest.mark.parametrize(
    ("offered", "selected"),
    [
        ([MSGPACK], MSGPACK),  # "may offer the subprotocol hub.v1.msgpack (alone ...)"
        ([MSGPACK, JSON], MSGPACK),  # "... or before hub.v1)"
        ([JSON, MSGPACK], JSON),  # "the server selects the first protocol in the client's list that it supports"
        (["hub.v0.nonesuch", MSGPACK, JSON], MSGPACK),  # the first one it *supports*
        (["hub.v0.nonesuch", JSON, MSGPACK], JSON),
        ([JSON], JSON),  # section 2: "the client may offer hub.v1; the server then selects it"
        ([], None),  # offering nothing: no subprotocol, and JSON as in v1
    ],
)
@sync
async def test_the_server_selects_the_first_protocol_of_the_clients_list_that_it_supports(
    hub: LocalHub, offered: list[str], selected: str | None
) -> None:
    conn, welcome = await open_conn(hub, hub.token(f"mp-sel-{uid()}"), offered)
    try:
        assert conn.ws.subprotocol == selected
        assert welcome["op"] == "welcome"
        # On the protocol selected every frame has that protocol's form: binary MessagePack or JSON text.
        await conn.ping()
        kinds = {type(r) for r in conn.raw}
        assert kinds == ({bytes} if selected == MSGPACK else {str}), kinds
        conn.assert_clean()
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# Section 8 "every frame in both directions is a binary frame holding exactly the object that JSON
# would carry" + section 2's field lists for welcome / batch / pong / error.


@sync
async def test_welcome_pong_and_error_have_exactly_section_2s_fields_over_msgpack(hub: LocalHub) -> None:
    educator = f"mp-fields-{uid()}"
    conn, welcome = await open_conn(hub, hub.token(educator))
    try:
        check_fields(welcome, WELCOME_FIELDS, WELCOME_FIELDS)  # resumed false: snapshot present
        assert isinstance(welcome["session"], str) and isinstance(welcome["epoch"], str)
        assert welcome["educatorId"] == educator
        assert isinstance(welcome["seq"], int) and not isinstance(welcome["seq"], bool)
        assert isinstance(welcome["heartbeat"], int | float) and not isinstance(welcome["heartbeat"], bool)
        assert welcome["resumed"] is False and isinstance(welcome["snapshot"], list)

        # pong: "answer to ping" with the same id, for any JSON value.
        for ident in [
            7,
            "x",
            2.5,
            0.1,
            None,
            True,
            [1, "a", {"b": None}],
            {"nested": {"k": [1.5, -3]}},
            "",
            2**64 - 1,
            -(2**63),
        ]:
            mark = len(conn.frames)
            await conn.send({"op": "ping", "id": ident})
            pong = await conn.wait(lambda f: f["op"] in ("pong", "error"), 10, mark)
            assert pong == {"op": "pong", "id": ident}, (ident, pong)

        # error: "Unknown ops, wrong field types and extra fields that break the schema get an error
        # frame (non-fatal)": {op, code (str), message (str), ref?}.
        bads: list[Frame] = [
            {"op": "nonesuch"},
            {"op": "subscribe", "types": "quiz_status"},
            {"op": "cancel", "jobId": 3},
        ]
        for bad in bads:
            mark = len(conn.frames)
            await conn.send(bad)
            err = await conn.wait(lambda f: f["op"] == "error", 10, mark)
            check_fields(err, ERROR_FIELDS, {"code", "message"})
            assert isinstance(err["code"], str) and isinstance(err["message"], str) and err["message"], err
            await conn.ping()  # the connection stays open
        conn.assert_clean()
    finally:
        await conn.close()


@sync
async def test_the_msgpack_welcome_and_batches_are_the_objects_json_carries(hub: LocalHub) -> None:
    """Section 8: "holding exactly the object that JSON would carry". One educator, one JSON and one
    MessagePack connection: the same welcome (but session), the same envelopes seq for seq; batches
    have section 2's fields, envelopes theirs, seq ascending, ts float64 (checked on the raw bytes)."""
    educator = f"mp-same-{uid()}"
    token = hub.token(educator)
    api = Http(hub, token)
    earlier = await asyncio.to_thread(api.submit_quiz, 1)
    await asyncio.to_thread(api.wait_done, earlier)
    mp, mp_welcome = await open_conn(hub, token, [MSGPACK])
    js, js_welcome = await open_conn(hub, token, [JSON])
    try:
        assert {k: v for k, v in mp_welcome.items() if k != "session"} == {
            k: v for k, v in js_welcome.items() if k != "session"
        }
        # the snapshot's job states (section 4) are the same objects as GET /api/jobs/{jobId} answers
        (entry,) = [j for j in mp_welcome["snapshot"] if j["jobId"] == earlier]
        assert entry == (await asyncio.to_thread(api.http.get, f"/api/jobs/{earlier}")).json()
        job = await asyncio.to_thread(api.submit_quiz, 3)
        await asyncio.to_thread(
            notify, hub, educator, "héllo ✓ \U0001f600"
        )  # a non-ASCII string survives both encodings alike
        for conn in (mp, js):
            await conn.wait_envelope(terminal(job), 120)
            await conn.wait_envelope(lambda e: e["type"] == "notification", 30)
        mp_envs = {e["seq"]: e for e in mp.envelopes()}
        js_envs = {e["seq"]: e for e in js.envelopes()}
        both = set(mp_envs) & set(js_envs)
        assert both, (mp_envs, js_envs)
        for seq in sorted(both):
            assert mp_envs[seq] == js_envs[seq], (mp_envs[seq], js_envs[seq])
        for batch in (f for f in mp.frames if f["op"] == "batch"):
            check_fields(batch, BATCH_FIELDS, {"messages"})
            seqs = [e["seq"] for e in batch["messages"]]
            assert seqs == sorted(seqs), f"a batch's messages must be in ascending seq: {seqs}"
            if "skipped" in batch:
                assert isinstance(batch["skipped"], int) and not isinstance(batch["skipped"], bool), batch
            for env in batch["messages"]:
                check_envelope(env)
                assert math.isfinite(env["ts"]) and env["ts"] > 1.6e9, env  # seconds since the epoch
        # Status transitions are never skipped (section 2), whatever the encoding.
        statuses = [
            e["data"]["status"]
            for e in sorted(mp_envs.values(), key=lambda e: e["seq"])
            if e["data"].get("jobId") == job
        ]
        assert statuses[0] == "queued" and statuses[-1] == "completed" and "processing" in statuses, statuses
        mp.assert_clean()
    finally:
        await mp.close()
        await js.close()


# ---------------------------------------------------------------------------------------------------
# Section 8 "A text frame there gets an error frame (bad_frame)"; malformed MessagePack likewise (section
# 2: "An op carrying such a value gets an error frame (bad_frame)"; the error is "non-fatal: the
# connection stays open"; "Nothing that one client ... sends can stop or slow delivery to anyone else").


def _ping_bytes(id_bytes: bytes) -> bytes:
    """{"op": "ping", "id": <raw msgpack value>}."""
    return b"\x82\xa2op\xa4ping\xa2id" + id_bytes


MALFORMED: list[tuple[str, bytes]] = [
    ("never-used byte 0xc1", b"\xc1"),
    ("truncated map", b"\x82\xa2op\xa4pi"),
    ("truncated array header", b"\xdc\xff"),
    ("map32 claiming 4 billion entries", b"\xdf\xff\xff\xff\xff"),
    ("str32 claiming 4 GiB", b"\x81\xa2op\xdb\xff\xff\xff\xff"),
    ("two objects in one frame", msgpack.packb({"op": "ping", "id": 1}) + msgpack.packb({"op": "ping", "id": 2})),
    ("invalid UTF-8 in a string", b"\x81\xa2op\xa4\xff\xfe\xfd\xfc"),
    ("a lone surrogate (CESU-8) in a string", _ping_bytes(b"\xa3\xed\xa0\x80")),
    ("NaN", _ping_bytes(b"\xcb" + struct.pack(">d", math.nan))),
    ("Infinity", _ping_bytes(b"\xcb" + struct.pack(">d", math.inf))),
    ("-Infinity as float32", _ping_bytes(b"\xca" + struct.pack(">f", -math.inf))),
    ("an integer map key", b"\x82\xa2op\xa4ping\x01\x02"),
    ("a bin map key", b"\x82\xa2op\xa4ping\xc4\x02id\x01"),
    ("a bin value", _ping_bytes(b"\xc4\x03abc")),
    ("an ext value", _ping_bytes(b"\xd4\x01\x00")),
    ("a timestamp ext value", _ping_bytes(b"\xd6\xff\x00\x00\x00\x01")),
    ("an integer key inside the ping's id", _ping_bytes(b"\x81\x01\x02")),
    ("a float key inside the ping's id", _ping_bytes(b"\x81\xcb" + struct.pack(">d", 1.5) + b"\x02")),
    ("a nil key inside the ping's id", _ping_bytes(b"\x81\xc0\x02")),
    ("a bin key inside the ping's id", _ping_bytes(b"\x81\xc4\x01k\x02")),
    ("invalid UTF-8 in a key inside the ping's id", _ping_bytes(b"\x81\xa2\xc3\x28\x02")),
    ("NaN deep inside the ping's id", _ping_bytes(b"\x91\x81\xa1k\x92\x01\xcb" + struct.pack(">d", math.nan))),
    ("deep nesting", _ping_bytes(b"\x91" * 5000 + b"\xc0")),
    ("empty frame", b""),
]


@pytest.mark.parametrize("text", ['{"op": "ping", "id": 1}', "not json", ""])
@sync
async def test_a_text_frame_on_a_msgpack_connection_gets_bad_frame_and_the_connection_stays_open(
    hub: LocalHub, text: str
) -> None:
    conn, _ = await open_conn(hub, hub.token(f"mp-text-{uid()}"))
    try:
        mark = len(conn.frames)
        await conn.ws.send(text)  # a str is sent as a text frame
        err = await conn.wait(lambda f: f["op"] in ("error", "pong"), 10, mark)
        assert err["op"] == "error" and err["code"] == "bad_frame", err
        check_fields(err, ERROR_FIELDS, {"code", "message"})
        await conn.ping()
        assert not conn.closed.is_set()
        conn.assert_clean()
    finally:
        await conn.close()


@sync
async def test_malformed_msgpack_gets_bad_frame_never_a_close_and_others_are_served(hub: LocalHub) -> None:
    educator = f"mp-bad-{uid()}"
    conn, _ = await open_conn(hub, hub.token(educator))
    other, _ = await open_conn(hub, hub.token(f"mp-bystander-{uid()}"))
    wrong: list[str] = []
    try:
        for name, payload in MALFORMED:
            mark = len(conn.frames)
            await conn.ws.send(payload)  # bytes are sent as a binary frame
            try:
                answer = await conn.wait(lambda f: f["op"] in ("error", "pong"), 10, mark)
            except AssertionError as e:
                wrong.append(f"{name}: {e}")
                if conn.closed.is_set():
                    break
                continue
            if answer["op"] != "error" or answer.get("code") != "bad_frame":
                wrong.append(f"{name}: expected error bad_frame, got {answer}")
            await conn.ping()
        assert not wrong, "\n".join(wrong)
        # the bystander was served throughout, and the sender still is
        await other.ping()
        await conn.ping()
        await asyncio.to_thread(notify, hub, educator, "still delivered")
        await conn.wait_envelope(lambda e: e["data"].get("title") == "still delivered", 20)
        conn.assert_clean()
    finally:
        await conn.close()
        await other.close()


@pytest.mark.parametrize(
    "obj", [[1, 2], 5, "ping", None, {"id": 1}, {"op": 5}, {"op": "ping", "id": 1, "extra": {"x": 1}}]
)
@sync
async def test_well_formed_msgpack_that_is_not_an_op_gets_an_error_frame(hub: LocalHub, obj: Any) -> None:
    """Section 2: "Unknown ops, wrong field types and extra fields that break the schema get an error
    frame (non-fatal)". The code is not named there; any error frame, then the connection still serves."""
    conn, _ = await open_conn(hub, hub.token(f"mp-notop-{uid()}"))
    try:
        mark = len(conn.frames)
        await conn.ws.send(msgpack.packb(obj))
        answer = await conn.wait(lambda f: f["op"] in ("error", "pong"), 10, mark)
        if isinstance(obj, dict) and obj.get("op") == "ping":
            # extra fields that do not break the schema may be accepted
            assert answer["op"] in ("pong", "error"), answer
        else:
            assert answer["op"] == "error", answer
            check_fields(answer, ERROR_FIELDS, {"code", "message"})
        await conn.ping()
    finally:
        await conn.close()


@sync
async def test_before_hello_other_frames_close_4400_on_msgpack_too(hub: LocalHub) -> None:
    """Section 2: "Frames before hello, other than hello, close 4400" / 4400: "malformed or missing hello"."""
    firsts: list[Frame] = [{"op": "ping", "id": 1}, {"op": "hello"}, {"op": "hello", "token": 5}]
    for first in firsts:
        conn, _ = await open_conn(hub, None)
        try:
            await conn.send(first)
            await asyncio.wait_for(conn.closed.wait(), scaled(10))
            assert conn.ws.close_code == 4400, (first, conn.ws.close_code, conn.frames)
        finally:
            await conn.close()


@sync
async def test_a_text_frame_before_hello_on_msgpack_is_refused_without_a_crash(hub: LocalHub) -> None:
    """Ambiguity: section 8 says a text frame on a MessagePack connection "gets an error frame
    (bad_frame)"; section 2 says "Frames before hello, other than hello, close 4400". For a text frame
    sent first, either answer follows a sentence (the hub closes 4400); a crash (1011) or silence follows
    none. A text-frame hello is never taken as the hello."""
    for text in [json.dumps({"op": "hello", "token": hub.token(f"mp-early-{uid()}")}), "hi"]:
        conn, _ = await open_conn(hub, None)
        try:
            await conn.ws.send(text)
            try:
                await conn.wait(lambda f: f["op"] in ("error", "welcome"), 5)
            except AssertionError:
                pass
            assert not [f for f in conn.frames if f["op"] == "welcome"], conn.frames
            if conn.closed.is_set():
                assert conn.ws.close_code == 4400, conn.ws.close_code
            else:
                assert [f["code"] for f in conn.frames if f["op"] == "error"] == ["bad_frame"], conn.frames
            conn.assert_clean()
        finally:
            await conn.close()


@sync
async def test_a_bad_token_closes_4401_on_msgpack(hub: LocalHub) -> None:
    conn, _ = await open_conn(hub, None)
    try:
        await conn.send({"op": "hello", "token": "not-a-jwt"})
        await asyncio.wait_for(conn.closed.wait(), scaled(10))
        assert conn.ws.close_code == 4401, (conn.ws.close_code, conn.frames)
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# Section 8 "permessage-deflate applies as on JSON connections" (section 2: "the server accepts
# permessage-deflate (RFC 7692) when offered").


@pytest.mark.parametrize("compression", ["deflate", None])
@sync
async def test_permessage_deflate_on_msgpack_connections(hub: LocalHub, compression: str | None) -> None:
    educator = f"mp-deflate-{uid()}"
    token = hub.token(educator)
    conn, welcome = await open_conn(hub, token, compression=compression)
    try:
        extensions = conn.ws.response.headers.get("Sec-WebSocket-Extensions", "") if conn.ws.response else ""
        if compression == "deflate":
            assert "permessage-deflate" in extensions, extensions
        else:
            assert "permessage-deflate" not in extensions, extensions
        assert conn.ws.subprotocol == MSGPACK
        api = Http(hub, token)
        job = await asyncio.to_thread(api.submit_quiz, 3)
        await conn.wait_envelope(terminal(job), 120)
        # the deflate context survives idle periods (the session hub drops idle compressors often)
        await asyncio.sleep(scaled(1.0))
        await asyncio.to_thread(notify, hub, educator, "after idle", "after idle " * 400)
        idle = await conn.wait_envelope(lambda e: e["data"].get("title") == "after idle", 20)
        assert idle["data"]["body"] == "after idle " * 400
        # and a big compressible inbound binary frame is read
        pong = await conn.ping({"pad": "x" * 20_000})
        assert pong["id"] == {"pad": "x" * 20_000}
        conn.assert_clean()
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# Section 2 "Resume" over MessagePack: resumed true, then every message after the seq, nothing lost.


@sync
async def test_hello_with_resume_over_msgpack_returns_every_missed_message(hub: LocalHub) -> None:
    """Section 2 "Resume" on a MessagePack connection: resumed true, then every message after the seq,
    the same objects a JSON connection of the same educator (connected throughout) received; gaps only
    as counted by `skipped`. Twice: after a clean close while idle, and by dropping mid-job."""
    educator = f"mp-resume-{uid()}"
    token = hub.token(educator)
    api = Http(hub, token)
    ref, _ = await open_conn(hub, token, [JSON])  # the reference: sees the whole stream
    conn, welcome = await open_conn(hub, token)
    again: Conn | None = None
    try:
        await asyncio.to_thread(notify, hub, educator, "before")
        env = await conn.wait_envelope(lambda e: e["data"].get("title") == "before", 20)
        epoch, last = welcome["epoch"], max(e["seq"] for e in conn.envelopes())
        assert env["seq"] == last
        await conn.close()

        # while disconnected: notifications and a whole job
        titles = [f"missed-{i}" for i in range(5)]
        for title in titles:
            await asyncio.to_thread(notify, hub, educator, title)
        job = await asyncio.to_thread(api.submit_quiz, 2)
        await asyncio.to_thread(api.wait_done, job)
        await ref.wait_envelope(terminal(job), 60)

        again, welcome2 = await open_conn(hub, token, hello={"resume": {"epoch": epoch, "seq": last}})
        check_fields(welcome2, WELCOME_FIELDS, WELCOME_FIELDS - {"snapshot"})
        assert welcome2["resumed"] is True and welcome2["epoch"] == epoch, welcome2
        await again.wait_envelope(terminal(job), 30)
        await again.wait_envelope(lambda e: e["data"].get("title") == titles[-1], 30)
        envs = again.envelopes()
        seqs = [e["seq"] for e in envs]
        assert seqs[0] == last + 1, f"the first message after resume should be seq {last + 1}: {seqs}"
        assert seqs == sorted(seqs), seqs
        got_titles = [e["data"]["title"] for e in envs if e["type"] == "notification"]
        assert got_titles[: len(titles)] == titles, got_titles
        statuses = [e["data"]["status"] for e in envs if e["data"].get("jobId") == job]
        assert statuses[0] == "queued" and statuses[-1] == "completed", statuses
        _same_as_reference(again, ref, after=last)

        # drop mid-job (no close handshake: the transport just goes), then resume from the last seq seen
        job2 = await asyncio.to_thread(api.submit_quiz, 5)
        await again.wait_envelope(lambda e: e["data"].get("jobId") == job2 and e["data"]["status"] == "processing", 60)
        last2 = max(e["seq"] for e in again.envelopes())
        again.ws.transport.abort()
        await again.reader
        third, welcome3 = await open_conn(hub, token, hello={"resume": {"epoch": epoch, "seq": last2}})
        try:
            assert welcome3["resumed"] is True and welcome3["epoch"] == epoch, welcome3
            await third.wait_envelope(terminal(job2), 120)
            await ref.wait_envelope(terminal(job2), 60)
            assert third.envelopes()[0]["seq"] > last2
            _same_as_reference(third, ref, after=last2)
            third.assert_clean()
        finally:
            await third.close()
    finally:
        await ref.close()
        if again is not None and not again.closed.is_set():
            await again.close()


def _same_as_reference(conn: Conn, ref: Conn, after: int) -> None:
    """Every envelope `ref` holds with a seq after `after` (up to the last `conn` got) is in `conn`, equal,
    except as many as `conn`'s batches say they skipped, and those only superseded `processing` updates."""
    got = {e["seq"]: e for e in conn.envelopes()}
    top = max(got)
    want = {e["seq"]: e for e in ref.envelopes() if after < e["seq"] <= top}
    for seq in sorted(set(got) & set(want)):
        assert got[seq] == want[seq], (got[seq], want[seq])
    missing = sorted(set(want) - set(got))
    skipped = sum(f.get("skipped", 0) for f in conn.frames if f["op"] == "batch")
    assert len(missing) <= skipped, f"seqs {missing} lost, skipped says {skipped}"
    for seq in missing:
        assert want[seq]["data"].get("status") == "processing", f"a status transition was skipped: {want[seq]}"
    for e in got.values():
        check_envelope(e)


@sync
async def test_resume_with_an_unknown_epoch_over_msgpack_answers_a_fresh_snapshot(hub: LocalHub) -> None:
    conn, welcome = await open_conn(hub, hub.token(f"mp-epoch-{uid()}"), hello={"resume": {"epoch": "nope", "seq": 3}})
    try:
        check_fields(welcome, WELCOME_FIELDS, WELCOME_FIELDS)
        assert welcome["resumed"] is False and welcome["epoch"] != "nope"
        conn.assert_clean()
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# Section 2 `cancel` and the v1.1 `refresh` op over MessagePack.


@sync
async def test_cancel_op_over_msgpack_is_answered_by_the_jobs_cancelled_status(hub: LocalHub) -> None:
    token = hub.token(f"mp-cancel-{uid()}")
    api = Http(hub, token)
    conn, _ = await open_conn(hub, token)
    try:
        job = await asyncio.to_thread(api.submit_quiz, 50)
        await conn.wait_envelope(lambda e: e["data"].get("jobId") == job, 30)
        await conn.send({"op": "cancel", "jobId": job})
        end = await conn.wait_envelope(terminal(job), 60)
        assert end["data"]["status"] == "cancelled", end
        assert (await asyncio.to_thread(api.http.get, f"/api/jobs/{job}")).json()["status"] == "cancelled"
        assert not [f for f in conn.frames if f["op"] == "error"], conn.frames
        conn.assert_clean()
    finally:
        await conn.close()


@sync
async def test_refresh_op_over_msgpack(hub: LocalHub) -> None:
    """Section 2 "Token expiry (v1.1)": refresh -> {"op": "refreshed", "exp": ...}; another identity or an
    invalid token -> error (unauthorized), changing nothing."""
    educator = f"mp-refresh-{uid()}"
    conn, _ = await open_conn(hub, hub.token(educator, ttl=scaled(60)))
    try:
        now = int(time.time())
        later = jwt.encode({"sub": educator, "role": "educator", "iat": now, "exp": now + 3600}, SECRET, "HS256")
        mark = len(conn.frames)
        await conn.send({"op": "refresh", "token": later})
        answer = await conn.wait(lambda f: f["op"] in ("refreshed", "error"), 10, mark)
        assert answer["op"] == "refreshed", answer
        assert set(answer) == {"op", "exp"}, answer
        assert answer["exp"] == now + 3600, answer

        stranger = jwt.encode({"sub": "someone-else", "role": "educator", "iat": now, "exp": now + 7200}, SECRET)
        for bad in [stranger, "garbage"]:
            mark = len(conn.frames)
            await conn.send({"op": "refresh", "token": bad})
            err = await conn.wait(lambda f: f["op"] in ("refreshed", "error"), 10, mark)
            assert err["op"] == "error" and err["code"] == "unauthorized", err
            check_fields(err, ERROR_FIELDS, {"code", "message"})
        await conn.ping()
        conn.assert_clean()
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# Section 7 over MessagePack: join / publish with ack / typing / leave, presence envelopes.


@sync
async def test_rooms_over_msgpack(hub: LocalHub) -> None:
    room = f"quiz:mp-{uid()}"
    alice_id, bob_id = f"mp-alice-{uid()}", f"mp-bob-{uid()}"
    alice, _ = await open_conn(hub, hub.token(alice_id, rooms=["quiz:*"]))
    bob, _ = await open_conn(hub, hub.token(bob_id, rooms=["quiz:*"]))
    try:
        await alice.send({"op": "join", "room": room, "info": {"name": "Alice", "n": 1.5}})
        joined = await alice.wait(lambda f: f["op"] in ("joined", "error"), 20)
        assert joined["op"] == "joined", joined
        check_fields(joined, JOINED_FIELDS, JOINED_FIELDS)
        assert joined["room"] == room and joined["resumed"] is False and isinstance(joined["epoch"], str)

        mark = len(alice.frames)
        await bob.send({"op": "join", "room": room})
        bob_joined = await bob.wait(lambda f: f["op"] == "joined", 20)
        assert bob_joined["memberCount"] == 2, bob_joined
        assert {m["educatorId"] for m in bob_joined["members"]} == {alice_id, bob_id}, bob_joined
        (alice_entry,) = [m for m in bob_joined["members"] if m["educatorId"] == alice_id]
        assert alice_entry["info"] == {"name": "Alice", "n": 1.5} and alice_entry["connections"] == 1, alice_entry
        presence = await alice.wait_envelope(
            lambda e: e["type"] == "presence" and e["data"]["member"]["educatorId"] == bob_id, 20, mark
        )
        check_envelope(presence, room=room)
        assert "seq" in presence and presence["data"]["action"] == "join" and presence["data"]["memberCount"] == 2

        # publish with id -> ack {id, room, seq}; alice gets a room_message with bob's session
        await bob.send({"op": "publish", "room": room, "event": "edit", "data": {"q": 1, "x": 0.25}, "id": [1, "a"]})
        ack = await bob.wait(lambda f: f["op"] in ("ack", "error"), 20)
        assert ack["op"] == "ack", ack
        assert set(ack) == {"op", "id", "room", "seq"} and ack["id"] == [1, "a"] and ack["room"] == room, ack
        msg = await alice.wait_envelope(lambda e: e["type"] == "room_message" and e["data"]["event"] == "edit", 20)
        check_envelope(msg, room=room)
        assert msg["seq"] == ack["seq"] and msg["data"]["data"] == {"q": 1, "x": 0.25}, msg
        assert msg["data"]["from"]["educatorId"] == bob_id and isinstance(msg["data"]["from"]["session"], str), msg

        # ephemeral publish: ack without seq, envelope without seq
        mark_b = len(bob.frames)
        await bob.send(
            {"op": "publish", "room": room, "event": "cursor", "data": {"at": 3}, "ephemeral": True, "id": 9}
        )
        eph_ack = await bob.wait(lambda f: f["op"] in ("ack", "error"), 20, mark_b)
        assert eph_ack == {"op": "ack", "id": 9, "room": room}, eph_ack
        eph = await alice.wait_envelope(lambda e: e["type"] == "room_message" and e["data"]["event"] == "cursor", 20)
        check_envelope(eph, room=room)
        assert "seq" not in eph, eph

        # typing
        await bob.send({"op": "typing", "room": room, "typing": True})
        typing = await alice.wait_envelope(lambda e: e["type"] == "typing" and e["data"]["typing"] is True, 20)
        check_envelope(typing, room=room)
        assert "seq" not in typing and typing["data"] == {"educatorId": bob_id, "typing": True}, typing

        # a member never receives its own publishes
        assert not [e for e in bob.envelopes() if e["type"] in ("room_message", "typing")], bob.envelopes()

        # leave -> left {room}; alice sees typing false and presence leave
        mark = len(alice.frames)
        await bob.send({"op": "leave", "room": room})
        left = await bob.wait(lambda f: f["op"] == "left", 20)
        assert left == {"op": "left", "room": room}, left
        await alice.wait_envelope(lambda e: e["type"] == "typing" and e["data"]["typing"] is False, 20, mark)
        gone = await alice.wait_envelope(lambda e: e["type"] == "presence" and e["data"]["action"] == "leave", 20, mark)
        assert gone["data"]["member"]["educatorId"] == bob_id and gone["data"]["memberCount"] == 1, gone
        check_envelope(gone, room=room)

        # errors: ref = the op, code from section 7's list
        await bob.send({"op": "publish", "room": room, "event": "x", "data": {}})
        err = await bob.wait(lambda f: f["op"] == "error", 20)
        assert err["code"] == "not_joined" and err["ref"] == "publish", err
        await bob.send({"op": "join", "room": "course:elsewhere"})
        err = await bob.wait(lambda f: f["op"] == "error" and f["code"] != "not_joined", 20)
        assert err["code"] == "forbidden" and err["ref"] == "join", err
        alice.assert_clean()
        bob.assert_clean()
    finally:
        await alice.close()
        await bob.close()


@sync
async def test_hello_with_rooms_over_msgpack_rejoins_and_resumes_the_room(hub: LocalHub) -> None:
    """Section 7: hello may carry rooms; "the welcome then carries rooms: one joined object or error
    object per entry, in order"; a resumed join replays the missed room messages."""
    room = f"quiz:mp-rejoin-{uid()}"
    carol_id = f"mp-carol-{uid()}"
    token = hub.token(carol_id, rooms=["quiz:*"])
    dave, _ = await open_conn(hub, hub.token(f"mp-dave-{uid()}", rooms=["quiz:*"]), hello={"rooms": [{"room": room}]})
    erin_hello = {"rooms": [{"room": room, "presence": False}]}  # a JSON member that sees the whole room stream
    erin, _ = await open_conn(hub, hub.token(f"mp-erin-{uid()}", rooms=["quiz:*"]), [JSON], hello=erin_hello)
    carol, welcome = await open_conn(hub, token, hello={"rooms": [{"room": room}, {"room": "course:no"}]})
    try:
        check_fields(welcome, WELCOME_FIELDS | WELCOME_ROOMS, WELCOME_FIELDS | WELCOME_ROOMS)
        first, second = welcome["rooms"]
        assert first["op"] == "joined" and first["room"] == room, first
        assert second["op"] == "error" and second["code"] == "forbidden", second
        check_fields(first, JOINED_FIELDS, JOINED_FIELDS)
        room_epoch, room_seq = first["epoch"], first["seq"]
        await carol.close()

        for i in range(3):
            await dave.send({"op": "publish", "room": room, "event": f"e{i}", "data": {"i": i}, "id": i})
            await dave.wait(functools.partial(lambda f, i: f["op"] == "ack" and f["id"] == i, i=i), 20)

        carol, welcome = await open_conn(
            hub, token, hello={"rooms": [{"room": room, "resume": {"epoch": room_epoch, "seq": room_seq}}]}
        )
        (rejoined,) = welcome["rooms"]
        assert rejoined["op"] == "joined" and rejoined["resumed"] is True, rejoined
        await carol.wait_envelope(lambda e: e.get("room") == room and e["data"].get("event") == "e2", 20)
        events = [e["data"]["event"] for e in carol.envelopes() if e["type"] == "room_message"]
        assert events == ["e0", "e1", "e2"], events
        # the replay holds the same objects, seq for seq, as the live JSON member got; none missing
        await erin.wait_envelope(lambda e: e.get("room") == room and e["data"].get("event") == "e2", 20)
        got = {e["seq"]: e for e in carol.envelopes() if e.get("room") == room and "seq" in e}
        want = {e["seq"]: e for e in erin.envelopes() if e.get("room") == room and room_seq < e["seq"] <= max(got)}
        assert set(want) <= set(got), (sorted(want), sorted(got))
        for seq in want:
            assert got[seq] == want[seq], (got[seq], want[seq])
            check_envelope(got[seq], room=room)
        carol.assert_clean()
        dave.assert_clean()
    finally:
        await carol.close()
        await dave.close()
        await erin.close()


@pytest.mark.parametrize("protocol", [MSGPACK, JSON])
@sync
async def test_room_error_frames_have_section_2s_error_fields_and_only_the_documented_room(
    hub: LocalHub, protocol: str
) -> None:
    """Section 2: error is {code, message, ref?}; section 7: "Errors are error frames with ref = the op and
    code one of ...", and the welcome's `rooms` holds "one joined object or error object per entry, in
    order". The contract changes only by adding optional fields (its preamble); the one this hub adds,
    `room` (docs/protocol.md, "Beyond the contract"), must name the op's own room, and nothing else may
    appear (run on JSON too, to show that MessagePack frames are no different)."""
    room = f"quiz:mp-err-{uid()}"
    token = hub.token(f"mp-roomerr-{uid()}", rooms=["quiz:*"])
    conn, welcome = await open_conn(hub, token, [protocol], hello={"rooms": [{"room": "course:not-mine"}]})
    try:
        (entry,) = welcome["rooms"]
        errors = [("welcome.rooms[0]", entry, "course:not-mine")]
        await conn.send({"op": "publish", "room": room, "event": "x", "data": {}})
        errors.append(("publish before join", await conn.wait(lambda f: f["op"] == "error", 20), room))
        mark = len(conn.frames)
        await conn.send({"op": "join", "room": "course:not-mine"})
        errors.append(("join forbidden", await conn.wait(lambda f: f["op"] == "error", 20, mark), "course:not-mine"))
        extra = {
            name: sorted(set(err) - {"op", "room"} - ERROR_FIELDS)
            for name, err, _ in errors
            if set(err) - {"op", "room"} - ERROR_FIELDS
        }
        assert not extra, f"fields beyond section 2's error fields {sorted(ERROR_FIELDS)}: {extra}; frames {errors}"
        for name, err, its_room in errors:
            assert err["op"] == "error" and isinstance(err["code"], str) and isinstance(err["message"], str), err
            assert err.get("room", its_room) == its_room, (name, err)
        conn.assert_clean()
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# Section 8 "GET /api/jobs/{jobId}/result and GET /api/jobs/{jobId} answer MessagePack with
# Accept: application/msgpack" (the same object as the JSON answer).

ACCEPT_MSGPACK = {"Accept": "application/msgpack"}


def _check_http_msgpack(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].split(";")[0].strip() == "application/msgpack", reply.headers
    body = reply.content
    types: list[tuple[tuple[Any, ...], int]] = []
    assert _scan(body, 0, (), types) == len(body), "bytes after the body's object"
    for path, b in types:
        if path and path[-1] == "<key>":
            assert is_str_byte(b), f"a non-str key at {path}"
        assert b not in _BIN_LEN and b not in _EXT_LEN and b not in _FIXEXT and b != 0xCA, (path, hex(b))
    return msgpack.unpackb(body, raw=False)


@pytest.mark.parametrize("questions", [3, 50])
def test_job_state_and_result_answer_msgpack_with_accept(hub: LocalHub, questions: int) -> None:
    api = Http(hub, hub.token(f"mp-http-{uid()}"))
    job = api.submit_quiz(questions)
    api.wait_done(job, timeout=180)
    for path in (f"/api/jobs/{job}", f"/api/jobs/{job}/result"):
        as_json = api.http.get(path)
        assert as_json.status_code == 200 and as_json.headers["content-type"].startswith("application/json")
        as_msgpack = _check_http_msgpack(api.http.get(path, headers=ACCEPT_MSGPACK))
        assert as_msgpack == as_json.json(), (path, as_msgpack, as_json.json())
    # a service token may read any job (section 1), in MessagePack too
    service = Http(hub, hub.token(f"mp-http-svc-{uid()}", role="service"))
    state = _check_http_msgpack(service.http.get(f"/api/jobs/{job}", headers=ACCEPT_MSGPACK))
    assert state["jobId"] == job and state["status"] == "completed"


def test_http_errors_stay_json_with_accept_msgpack(hub: LocalHub) -> None:
    """Section 5: "Errors in the HTTP API are JSON: {"detail": ...}"; 404 for a job that is not the
    caller's, 409 for a result before completed, whatever the Accept header."""
    api = Http(hub, hub.token(f"mp-http-err-{uid()}"))
    missing = api.http.get("/api/jobs/no-such-job", headers=ACCEPT_MSGPACK)
    assert missing.status_code == 404, missing
    assert "detail" in missing.json(), missing.content
    job = api.submit_quiz(50)
    early = api.http.get(f"/api/jobs/{job}/result", headers=ACCEPT_MSGPACK)
    assert early.status_code == 409, early
    assert "detail" in early.json(), early.content
    api.http.post(f"/api/jobs/{job}/cancel")


def test_without_accept_msgpack_the_answers_stay_json(hub: LocalHub) -> None:
    """Section 8 is an addition: a v1 client that never asks for MessagePack sees no change."""
    api = Http(hub, hub.token(f"mp-http-plain-{uid()}"))
    job = api.submit_quiz(2)
    api.wait_done(job)
    for accept in (None, "application/json", "*/*"):
        headers = {"Accept": accept} if accept else {}
        reply = api.http.get(f"/api/jobs/{job}", headers=headers)
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json"), reply
        assert reply.json()["jobId"] == job


@sync
async def test_a_float_id_stays_a_float_and_an_int_id_an_int(hub: LocalHub) -> None:
    """Section 8 "exactly the object that JSON would carry": JSON keeps 2.0 and 2 apart; so must MessagePack."""
    conn, _ = await open_conn(hub, hub.token(f"mp-num-{uid()}"))
    try:
        mark = len(conn.frames)
        await conn.send({"op": "ping", "id": [2.0, 2, -0.0, 1e300]})
        pong = await conn.wait(lambda f: f["op"] == "pong", 10, mark)
        got = pong["id"]
        assert [type(v) for v in got] == [float, int, float, float], got
        assert got == [2.0, 2, -0.0, 1e300] and math.copysign(1, got[2]) == -1, got
    finally:
        await conn.close()


@sync
async def test_a_binary_frame_on_a_json_connection_gets_an_error_and_the_connection_stays_open(
    hub: LocalHub,
) -> None:
    """Section 2: on hub.v1 "every frame is one JSON object (text frame)"; the contract names no code for a
    binary frame there, so any error frame (non-fatal) is accepted. The answer stays a text frame."""
    conn, _ = await open_conn(hub, hub.token(f"mp-json-bin-{uid()}"), [JSON])
    try:
        mark = len(conn.frames)
        await conn.ws.send(msgpack.packb({"op": "ping", "id": 1}))
        answer = await conn.wait(lambda f: f["op"] in ("error", "pong"), 10, mark)
        assert answer["op"] == "error", answer
        check_fields(answer, ERROR_FIELDS, {"code", "message"})
        await conn.ping()
        assert {type(r) for r in conn.raw} == {str}
    finally:
        await conn.close()


@sync
async def test_an_inbound_msgpack_frame_over_64_kib_closes_1009(hub: LocalHub) -> None:
    """Section 2 close codes: 1009 "an inbound frame over the limit (64 KiB)"."""
    conn, _ = await open_conn(hub, hub.token(f"mp-big-{uid()}"), compression=None)
    try:
        await conn.ping({"pad": "y" * 60_000})  # under the limit: served
        await conn.ws.send(msgpack.packb({"op": "ping", "id": "z" * 70_000}))
        await asyncio.wait_for(conn.closed.wait(), scaled(10))
        assert conn.ws.close_code == 1009, (conn.ws.close_code, conn.frames[-3:])
    finally:
        await conn.close()


@sync
async def test_an_expired_token_closes_4401_on_msgpack(hub: LocalHub) -> None:
    """Section 2 "Token expiry": "At exp without a refresh the server closes 4401"."""
    conn, _ = await open_conn(hub, hub.token(f"mp-expiry-{uid()}", ttl=scaled(1)))
    try:
        await asyncio.wait_for(conn.closed.wait(), scaled(1) + TOKEN_LEEWAY + scaled(10))
        assert conn.ws.close_code == 4401, (conn.ws.close_code, conn.frames)
        conn.assert_clean()
    finally:
        await conn.close()


@sync
async def test_hello_types_and_subscribe_over_msgpack(hub: LocalHub) -> None:
    """Section 2: hello `types` ("all when absent") and subscribe/unsubscribe change what arrives."""
    educator = f"mp-types-{uid()}"
    token = hub.token(educator)
    conn, _ = await open_conn(hub, token, hello={"types": ["notification"]})
    try:
        api = Http(hub, token)
        job = await asyncio.to_thread(api.submit_quiz, 1)
        await asyncio.to_thread(api.wait_done, job)
        await asyncio.to_thread(notify, hub, educator, "one")
        await conn.wait_envelope(lambda e: e["data"].get("title") == "one", 20)
        assert {e["type"] for e in conn.envelopes()} == {"notification"}, conn.envelopes()
        await conn.send({"op": "subscribe", "types": ["quiz_status"]})
        await conn.send({"op": "unsubscribe", "types": ["notification"]})
        await conn.ping()
        job2 = await asyncio.to_thread(api.submit_quiz, 1)
        await asyncio.to_thread(notify, hub, educator, "two")
        await conn.wait_envelope(terminal(job2), 120)
        await asyncio.sleep(scaled(0.5))
        titles = [e["data"].get("title") for e in conn.envelopes() if e["type"] == "notification"]
        assert titles == ["one"], titles
        conn.assert_clean()
    finally:
        await conn.close()


@sync
async def test_room_publish_limits_are_measured_as_json_on_msgpack(hub: LocalHub) -> None:
    """Section 7: publish `data` is "at most 16 KiB as JSON": what counts is the JSON size, not the
    MessagePack size. 3,000 floats 0.5 are 12 KB as JSON but 27 KB as MessagePack (accepted); 8,000
    U+0001 characters are 8 KB as MessagePack but 48 KB as JSON (too_large)."""
    room = f"quiz:mp-size-{uid()}"
    conn, _ = await open_conn(hub, hub.token(f"mp-size-{uid()}", rooms=["quiz:*"]), compression=None)
    try:
        await conn.send({"op": "join", "room": room, "presence": False})
        await conn.wait(lambda f: f["op"] == "joined", 20)
        small_json = {"v": [0.5] * 3000}
        assert len(json.dumps(small_json)) < 16 * 1024 < len(msgpack.packb(small_json))
        await conn.send({"op": "publish", "room": room, "event": "floats", "data": small_json, "id": "a"})
        ack = await conn.wait(lambda f: f["op"] in ("ack", "error"), 20)
        assert ack["op"] == "ack" and isinstance(ack.get("seq"), int), ack

        big_json = {"v": "\u0001" * 8000}
        assert len(msgpack.packb(big_json)) < 16 * 1024 < len(json.dumps(big_json))
        mark = len(conn.frames)
        await conn.send({"op": "publish", "room": room, "event": "ctl", "data": big_json, "id": "b"})
        err = await conn.wait(lambda f: f["op"] in ("ack", "error"), 20, mark)
        assert err["op"] == "error" and err["code"] == "too_large" and err["ref"] == "publish", err
        await conn.ping()
    finally:
        await conn.close()


@sync
async def test_room_data_crosses_between_json_and_msgpack_members_unchanged(hub: LocalHub) -> None:
    """Section 8 "exactly the object that JSON would carry", across codecs: what a JSON member publishes
    a MessagePack member receives as the same object (floats stay floats, ints ints, non-ASCII intact),
    and the other way round."""
    room = f"quiz:mp-cross-{uid()}"
    data = {"f": 2.0, "i": 2, "neg": -7, "tiny": 5e-324, "big": 1e300, "s": "é \U0001f600 \u0000", "n": None}
    data |= {"nested": [{"a": [1.5, True, False]}], "u64": 2**64 - 1}
    mp, _ = await open_conn(hub, hub.token(f"mp-cross-m-{uid()}", rooms=["quiz:*"]), [MSGPACK])
    js, _ = await open_conn(hub, hub.token(f"mp-cross-j-{uid()}", rooms=["quiz:*"]), [JSON])
    try:
        for conn in (mp, js):
            await conn.send({"op": "join", "room": room, "presence": False})
            await conn.wait(lambda f: f["op"] == "joined", 20)

        def typed(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: typed(x) for k, x in v.items()}
            if isinstance(v, list):
                return [typed(x) for x in v]
            return (type(v).__name__, v)

        for sender, receiver, event in ((js, mp, "from-json"), (mp, js, "from-msgpack")):
            await sender.send({"op": "publish", "room": room, "event": event, "data": data})
            got = await receiver.wait_envelope(
                functools.partial(lambda e, ev: e["data"].get("event") == ev, ev=event), 20
            )
            assert typed(got["data"]["data"]) == typed(data), (event, got)
        mp.assert_clean()
    finally:
        await mp.close()
        await js.close()


@sync
async def test_no_hello_within_the_limit_closes_4408_on_msgpack(hub: LocalHub) -> None:
    """Section 2: 4408 "no hello within 10 s" (the session hub's limit is shorter: hello_timeout)."""
    conn, _ = await open_conn(hub, None)
    try:
        await asyncio.wait_for(conn.closed.wait(), hub.settings.hello_timeout + scaled(10))
        assert conn.ws.close_code == 4408, (conn.ws.close_code, conn.frames)
    finally:
        await conn.close()


@sync
async def test_a_disallowed_origin_gets_4403_on_msgpack(hub: LocalHub) -> None:
    """Section 2: 4403 "the Origin is not allowed" (the session hub allows loopback origins only)."""
    conn, _ = await open_conn(hub, None, origin="https://evil.example")
    try:
        await asyncio.wait_for(conn.closed.wait(), scaled(10))
        assert conn.ws.close_code == 4403, (conn.ws.close_code, conn.frames)
    finally:
        await conn.close()
