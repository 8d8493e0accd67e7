"""Strict JSON (PROTOCOL.md section 2): the rule (hub.core.strictjson), client frames, and the relay's
isolation of a failed write or a dead pump. No Ray, no sockets: a plain RegistryShard and fake writers."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketState

from actors.registry import RegistryShard
from actors.store import JobStore
from hub.core import strictjson
from hub.core.config import ShardConfig
from hub.core.errors import BadFrame, HubError
from hub.core.protocol import dumps, error_frame, parse_client_frame, pong_frame, welcome_frame
from hub.core.records import FeedBatch
from hub.ingress.connection import Connection, close_frame, fit_reason
from hub.ingress.relay import Relay
from hub.metrics import IngressMetrics
from tests.strict_values import CONSTANTS, OVERFLOWS, SURROGATE_FRAMES, lenient_text, values
from tests.unit.fakesocket import make_connection


def is_strict(text: str) -> bool:
    """The text is strict JSON and valid UTF-8 (what a browser's JSON.parse and any RFC 8259 reader take)."""
    text.encode("utf-8")  # raises on a lone surrogate
    strictjson.loads(text)  # raises on NaN, Infinity, an escaped lone surrogate
    return True


# -- the rule -------------------------------------------------------------------------------


BAD_TEXTS = [
    *SURROGATE_FRAMES,
    *(f'{{"op":"ping","id":{c}}}' for c in CONSTANTS),
    *(f'{{"op":"ping","id":{n}}}' for n in OVERFLOWS),
    '{"type":"analytics_update","data":{"updates":{"v":NaN}}}',
    '{"type":"analytics_update","data":{"updates":{"v":Infinity}}}',
    '{"type":"analytics_update","data":{"updates":{"v":1e999}}}',
    '{"kind":"quiz_generation","params":{"text":"x","numQuestions":-Infinity}}',
    '{"kind":"quiz_generation","params":{"text":"\\udc00"}}',
    '[[[{"deep":[NaN]}]]]',
]


@pytest.mark.parametrize("text", BAD_TEXTS)
def test_loads_refuses_what_strict_json_forbids_with_a_sentence(text: str) -> None:
    with pytest.raises(strictjson.NotStrictJSON) as info:
        strictjson.loads(text)
    assert "surrogate" in info.value.msg or "is not a JSON number" in info.value.msg
    with pytest.raises(strictjson.NotStrictJSON):
        strictjson.loads(text.encode())  # the same as bytes (an HTTP body)


def test_loads_refuses_surrogates_encoded_in_utf8_bytes() -> None:
    # Python's json.loads reads bytes with 'surrogatepass': ED A0 BD would become a lone surrogate.
    assert json.loads(b'"\xed\xa0\xbd"') == "\ud83d"
    with pytest.raises(strictjson.NotStrictJSON, match="not valid UTF-8"):
        strictjson.loads(b'{"id":"\xed\xa0\xbd"}')


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"\\ud83d\\ude00"', "\U0001f600"),  # an escaped pair is one valid character
        ('"\\\\ud83d"', "\\ud83d"),  # an escaped backslash, then plain letters
        ("1.7976931348623157e308", 1.7976931348623157e308),  # the largest double
        ("-0.0", -0.0),
        ('{"NaN":"Infinity"}', {"NaN": "Infinity"}),  # the words inside strings are fine
        ("1e-999", 0.0),  # underflow is a finite number
    ],
)
def test_loads_accepts_strict_json(text: str, value: Any) -> None:
    assert strictjson.loads(text) == value


def test_dumps_refuses_and_dumps_safe_makes_safe() -> None:
    for bad in ({"v": math.nan}, {"v": math.inf}, [-math.inf], {"s": "\ud83d"}, {"\udc00": 1}):
        with pytest.raises(strictjson.UnsafeValue):
            dumps(bad)
    text, problem = strictjson.dumps_safe({"v": math.nan, "w": [math.inf, "a\ud83db"], "\udc00": (1, 2)})
    assert problem is not None and "v" in problem
    assert json.loads(text) == {"v": None, "w": [None, "a\ufffdb"], "\ufffd": [1, 2]}
    assert is_strict(text)


