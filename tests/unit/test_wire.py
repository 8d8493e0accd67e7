"""hub.core.wire, the data plane's MessagePack frames: the records come back as they went (one shared
`data` object stays one object), and every malformed request is refused with BadFrame, never with
another exception (fuzzed with hypothesis). Pure: no sockets (tests/adapters/test_dataplane.py has
the sockets)."""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core import wire
from hub.core.jobstate import JobState
from hub.core.records import FeedBatch, HelloReply, PublishReply
from hub.core.stream import Envelope, StreamPosition

MAX = 1 << 20  # the read limit the tests pass (a shard passes DataPlaneConfig.dataplane_max_frame)


def reply_round_trip(method: str, value: Any) -> Any:
    """`value` (what the shard's `method` returned) as the caller reads it back off the wire."""
    out = wire.REPLY_OUT.get(method)
    frame = wire.reply(7, out(value) if out else value)
    call_id, ok, raw = wire.read_reply(frame)
    assert (call_id, ok) == (7, True)
    back = wire.REPLY_IN.get(method)
    return back(raw) if back else raw


def raw_request(value: Any) -> bytes:
    """Any value as MessagePack bytes (no checks: what a peer may send)."""
    return msgpack.packb(value, use_bin_type=True)


# -- round trips -------------------------------------------------------------------------------


def test_feed_batch_round_trip_keeps_one_shared_data_object() -> None:
    shared = {"jobId": "j1", "status": "processing", "progress": 50.5, "nested": {"a": [1, None, "x"]}}
    own = {"text": "only bob's"}
    items = [
        (1, tuple(Envelope("alice", 3, "job_update", 1.5, shared, "j1", True))),
        (2, tuple(Envelope("bob", 9, "job_update", 1.5, shared, "j1", True))),
        (3, tuple(Envelope("bob", 10, "notification", 2.0, own, None, False))),
        (4, tuple(Envelope("carol", 1, "job_update", 1.5, shared, "j1", True))),
    ]
    batch = FeedBatch("epoch-1", False, items, True, "epoch-1:3")
    back = reply_round_trip("pull", batch)
    assert isinstance(back, FeedBatch)
    assert back == batch
    assert all(isinstance(item, tuple) and isinstance(item[1], tuple) for item in back.items)
    datas = [env[4] for _, env in back.items]
    assert datas[0] is datas[1] is datas[3]  # one object, as pickle kept it over Ray
    assert datas[2] is not datas[0]
    assert Envelope._make(back.items[2][1]) == Envelope(*items[2][1])


def test_feed_batch_unknown_and_empty() -> None:
    batch = FeedBatch("e", True, [], False)
    assert reply_round_trip("pull", batch) == batch


def test_hello_replies_resumed_and_snapshot() -> None:
    data = {"jobId": "j", "progress": 1.0}
    resumed = HelloReply(
        StreamPosition("ep", 12),
        True,
        [Envelope("alice", 11, "job_update", 3.25, data, "j", True), Envelope("alice", 12, "x", 4.0, data, "j", False)],
    )
    snapshot = HelloReply(StreamPosition("ep", 0), False, [], [{"jobId": "a", "status": "queued"}], True)
    empty = HelloReply(StreamPosition("ep", 0), False, [], None, False)
    back = reply_round_trip("hello_many", [resumed, snapshot, empty])
    assert back == [resumed, snapshot, empty]
    assert all(isinstance(r, HelloReply) and isinstance(r.position, StreamPosition) for r in back)
    assert all(isinstance(e, Envelope) for e in back[0].messages)
    assert back[0].messages[0].data is back[0].messages[1].data


def test_publish_reply_and_plain_replies() -> None:
    assert reply_round_trip("publish", PublishReply("ep", [1, 0, 3])) == PublishReply("ep", [1, 0, 3])
    assert isinstance(reply_round_trip("publish", PublishReply("ep", [])), PublishReply)
    assert reply_round_trip("ping", "ep") == "ep"
    state = JobState.model_validate(
        {
            "jobId": "j",
            "kind": "quiz_generation",
            "educatorId": "alice",
            "status": "processing",
            "progress": 40,
            "message": "Generating",
            "createdAt": 1.0,
            "updatedAt": 2.5,
            "itemsDone": 2,
        }
    )
    assert reply_round_trip("job", state) == state  # a job's state over the data plane (idempotent repeats)
    assert reply_round_trip("job", None) is None
    assert reply_round_trip("attach", "ep") == "ep"
    assert reply_round_trip("detach", None) is None
    assert reply_round_trip("unwatch_many", [None, None]) == [None, None]
    assert reply_round_trip("publish_message", 3) == 3


