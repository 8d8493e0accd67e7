"""hub.core.codecs: the frames of JSON and MessagePack connections (PROTOCOL.md sections 2 and 8) hold the
same objects; subprotocol selection; Accept negotiation; what a MessagePack frame may hold."""

from __future__ import annotations

import json
import math

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.core.codecs import (
    JsonFrames,
    MsgpackFrames,
    NotJsonValue,
    check_json_value,
    pack,
    prefers_msgpack,
    select_subprotocol,
    unpack_object,
)
from hub.core.errors import BadFrame
from hub.core.protocol import Ping, envelope_json, error_frame, welcome_frame

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)
envelopes = st.builds(
    lambda seq, mtype, ts, data, room: envelope_json(seq, mtype, ts, data, None, room),
    st.integers(0, 2**40),
    st.sampled_from(["quiz_status", "notification", "room_message", "presence"]),
    st.floats(0, 2e9, allow_nan=False),
    st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    st.none() | st.just("quiz:q-1"),
)


@given(st.lists(envelopes, max_size=6), st.integers(0, 1000))
def test_a_msgpack_batch_holds_exactly_the_json_batch(texts: list[str], skipped: int) -> None:
    frames = MsgpackFrames()
    packed = frames.batch(texts, skipped)
    assert msgpack.unpackb(packed, raw=False) == json.loads(JsonFrames().batch(texts, skipped))
    assert list(msgpack.unpackb(packed, raw=False)) == list(json.loads(JsonFrames().batch(texts, skipped)))  # order


def test_ts_is_a_float64_and_ints_stay_ints() -> None:
    text = envelope_json(7, "quiz_status", 1764094212.0, {"progress": 40, "x": 0.5})
    raw = MsgpackFrames().envelope(text)
    assert b"\xcb" in raw  # float 64 (PROTOCOL.md section 8: `ts` a float64), even for a whole number of seconds
    value = msgpack.unpackb(raw)
    assert type(value["ts"]) is float and value["seq"] == 7 and type(value["data"]["progress"]) is int


def test_an_envelope_shared_by_many_connections_is_packed_once() -> None:
    frames = MsgpackFrames()
    text = envelope_json(1, "notification", 1.0, {"title": "hi"})
    for _ in range(100):
        frames.batch([text], 0)
    assert frames.packed == 1
    other = envelope_json(2, "notification", 1.0, {"title": "hi"})
    frames.batch([other], 0)
    assert frames.packed == 2


def test_the_packing_memo_stays_within_its_bytes() -> None:
    frames = MsgpackFrames(memo_bytes=2000)
    texts = [envelope_json(n, "notification", 1.0, {"body": "x" * 100}) for n in range(100)]
    for text in texts:
        frames.envelope(text)
    assert frames._held <= 2000 and len(frames._memo) < 100
    huge = envelope_json(1, "notification", 1.0, {"body": "y" * 5000})
    assert msgpack.unpackb(frames.envelope(huge))["data"]["body"] == "y" * 5000  # packed, not remembered
    assert frames._held <= 2000


def test_control_frames_are_the_json_objects_packed() -> None:
    for text in (
        welcome_frame(
            session="s", educator_id="e", epoch="E", seq=3, heartbeat=20.0, resumed=False, snapshot=[{"jobId": "j"}]
        ),
        error_frame("bad_frame", "frames must be binary", "ping"),
    ):
        assert msgpack.unpackb(MsgpackFrames().control(text), raw=False) == json.loads(text)


def test_an_integer_past_64_bits_goes_as_the_double_javascript_would_read() -> None:
    assert msgpack.unpackb(pack({"n": 2**70, "m": [-(2**64)], "k": 5})) == {"n": 2.0**70, "m": [-(2.0**64)], "k": 5}


def test_frames_parse_to_the_same_op_either_way() -> None:
    assert MsgpackFrames().parse(msgpack.packb({"op": "ping", "id": [1, "a"]})) == Ping(op="ping", id=[1, "a"])
    assert JsonFrames().parse('{"op":"ping","id":[1,"a"]}') == Ping(op="ping", id=[1, "a"])


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ('{"op":"ping","id":1}', "must be binary"),
        (b"\xc1", "starts no MessagePack value"),
        (b"\x91" * 5000, "nested too deeply"),
        (msgpack.packb({"op": "ping", "id": 1}) + b"\x00", "extra data"),
        (msgpack.packb({"op": "ping", "id": math.nan}), "not a number JSON carries"),
        (msgpack.packb({"op": "ping", "id": b"x"}, use_bin_type=True), "binary"),
        (msgpack.packb({"op": "ping", "id": msgpack.ExtType(1, b"")}), "ExtType"),
        (msgpack.packb({"op": "ping", 3: 1}), "map key must be a string"),
        (b"\x81\x91\x01\x02", "unhashable"),
        (msgpack.packb(["op", "ping"]), "must be an object"),
        (b"", "incomplete"),
    ],
)
def test_what_a_msgpack_frame_may_not_be(frame: str | bytes, says: str) -> None:
    with pytest.raises(BadFrame, match=says) as caught:
        MsgpackFrames().parse(frame)
    assert caught.value.code == "bad_frame"


def test_a_binary_frame_on_a_json_connection_is_bad_frame() -> None:
    with pytest.raises(BadFrame, match="must be text"):
        JsonFrames().parse(b'{"op":"ping","id":1}')


def test_an_error_names_the_op_where_the_frame_says_it() -> None:
    with pytest.raises(BadFrame) as caught:
        MsgpackFrames().parse(msgpack.packb({"op": "publish", "room": "quiz:q", "data": {"x": math.inf}}))
    assert caught.value.ref == "publish"
    assert MsgpackFrames().lenient_field(msgpack.packb({"room": "quiz:q", "x": math.inf}), "room") == "quiz:q"
    assert MsgpackFrames().lenient_field(b"\xc1", "room") is None
    assert JsonFrames().lenient_field('{"room": "quiz:q", "x": NaN}', "room") == "quiz:q"


@given(json_values)
def test_every_json_value_round_trips(value: object) -> None:
    check_json_value(value)
    assert unpack_object(pack(value)) == value


def test_check_json_value_goes_any_depth_without_recursion() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    check_json_value(deep)
    with pytest.raises(NotJsonValue):
        check_json_value([deep, {"x": b"bin"}])


@pytest.mark.parametrize(
    ("offered", "selected"),
    [
        (["hub.v1.msgpack", "hub.v1"], "hub.v1.msgpack"),
        (["hub.v1", "hub.v1.msgpack"], "hub.v1"),
        (["hub.v1.msgpack"], "hub.v1.msgpack"),
        (["chat", "hub.v1"], "hub.v1"),
        (["chat"], None),
        ([], None),
    ],
)
def test_the_first_supported_subprotocol_in_the_clients_order(offered: list[str], selected: str | None) -> None:
    assert select_subprotocol(offered) == selected


@pytest.mark.parametrize(
    ("accept", "wants"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/msgpack", True),
        ("application/x-msgpack", True),
        ("application/msgpack, application/json", True),
        ("application/json, application/msgpack", False),  # equal quality: the first listed
        ("application/json;q=0.5, application/msgpack", True),
        ("application/msgpack;q=0.4, application/json;q=0.5", False),
        ("application/msgpack;q=0", False),
        ("text/html, application/msgpack;q=0.9, */*;q=0.8", True),
        ("application/msgpack;q=nonsense", False),
    ],
)
def test_accept_negotiation(accept: str | None, wants: bool) -> None:
    assert prefers_msgpack(accept) is wants