def test_safe_cuts_cycles_and_depth_and_values_without_a_json_form() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    assert strictjson.safe(loop) == [1, None]
    deep: list[Any] = []
    cur = deep
    for _ in range(1000):
        cur.append([])
        cur = cur[0]
    text, problem = strictjson.dumps_safe(deep)
    assert problem is not None and is_strict(text)
    assert strictjson.safe({"when": object(), "set": {1}}) == {"when": None, "set": None}


def test_frame_builders_never_raise_and_write_strict_json() -> None:
    assert json.loads(pong_frame(math.nan)) == {"op": "pong", "id": None}
    assert is_strict(error_frame("bad_frame", "quoted \ud83d", ref="ping"))
    welcome = welcome_frame(
        session="s",
        educator_id="a",
        epoch="e",
        seq=0,
        heartbeat=20,
        resumed=False,
        snapshot=[{"message": "\ud83d", "progress": math.nan}],
    )
    assert json.loads(welcome)["snapshot"] == [{"message": "\ufffd", "progress": None}]


# -- client frames --------------------------------------------------------------------------


@pytest.mark.parametrize("text", [t for t in BAD_TEXTS if t.startswith('{"op":"ping"')])
def test_a_ping_that_is_not_strict_json_is_a_bad_frame_naming_the_op(text: str) -> None:
    with pytest.raises(BadFrame) as info:
        parse_client_frame(text)
    assert info.value.code == "bad_frame" and info.value.ref == "ping"
    assert info.value.message.startswith("not strict JSON: id")
    assert len(info.value.message.encode()) <= 123  # fits a close frame's reason (before hello)


def test_the_lone_surrogate_ping_of_the_issue() -> None:
    with pytest.raises(BadFrame) as info:
        parse_client_frame('{"op":"ping","id":"\\ud83d"}')
    assert info.value.message == "not strict JSON: id: lone surrogate in a string (not valid Unicode)"
    assert parse_client_frame('{"op":"ping","id":"\\ud83d\\ude00"}').id == "\U0001f600"  # a pair is fine


@settings(max_examples=400, deadline=None)
@given(values, st.booleans())
def test_property_loads_refuses_exactly_what_strict_json_cannot_carry(value: Any, ascii_only: bool) -> None:
    text = lenient_text(value, ascii_only)
    found = strictjson.problem(json.loads(text))
    if found is None:
        assert strictjson.loads(text) == json.loads(text)
        assert is_strict(text)
    else:
        with pytest.raises(strictjson.NotStrictJSON):
            strictjson.loads(text)


@settings(max_examples=400, deadline=None)
@given(values, st.sampled_from(["ping", "subscribe", "cancel", "hello", "nope"]), st.booleans())
def test_property_any_client_frame_is_parsed_or_a_bad_frame(value: Any, op: str, ascii_only: bool) -> None:
    text = lenient_text({"op": op, "id": value, "jobId": value, "types": value, "token": value}, ascii_only)
    try:
        parse_client_frame(text)
    except BadFrame as exc:
        assert is_strict(error_frame(exc.code, exc.message, exc.ref))
    with pytest.raises(BadFrame):  # any value as the op itself: a bad frame, never another error
        parse_client_frame(lenient_text({"op": value, "extra": 1}, ascii_only))
    text = lenient_text({"op": "ping", "id": value}, ascii_only)
    try:
        frame = parse_client_frame(text)
    except BadFrame as exc:
        assert exc.ref == "ping" and strictjson.problem(json.loads(text)) is not None
    else:
        assert is_strict(pong_frame(frame.id))  # type: ignore[union-attr]


@settings(max_examples=400, deadline=None)
@given(values)
def test_property_every_value_is_written_strictly_or_refused(value: Any) -> None:
    text, problem = strictjson.dumps_safe(value)
    assert is_strict(text)
    assert (problem is None) == (strictjson.problem(value) is None)
    if problem is None:
        assert dumps(value) == text
    else:
        with pytest.raises(strictjson.UnsafeValue):
            dumps(value)
    made, why = strictjson.made_safe(value)
    assert (why is None) == (problem is None) and is_strict(strictjson.dumps(made))