@pytest.mark.parametrize("number", [2**64, 2**63, -(2**63) - 1, -(2**64), 10**40, -(10**40), 2**64 - 1, -(2**63)])
def test_ints_of_any_size_come_back(number: int) -> None:
    value = {"n": number, "list": [number, 1], "deep": {"x": [[number]]}}
    assert wire.unpack(wire.pack(value), MAX) == value


def test_plain_values_come_back() -> None:
    value = {
        "none": None,
        "t": True,
        "f": False,
        "float": 0.1,
        "neg": -1e300,
        "str": "é ✓ \U0001f600",
        "empty": "",
        "list": [1, [2, [3, {"k": "v"}]]],
        "map": {},
        "tuple": (1, 2),
        "set": {5},
    }
    back = wire.unpack(wire.pack(value), MAX)
    assert back == {**value, "tuple": [1, 2], "set": [5]}
    assert isinstance(back["float"], float) and isinstance(back["t"], bool)
    nan = wire.unpack(wire.pack(math.nan), MAX)
    assert math.isnan(nan)


def test_a_value_without_a_messagepack_form_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        wire.pack({"x": object()})
    with pytest.raises(TypeError):
        wire.request(1, "publish", [[{"x": 1j}]])


def test_a_good_request_reads_back() -> None:
    frame = wire.request(5, "pull", ["ing", 3, 1.5, "feed"])
    assert wire.read_request(frame, MAX) == (5, "pull", ["ing", 3, 1.5, "feed"])
    assert wire.read_request(bytearray(frame), MAX)[0] == 5
    assert wire.read_request(memoryview(frame), MAX)[0] == 5
    assert wire.read_request(wire.request(2**63 - 1, "ping", []), MAX) == (2**63 - 1, "ping", [])
    hello = wire.request(1, "hello_many", ["ing", [("alice", StreamPosition("ep", 4)), ("bob", None)]])
    _, method, args = wire.read_request(hello, MAX)
    assert wire.checked_args(method, args) == ["ing", [("alice", StreamPosition("ep", 4)), ("bob", None)]]


# -- malformed requests ------------------------------------------------------------------------

MALFORMED_FRAMES: dict[str, Any] = {
    "text frame": "[1, 'ping', []]",
    "text frame of msgpack": raw_request([1, "ping", []]).decode("latin-1"),
    "None": None,
    "empty bytes": b"",
    "not msgpack (reserved byte 0xc1)": b"\xc1",
    "truncated": raw_request([1, "ping", []])[:-1],
    "trailing bytes": raw_request([1, "ping", []]) + b"\x00",
    "two requests in one frame": raw_request([1, "ping", []]) * 2,
    "a map": raw_request({"id": 1, "method": "ping", "args": []}),
    "a string": raw_request("ping"),
    "an int": raw_request(1),
    "empty array": raw_request([]),
    "two elements": raw_request([1, "ping"]),
    "four elements": raw_request([1, "ping", [], None]),
    "id negative": raw_request([-1, "ping", []]),
    "id bool": raw_request([True, "ping", []]),
    "id float": raw_request([1.0, "ping", []]),
    "id str": raw_request(["1", "ping", []]),
    "id None": raw_request([None, "ping", []]),
    "id 2**63": raw_request([2**63, "ping", []]),
    "id 2**64-1": raw_request([2**64 - 1, "ping", []]),
    "id huge (ext)": wire.pack([2**100, "ping", []]),
    "unknown method": raw_request([1, "stats", []]),
    "private method": raw_request([1, "_feed", ["x"]]),
    "dunder method": raw_request([1, "__init__", []]),
    "method bytes": raw_request([1, b"ping", []]),
    "method int": raw_request([1, 3, []]),
    "method None": raw_request([1, None, []]),
    "args a map": raw_request([1, "ping", {}]),
    "args None": raw_request([1, "ping", None]),
    "args a string": raw_request([1, "detach", "ing"]),
    "too many args (ping)": raw_request([1, "ping", [1]]),
    "too many args (pull)": raw_request([1, "pull", ["i", 0, None, None, 5]]),
    "too many args (publish)": raw_request([1, "publish", [[], []]]),
    "unknown ext type": raw_request([1, "ping", []])[:-1] + msgpack.packb(msgpack.ExtType(42, b"x")),
    "ext type 0 (msgpack timestamp code is -1)": raw_request([msgpack.ExtType(0, b"1"), "ping", []]),
    "big-int ext not digits": raw_request([msgpack.ExtType(wire.BIG_INT, b"12a"), "ping", []]),
    "big-int ext not ascii": raw_request([msgpack.ExtType(wire.BIG_INT, b"\xff\xfe"), "ping", []]),
    "big-int ext empty": raw_request([msgpack.ExtType(wire.BIG_INT, b""), "ping", []]),
    "big-int ext too many digits": raw_request([msgpack.ExtType(wire.BIG_INT, b"9" * 5000), "ping", []]),
    "map with an int key": b"\x93\x01\xa6detach\x91\x81\x01\x01",
    "map with a list key": b"\x93\x01\xa6detach\x91\x81\x91\x01\x01",
    "string past max_len": raw_request([1, "detach", ["x" * (MAX + 1)]]),
    "binary past max_len": raw_request([1, "detach", [b"x" * (MAX + 1)]]),
    "array past max_len": raw_request([1, "attach", ["i", ["e"] * (MAX + 1)]]),
    "map past max_len": raw_request([1, "publish", [[{str(k): 0 for k in range(MAX + 1)}]]]),
    "array header claiming more than the frame holds": b"\x93\x01\xa4ping\xdd\x00\x0f\xff\xff",
    "map header claiming more than the frame holds": b"\x93\x01\xa4ping\xdf\x00\x0f\xff\xff",
    "string header claiming more than the frame holds": b"\x93\x01\xdb\x00\x0f\xff\xff",
    "nesting past msgpack's stack": b"\x93\x01\xa6detach" + b"\x91" * 5000 + b"\xc0",
}


@pytest.mark.parametrize("name", list(MALFORMED_FRAMES))
def test_malformed_frame_is_refused_with_bad_frame(name: str) -> None:
    with pytest.raises(wire.BadFrame) as refused:
        wire.read_request(MALFORMED_FRAMES[name], MAX)
    assert str(refused.value)  # a sentence for the log
    assert "Traceback" not in str(refused.value)


def test_unknown_method_is_named_but_cut_short() -> None:
    with pytest.raises(wire.BadFrame, match="unknown method 'xxxx") as refused:
        wire.read_request(raw_request([1, "x" * 10_000, []]), MAX)
    assert len(str(refused.value)) < 100


# At least three wrong shapes of arguments for each method the data plane carries.
WRONG_ARGS: dict[str, list[list[Any]]] = {
    "publish": [
        [],
        [{"jobId": "j"}],
        [[{"jobId": "j"}, "not a dict"]],
        [[["jobId", "j"]]],
        [None],
        [[None]],
    ],
    "publish_message": [
        [["alice"], "notification"],
        ["alice", "notification", {}],
        [["alice", 3], "notification", {}],
        [["alice"], None, {}],
        [["alice"], "notification", "data"],
        [["alice"], "notification", [1]],
        [[b"alice"], "notification", {}],
    ],
    "hello_many": [
        ["ing"],
        [3, []],
        ["ing", "alice"],
        ["ing", [["alice"]]],
        ["ing", [["alice", None, None]]],
        ["ing", [[3, None]]],
        ["ing", ["alice"]],
        ["ing", [["alice", "ep:3"]]],
        ["ing", [["alice", ["ep"]]]],
        ["ing", [["alice", ["ep", 1, 2]]]],
        ["ing", [["alice", [3, 1]]]],
        ["ing", [["alice", ["ep", "1"]]]],
        ["ing", [["alice", ["ep", 1.5]]]],
        ["ing", [["alice", ["ep", True]]]],  # a bool is not a seq (msgpack keeps them apart)
        ["ing", [["alice", {"epoch": "ep", "seq": 1}]]],
    ],
    "unwatch_many": [
        ["ing"],
        ["ing", "alice"],
        ["ing", ["alice", None]],
        [None, ["alice"]],
        ["ing", [["alice"]]],
    ],
    "attach": [
        ["ing"],
        ["ing", "alice"],
        ["ing", [1]],
        [1, ["alice"]],
        ["ing", None],
        ["ing", [], "rooms"],
        ["ing", [], [["quiz:q", "s1", "alice"]]],
        ["ing", [], [["quiz:q", "s1", "alice", 1, None]]],
        ["ing", [], [["quiz:q", "s1", "alice", True, []]]],
    ],
    "detach": [
        [],
        [1],
        [None],
        [["ing"]],
        [b"ing"],
        [msgpack.Timestamp(1, 0)],  # msgpack's own ext type (-1) reads as a Timestamp: not a str
    ],
    "pull": [
        ["ing", 0, None],
        ["ing", "0", None, None],
        ["ing", 0.5, None, None],
        ["ing", True, None, None],
        ["ing", None, None, None],
        [3, 0, None, None],
        ["ing", 0, "1", None],
        ["ing", 0, -1, None],
        ["ing", 0, math.nan, None],
        ["ing", 0, math.inf, None],
        ["ing", 0, True, None],
        ["ing", 0, None, 3],
        ["ing", 0, None, ["feed"]],
    ],
    "ping": [],  # takes none: any argument is "too many" (MALFORMED_FRAMES)
    "room_join_many": [
        ["ing"],
        ["ing", "quiz:q"],
        [1, []],
        ["ing", [["quiz:q", "s1", "alice", True, None]]],  # no position
        ["ing", [["quiz:q", "s1", "alice", "yes", None, None]]],
        ["ing", [["quiz:q", "s1", "alice", True, "info", None]]],
        ["ing", [["quiz:q", "s1", 7, True, None, None]]],
        ["ing", [["quiz:q", "s1", "alice", True, None, ["ep"]]]],
        ["ing", [["quiz:q", "s1", "alice", True, None, ["ep", "3"]]]],
        ["ing", [["quiz:q", "s1", "alice", True, None, ["ep", True]]]],
    ],
    "room_leave_many": [
        ["ing"],
        ["ing", ["quiz:q"]],
        ["ing", [["quiz:q"]]],
        ["ing", [["quiz:q", 1]]],
        [None, [["quiz:q", "s1"]]],
    ],
    "room_publish": [
        ["quiz:q", "alice", "s1", "comment", {}],
        ["quiz:q", "alice", "s1", "comment", [], False],
        ["quiz:q", "alice", "s1", 5, {}, False],
        ["quiz:q", "alice", "s1", "comment", {}, "no"],
        [None, "alice", "s1", "comment", {}, False],
    ],
    "room_typing": [
        ["quiz:q", "alice", "s1"],
        ["quiz:q", "alice", "s1", "yes"],
        ["quiz:q", "alice", 1, True],
        [["quiz:q"], "alice", "s1", True],
    ],
    "room_members": [
        [],
        [1],
        [None],
        [["quiz:q"]],
    ],
    "job": [
        [],
        [1],
        [None],
        ["j1", "j2"],
    ],
}