# -- where values from code enter: the shard and the store ----------------------------------


def test_the_shard_makes_published_data_and_job_states_safe_once() -> None:
    async def go() -> RegistryShard:
        shard = RegistryShard(0, ShardConfig())
        await shard.publish_message(["alice"], "analytics_update", {"updates": {"v": math.nan, "w": "\ud83d"}})
        await shard.broadcast("notification", {"title": "x", "n": math.inf})
        state = {
            "jobId": "j1",
            "kind": "quiz_generation",
            "educatorId": "alice",
            "status": "queued",
            "progress": 0.0,
            "message": "custom kind says \udc00",
            "createdAt": 1.0,
            "updatedAt": 1.0,
            "extra": {"score": -math.inf},
        }
        await shard.publish([state])
        await shard.update_job("j1", {"status": "processing", "message": "again \ud83d"})
        return shard

    shard = asyncio.run(go())
    history = list(shard.streams["alice"]._history)
    assert history[0].data == {"updates": {"v": None, "w": "\ufffd"}}
    assert history[1].data["n"] is None
    assert history[2].data["message"] == "custom kind says \ufffd" and history[2].data["score"] is None
    assert history[3].data["message"] == "again \ufffd"
    for env in history:
        assert is_strict(dumps(env.data))
    assert is_strict(dumps(shard.snapshot("alice")))


def test_the_store_keeps_results_and_states_as_strict_json(tmp_path: Any) -> None:
    store = JobStore(tmp_path / "jobs.db")
    state = {
        "jobId": "j",
        "educatorId": "a",
        "kind": "k",
        "status": "completed",
        "createdAt": 1.0,
        "updatedAt": 1.0,
        "message": "\ud83d",
    }
    store.save(state, {"score": math.nan, "best": math.inf, "name": "\udfff"})
    assert store.result("j") == {"score": None, "best": None, "name": "\ufffd"}
    assert store.get("j").message == "\ufffd"  # type: ignore[union-attr]


# -- the relay: one failed write closes one connection; a dead pump restarts ----------------


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.application_state = WebSocketState.CONNECTED

    async def send_text(self, text: str) -> None:
        text.encode("utf-8")  # what a real socket does first: a lone surrogate raises here
        self.sent.append(text)

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = (code, reason)
        self.application_state = WebSocketState.DISCONNECTED


class BrokenWriter:
    """A direct writer whose batch frames fail the way no client leaving does (control frames pass)."""

    def __init__(self) -> None:
        self.frames: list[str] = []

    def can_write(self) -> bool:
        return True

    def write_text(self, text: str) -> None:
        if text.startswith('{"op":"batch"'):
            raise ValueError("deflate state corrupted")
        self.frames.append(text)

    async def wait_writable(self) -> None:
        return None

    def trim(self) -> bool:
        return False


def connect(relay: Relay, educator: str, writer: Any = None) -> Connection:
    conn = make_connection(
        FakeSocket(),  # type: ignore[arg-type]  # (this file's: records raw text)
        educator=educator,
        session=f"s-{educator}-{id(writer)}",
        metrics=relay.metrics,
        writer=writer,
    )
    relay.conns.setdefault(educator, set()).add(conn)
    return conn


def batches(conn: Connection) -> list[dict[str, Any]]:
    ws: FakeSocket = conn.ws  # type: ignore[assignment]
    return [m for text in ws.sent for f in [json.loads(text)] if f["op"] == "batch" for m in f["messages"]]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