@pytest.mark.parametrize(
    ("method", "args"), [(m, a) for m, cases in WRONG_ARGS.items() for a in cases], ids=lambda v: repr(v)[:40]
)
def test_wrong_argument_types_are_refused(method: str, args: list[Any]) -> None:
    frame = raw_request([1, method, args])
    try:
        call_id, read_method, read_args = wire.read_request(frame, MAX)
    except wire.BadFrame:
        return  # refused already at the request's shape (too many arguments)
    assert (call_id, read_method) == (1, method)
    with pytest.raises(wire.BadFrame):
        wire.checked_args(read_method, read_args)


def test_each_method_has_at_least_three_wrong_shapes_tested() -> None:
    assert set(WRONG_ARGS) == set(wire.METHODS)
    assert all(len(cases) >= 3 for method, cases in WRONG_ARGS.items() if wire.METHODS[method])


RIGHT_ARGS: dict[str, list[Any]] = {
    "publish": [[{"jobId": "j", "status": "queued"}]],
    "publish_message": [["alice", "bob"], "notification", {"text": "hi"}],
    "hello_many": ["ing", [["alice", ["ep", 3]], ["bob", None]]],
    "unwatch_many": ["ing", ["alice", "alice"]],
    "attach": ["ing", []],
    "detach": ["ing"],
    "pull": ["ing", 0, 2.5, "ep:1"],
    "ping": [],
    "room_join_many": [
        "ing",
        [["quiz:q", "s1", "alice", True, {"name": "A"}, ["ep", 3]], ["r", "s2", "b", False, None, None]],
    ],
    "room_leave_many": ["ing", [["quiz:q", "s1"]]],
    "room_publish": ["quiz:q", "alice", "s1", "comment", {"text": "hi"}, False],
    "room_typing": ["quiz:q", "alice", "s1", True],
    "room_members": ["quiz:q"],
    "job": ["j1"],
}


def test_attach_carries_room_memberships() -> None:
    members = [["quiz:q", "s1", "alice", True, {"name": "A"}], ["quiz:q", "s2", "bob", False, None]]
    _, _, args = wire.read_request(raw_request([1, "attach", ["ing", ["alice"], members]]), MAX)
    assert wire.checked_args("attach", args) == ["ing", ["alice"], [tuple(m) for m in members]]


def test_room_join_replies_round_trip_sharing_data() -> None:
    from hub.core.records import RoomJoinReply

    data = {"action": "join"}
    envs = [
        Envelope("quiz:q", 4, "presence", 1.0, data, room="quiz:q"),
        Envelope("quiz:q", 0, "typing", 2.0, {"typing": True}, room="quiz:q", origin="s9"),
    ]
    reply = RoomJoinReply(StreamPosition("ep", 4), True, envs, [{"educatorId": "alice", "connections": 2}], 1)
    back = wire.REPLY_IN["room_join_many"](wire.unpack(wire.pack(wire.REPLY_OUT["room_join_many"]([reply])), MAX))
    assert back == [reply]
    assert back[0].messages[1].origin == "s9" and back[0].messages[1].ephemeral
    assert wire.REPLY_IN["room_members"](
        wire.unpack(wire.pack(wire.REPLY_OUT["room_members"](([{"a": 1}], 3))), MAX)
    ) == (
        [{"a": 1}],
        3,
    )


@pytest.mark.parametrize("method", list(RIGHT_ARGS))
def test_right_arguments_pass(method: str) -> None:
    _, read_method, args = wire.read_request(raw_request([1, method, RIGHT_ARGS[method]]), MAX)
    assert read_method == method
    wire.checked_args(method, args)


def test_pull_timeouts_the_shard_takes() -> None:
    """Any poll_timeout the settings allow goes over the wire (ShardConfig.poll_timeout has no upper
    bound; the relay passes it to every pull): a bound of 3600 s made every pull fail past it."""
    from hub.core.config import ShardConfig

    long_poll = ShardConfig(poll_timeout=7200, ingress_lease=14400).poll_timeout
    for timeout in (None, 0, 0.001, 15, 3600, long_poll, 10**9, 2**64):
        assert wire.checked_args("pull", ["ing", 0, timeout, None])[2] == timeout


def test_hello_positions_become_stream_positions() -> None:
    args = wire.checked_args("hello_many", ["ing", [["a", ["ep", 2]], ["b", None]]])
    assert args == ["ing", [("a", StreamPosition("ep", 2)), ("b", None)]]
    assert isinstance(args[1][0][1], StreamPosition)


def test_reply_frames() -> None:
    assert wire.read_reply(wire.failure(3, "no")) == (3, False, "no")
    for bad in ("text", b"\xc1", raw_request([1, True]), raw_request([1, 1, 2]), raw_request(["1", True, 2])):
        with pytest.raises(wire.BadFrame):
            wire.read_reply(bad)


# -- fuzzing: whatever arrives is a request or BadFrame, never another exception -----------------


def check_any(frame: Any) -> None:
    try:
        call_id, method, args = wire.read_request(frame, 4096)
    except wire.BadFrame:
        return
    assert isinstance(call_id, int) and not isinstance(call_id, bool) and 0 <= call_id < 2**63
    assert method in wire.METHODS and isinstance(args, list) and len(args) <= wire.METHODS[method]
    try:
        wire.checked_args(method, args)
    except wire.BadFrame:
        return


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_any_bytes(frame: bytes) -> None:
    check_any(frame)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=60))
def test_fuzz_bytes_after_a_request_prefix(tail: bytes) -> None:
    for prefix in (b"\x93\x01", b"\x93\x01\xa4pull", b"\x93\x01\xa4pull\x94", b"\x93\x01\xaahello_many\x92\xa3ing"):
        check_any(prefix + tail)