def test_non_finite_data_published_on_the_shard_reaches_everyone_made_safe() -> None:
    async def go() -> tuple[Connection, Connection, Relay]:
        shard = RegistryShard(0, ShardConfig(poll_timeout=0.2))
        relay = Relay([shard], IngressMetrics(), poll_timeout=0.2)
        a, b = connect(relay, "alice"), connect(relay, "bob")
        await shard.attach(relay.ingress_id, ["alice", "bob"])
        relay.start()
        # Past the shard's own check (an older shard, a bug): the ingress still writes strict JSON.
        data = {"updates": {"v": math.nan, "s": "\ud83d"}}  # one message to two educators: one object
        for educator in ("alice", "bob"):
            shard._deliver(shard._stream(educator).append("analytics_update", data, 1.0))
        await settle()
        await relay.stop()
        return a, b, relay

    a, b, relay = asyncio.run(go())
    for conn in (a, b):
        assert [m["data"] for m in batches(conn)] == [{"updates": {"v": None, "s": "\ufffd"}}]
        assert all(is_strict(t) for t in conn.ws.sent)  # type: ignore[attr-defined]
    assert relay.metrics.made_safe.get(where="ingress") == 1  # made once, shared by both


def test_a_write_failing_on_one_connection_closes_it_1011_and_spares_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def go() -> tuple[Connection, Connection, Relay]:
        shard = RegistryShard(0, ShardConfig(poll_timeout=0.2))
        relay = Relay([shard], IngressMetrics(), poll_timeout=0.2)
        good = connect(relay, "alice")
        bad = connect(relay, "alice", writer=BrokenWriter())
        await shard.attach(relay.ingress_id, ["alice", "alice"])
        relay.start()
        await settle()
        for i in range(3):
            await shard.publish_message(["alice"], "notification", {"title": f"n{i}"})
            await settle()
        assert relay.stuck(time.monotonic()) is None
        await relay.stop()
        return good, bad, relay

    with caplog.at_level(logging.ERROR, logger="hub.conn"):
        good, bad, relay = asyncio.run(go())
    assert [m["data"]["title"] for m in batches(good)] == ["n0", "n1", "n2"]
    assert bad.writer.frames == ['{"op":"welcome"}']  # type: ignore[union-attr]
    assert bad.ws.closed == (1011, "internal error: reconnect and resume")  # type: ignore[attr-defined]
    assert any("closing 1011" in r.getMessage() and r.name == "hub.conn" for r in caplog.records)
    assert relay.metrics.relay_restarts.get(shard="0") == 0


class Exploding:
    """A connection whose `offer` raises (a bug): the relay must close it alone and go on."""

    def __init__(self) -> None:
        self.educator_id = "alice"
        self.session = "boom"
        self.closed: tuple[int, str] | None = None

    def offer(self, env: Any, text: str) -> bool:
        raise RuntimeError("bug")

    def close(self, why: HubError | None = None, *, flush: bool = False) -> None:
        self.closed = close_frame(why)


def test_a_connection_that_raises_in_offer_is_closed_alone_and_the_pump_lives() -> None:
    async def go() -> tuple[Connection, Exploding, Relay]:
        shard = RegistryShard(0, ShardConfig(poll_timeout=0.2))
        relay = Relay([shard], IngressMetrics(), poll_timeout=0.2)
        good = connect(relay, "alice")
        boom = Exploding()
        relay.conns["alice"].add(boom)  # type: ignore[arg-type]
        await shard.attach(relay.ingress_id, ["alice", "alice"])
        relay.start()
        for i in range(2):
            await shard.publish_message(["alice"], "notification", {"title": f"n{i}"})
            await settle()
        await relay.stop()
        return good, boom, relay

    good, boom, relay = asyncio.run(go())
    assert [m["data"]["title"] for m in batches(good)] == ["n0", "n1"]
    assert boom.closed is not None and boom.closed[0] == 1011
    assert relay.metrics.relay_restarts.get(shard="0") == 0


def test_a_sender_that_cannot_write_a_frame_closes_1011_instead_of_wedging() -> None:
    async def go() -> FakeSocket:
        relay = Relay([], IngressMetrics(), poll_timeout=15.0)
        conn = connect(relay, "alice")
        await settle()
        conn.send_control('{"op":"pong","id":"\ud83d"}')  # what the issue's ping did to the sender
        await settle()
        return conn.ws  # type: ignore[return-value]

    ws = asyncio.run(go())
    assert ws.closed is not None and ws.closed[0] == 1011