def msgpack_values() -> st.SearchStrategy[Any]:
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**64 - 1)
        | st.floats()
        | st.text(max_size=8)
        | st.binary(max_size=8)
        | st.sampled_from(list(wire.METHODS))
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
        max_leaves=20,
    )


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        msgpack_values(),
        st.tuples(msgpack_values(), st.sampled_from(list(wire.METHODS)), st.lists(msgpack_values(), max_size=5)).map(
            list
        ),
        st.tuples(
            st.integers(min_value=0, max_value=2**63 - 1),
            st.sampled_from(list(wire.METHODS)),
            st.lists(msgpack_values(), max_size=5),
        ).map(list),
    )
)
def test_fuzz_any_messagepack_value(value: Any) -> None:
    check_any(msgpack.packb(value, use_bin_type=True))


# -- what a frame may cost the reader ----------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        b"\x93\x01\xa4ping" + b"\xdd\x00\xff\xff\xff",  # [1, "ping", <array of 16M elements: 5 bytes>]
        b"\x93\x01\xa4ping" + b"\xdd\x00\xff\xff\xff" * 40,  # 40 such arrays, nested
        b"\x93\x01\xa4ping" + b"\xdf\x00\x7f\xff\xff" * 40,  # maps of 8M entries, nested
    ],
    ids=["one array header", "nested array headers", "nested map headers"],
)
def test_a_frame_cannot_make_the_reader_allocate_more_than_it_holds(frame: bytes) -> None:
    """A container's header claims its length before its elements come; msgpack makes room for the
    claim at once, so with only the configured max_len (16 MiB by default) as the bound, a 5 KB frame
    of 1000 nested headers made the reader allocate 80 MB and held the shard's loop 0.08-0.5 s. The
    frame's own length bounds any honest claim (each element takes at least a byte)."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(wire.BadFrame):
            wire.read_request(frame, 16 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 + 100 * len(frame), f"{peak} bytes allocated for a {len(frame)}-byte frame"


def test_the_largest_honest_containers_still_read() -> None:
    """The bound by the frame's length refuses nothing a frame can hold: an array of one-byte
    elements, a map of one-byte keys and values, a string that fills the frame."""
    for value in ([0] * 70_000, {str(k % 10): 0 for k in range(10)}, "x" * 70_000, [None] * 15, b"y" * 300):
        frame = wire.request(1, "detach", [value])
        assert wire.read_request(frame, MAX)[2] == [value]
    assert wire.read_request(wire.request(1, "ping", []), 64) == (1, "ping", [])


# -- what a caller sends over Ray instead --------------------------------------------------------


@pytest.mark.parametrize(
    "data", [{1: "x"}, {"a": {None: 1}}, {"a": [{2.5: 1}]}, {"a": {True: 1}}, {"a": {2**70: 1}}], ids=repr
)
def test_a_message_with_a_key_that_is_not_a_string_is_not_carried(data: dict[Any, Any]) -> None:
    """Ray carried such dicts (the shard makes them strict JSON); a shard drops them off its socket
    (strict_map_key), which left the caller waiting for ever: the caller makes such calls over Ray."""
    for method, args in (
        ("publish_message", [["alice"], "notification", data]),
        ("publish", [[{"jobId": "j", "extra": data}]]),
    ):
        frame = wire.request(1, method, args)
        with pytest.raises(wire.BadFrame):
            wire.read_request(frame, MAX)  # what the shard does with it
        with pytest.raises(wire.BadFrame):
            wire.check_carried(method, frame, MAX)


def test_a_request_past_the_frame_limit_is_not_carried() -> None:
    """The shard would close the connection (1009) and the call fail each time it is tried."""
    frame = wire.request(1, "publish_message", [["e" * 40] * 100, "notification", {}])
    wire.check_carried("publish_message", frame, len(frame))
    with pytest.raises(wire.BadFrame, match="over the data plane's"):
        wire.check_carried("publish_message", frame, len(frame) - 1)
    attach = wire.request(1, "attach", ["ing", ["e" * 40] * 100])
    with pytest.raises(wire.BadFrame):
        wire.check_carried("attach", attach, 1024)


@pytest.mark.parametrize("method", list(RIGHT_ARGS))
def test_what_the_hub_sends_is_carried(method: str) -> None:
    wire.check_carried(method, wire.request(1, method, RIGHT_ARGS[method]), MAX)
    big = {"n": 2**80, "nested": {"list": [1.5, None, "x", {"k": b"bytes"}]}}
    wire.check_carried("publish_message", wire.request(1, "publish_message", [["a"], "t", big]), MAX)