class FlakyShard(RegistryShard):
    """A shard whose pull answers garbage `fail` times (a bug in a reply, say), then works."""

    def __init__(self, fail: int) -> None:
        super().__init__(0, ShardConfig(poll_timeout=0.2))
        self.fail = fail

    async def pull(
        self, ingress_id: str, ack: int, timeout: float | None = None, feed_id: str | None = None
    ) -> FeedBatch:
        if self.fail:
            self.fail -= 1
            return {"no": "epoch"}  # type: ignore[return-value]  # not a FeedBatch: AttributeError in the pump
        return await super().pull(ingress_id, ack, timeout, feed_id)


def test_a_dead_pump_is_restarted_counted_and_reported_stuck_meanwhile() -> None:
    async def go() -> tuple[Relay, Connection, list[str | None], Connection]:
        shard = FlakyShard(fail=3)
        relay = Relay([shard], IngressMetrics(), poll_timeout=0.2)
        early = connect(relay, "alice")
        relay.start()
        seen: list[str | None] = []
        for _ in range(300):
            seen.append(relay.stuck(time.monotonic()))
            if relay.metrics.relay_restarts.get(shard="0") == 3 and seen[-1] is None:
                break
            await asyncio.sleep(0.01)
        late = connect(relay, "alice")
        await shard.attach(relay.ingress_id, ["alice"])
        await shard.publish_message(["alice"], "notification", {"title": "after"})
        await settle()
        seen.append(relay.stuck(time.monotonic()))
        await relay.stop()
        return relay, early, seen, late

    relay, early, seen, late = asyncio.run(go())
    assert relay.metrics.relay_restarts.get(shard="0") == 3
    assert any(s and "restarting" in s for s in seen)  # 503 from /healthz meanwhile
    assert seen[-1] is None  # healthy again once a cycle completes
    assert early.ws.closed == (1012, "delivery restarted: reconnect and resume")  # type: ignore[attr-defined]
    assert [m["data"]["title"] for m in batches(late)] == ["after"]
    assert 'hub_relay_restarts_total{shard="0"} 3' in relay.metrics.render()


def test_a_pump_that_completes_no_cycle_for_twice_the_poll_timeout_is_stuck() -> None:
    class Hanging(RegistryShard):
        async def pull(
            self, ingress_id: str, ack: int, timeout: float | None = None, feed_id: str | None = None
        ) -> dict[str, Any]:
            await asyncio.Event().wait()
            raise AssertionError

    async def go() -> list[str | None]:
        relay = Relay([Hanging(0, ShardConfig())], IngressMetrics(), poll_timeout=10.0)
        relay.start()
        await asyncio.sleep(0)
        now = time.monotonic()
        out = [relay.stuck(now + 19.0), relay.stuck(now + 21.0)]
        await relay.stop()
        return out

    fine, stuck = asyncio.run(go())
    assert fine is None
    assert stuck is not None and "no delivery cycle completed for 21s (bound 20s)" in stuck


def test_close_reasons_are_cut_to_fit_a_close_frame() -> None:
    assert fit_reason("short") == "short"
    for long in ("x" * 300, "\u00e9" * 100, "\U0001f600" * 40):
        cut = fit_reason(long)
        assert len(cut.encode("utf-8")) <= 123 and cut.endswith("...") and long.startswith(cut[:-3])


def test_integers_past_a_double_are_refused_in_and_made_safe_out() -> None:
    """A browser's JSON.parse reads such an integer as Infinity: the same rule as 1e999, both ways."""
    with pytest.raises(strictjson.UnsafeValue, match="401-digit integer"):
        strictjson.dumps({"v": 10**400})
    assert strictjson.safe({"v": -(10**400), "w": 10**300}) == {"v": None, "w": 10**300}  # 1e300 fits
    assert strictjson.dumps({"v": "1" * 400}) == '{"v":"' + "1" * 400 + '"}'  # digits in a string are text
    with pytest.raises(strictjson.NotStrictJSON, match=r"^a\[0\]\.v: a 5000-digit integer"):
        strictjson.loads('{"a":[{"v":' + "9" * 5000 + "}]}")  # past int()'s own 4,300-digit limit too
