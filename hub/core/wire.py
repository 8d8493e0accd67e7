"""The data plane's frames: what a registry shard and its callers (ingresses, job monitors) send each
other over a socket instead of a Ray call (DESIGN.md, "The data path"). Pure: MessagePack bytes in
and out, no I/O. Never pickle: a frame from a socket is only ever MessagePack-decoded, into plain
values, and checked here before anything acts on it.

A request is `[id, method, args]` (id: an int the caller picks, method: one of `METHODS`, args: a
list); a reply is `[id, True, value]` or `[id, False, reason]` (reason: a sentence). Integers past
MessagePack's 64 bits travel as an ext type (`BIG_INT`) and come back as the same int.

Records travel as arrays in their field order and are rebuilt on the far side as the records of
hub.core.records. A pull's envelopes name their `data` by index into one table per batch, so a
message published to many educators (one `data` object shared by their envelopes) is encoded once
and decoded into one shared object again, as pickle kept it over Ray (the ingress then serialises it
to JSON once: hub.ingress.relay)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from hub.core.jobstate import JobState
from hub.core.records import FeedBatch, FeedItem, HelloReply, PublishReply, RoomJoinReply
from hub.core.stream import Envelope, StreamPosition

BIG_INT = 1  # ext type code: an int past 64 bits, as its decimal digits (ASCII)

# The shard methods the data plane carries, with the number of arguments each takes (at most).
METHODS: dict[str, int] = {
    "publish": 1,
    "publish_message": 3,
    "hello_many": 2,
    "unwatch_many": 2,
    "attach": 3,
    "detach": 1,
    "pull": 4,
    "ping": 0,
    "room_join_many": 2,
    "room_leave_many": 2,
    "room_publish": 6,
    "room_typing": 4,
    "room_members": 1,
    "job": 1,
}


class BadFrame(ValueError):
    """A data-plane frame that is not MessagePack, or not the shape its place needs; the message
    is a sentence for the log (the peer is told only the request failed)."""


def _default(value: Any) -> Any:
    if isinstance(value, int):  # past 64 bits: msgpack asks us
        return msgpack.ExtType(BIG_INT, str(value).encode("ascii"))
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"the data plane cannot carry a {type(value).__name__}")


def _ext(code: int, data: bytes) -> Any:
    if code == BIG_INT:
        try:
            return int(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise BadFrame("a big-integer field is not a decimal number") from None
    raise BadFrame(f"unknown MessagePack ext type {code}")


def pack(value: Any) -> bytes:
    """`value` (plain JSON-like values, tuples, ints of any size) as MessagePack bytes. TypeError for
    a value MessagePack has no form for (the caller may send it another way: over Ray)."""
    frame: bytes = msgpack.packb(value, default=_default, use_bin_type=True)
    return frame


def unpack(frame: bytes, max_len: int) -> Any:
    """The value a MessagePack frame holds; BadFrame when it is not one value of MessagePack. `max_len`
    bounds each string, array and map inside (msgpack's own limits), and so does the frame's length
    (each element takes at least a byte), so a frame cannot make the reader allocate more than it
    holds: msgpack makes room for a container's claimed length before its elements arrive, and
    bounded by `max_len` alone (16 MiB) a 5 KB frame of 1000 nested array headers made the reader
    allocate 80 MB and held its loop 0.08-0.5 s (2 cores), against 27 us bounded by the frame
    (msgpack's own default bounds by the buffer's length too)."""
    limit = min(max_len, len(frame))
    try:
        return msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=True,
            ext_hook=_ext,
            max_str_len=limit,
            max_bin_len=limit,
            max_array_len=limit,
            max_map_len=limit,
            max_ext_len=limit,
        )
    except BadFrame:
        raise
    except Exception as exc:  # msgpack raises several kinds (ExtraData, FormatError, ValueError, ...)
        raise BadFrame(f"not one MessagePack value ({type(exc).__name__})") from None


def request(call_id: int, method: str, args: list[Any]) -> bytes:
    """A request frame: `[call_id, method, args]` in MessagePack. TypeError as `pack`."""
    return pack([call_id, method, args])


# The methods whose arguments hold values from code (job states and their `extra`, message data):
# their dicts may have keys MessagePack carries but a shard refuses (unpack's strict_map_key: only
# string keys), which Ray carried (the shard makes them strict JSON: hub.core.strictjson).
FREE_FORM = frozenset({"publish", "publish_message", "room_publish", "room_join_many", "attach"})


def check_carried(method: str, frame: bytes, max_len: int) -> None:
    """BadFrame when a shard would not take `frame`, a `request` for `method` (the caller then makes
    the call over Ray): longer than `max_len` (DataPlaneConfig.dataplane_max_frame: the shard would
    close the connection, 1009, and the call fail each time it is tried), or, for FREE_FORM methods,
    holding a map key that is not a string (the shard would drop the frame). Costs a decode of those
    methods' frames only (3 us for a publish of one job state, 2.5 ms for a message to 30,000
    educators; 2-core machine)."""
    if len(frame) > max_len:
        raise BadFrame(f"a {method} request of {len(frame)} bytes, over the data plane's {max_len}")
    if method in FREE_FORM:
        unpack(frame, max_len)


def read_request(frame: Any, max_len: int) -> tuple[int, str, list[Any]]:
    """(call id, method, args) from a request frame. BadFrame for text (a str frame), bytes that are
    not MessagePack, another shape, an unknown method or too many arguments; the message says which."""
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise BadFrame("a text frame; the data plane takes binary MessagePack frames only")
    value = unpack(bytes(frame), max_len)
    if not (isinstance(value, list) and len(value) == 3):
        raise BadFrame("a request is [id, method, args]")
    call_id, method, args = value
    if not isinstance(call_id, int) or isinstance(call_id, bool) or not 0 <= call_id < 2**63:
        raise BadFrame("a request's id is a non-negative integer")
    if not isinstance(method, str) or method not in METHODS:
        raise BadFrame(f"unknown method {str(method)[:40]!r}")
    if not isinstance(args, list) or len(args) > METHODS[method]:
        raise BadFrame(f"{method} takes at most {METHODS[method]} arguments")
    return call_id, method, args


def reply(call_id: int, value: Any) -> bytes:
    """A successful reply frame for `call_id`, `value` already in its wire form (`to_wire`)."""
    return pack([call_id, True, value])


def failure(call_id: int, reason: str) -> bytes:
    """A failed reply frame for `call_id`: `reason`, a sentence."""
    return pack([call_id, False, reason])


def read_reply(frame: Any) -> tuple[int, bool, Any]:
    """(call id, ok, value or reason) from a reply frame; BadFrame for another shape. Replies come from
    an authenticated shard, so their sizes are not bounded here."""
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise BadFrame("a text frame; the data plane takes binary MessagePack frames only")
    value = unpack(bytes(frame), 2**31 - 1)
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], int) and isinstance(value[1], bool)):
        raise BadFrame("a reply is [id, ok, value]")
    return value[0], value[1], value[2]


# -- the records, both ways ------------------------------------------------------------------------


def _envelopes_out(envs: list[Envelope] | list[tuple[Any, ...]], datas: list[Any], index: dict[int, int]) -> list[Any]:
    out = []
    for env in envs:
        educator_id, seq, mtype, ts, data, job_id, tick, room, origin = env
        k = index.get(id(data))
        if k is None:
            k = index[id(data)] = len(datas)
            datas.append(data)
        out.append([educator_id, seq, mtype, ts, k, job_id, tick, room, origin])
    return out


def _envelopes_in(raw: Any, datas: list[Any]) -> list[Envelope]:
    return [Envelope(e, s, t, ts, datas[k], j, tick, r, o) for e, s, t, ts, k, j, tick, r, o in raw]


def feed_out(batch: FeedBatch) -> list[Any]:
    """A FeedBatch as its wire array: [epoch, unknown, lost, feed, datas, items], each item
    [feed number, stream key, seq, type, ts, data index, job id, tick, room, origin]."""
    datas: list[Any] = []
    index: dict[int, int] = {}
    numbers = [n for n, _ in batch.items]
    envs = _envelopes_out([env for _, env in batch.items], datas, index)
    items = [[n, *e] for n, e in zip(numbers, envs, strict=True)]
    return [batch.epoch, batch.unknown, batch.lost, batch.feed, datas, items]


def feed_in(value: Any) -> FeedBatch:
    """`feed_out`'s array as a FeedBatch again (its items (feed number, envelope tuple), the envelopes
    of one data object sharing it)."""
    epoch, unknown, lost, feed, datas, items = value
    wire: list[FeedItem] = [(n, (e, s, t, ts, datas[k], j, tick, r, o)) for n, e, s, t, ts, k, j, tick, r, o in items]
    return FeedBatch(epoch, unknown, wire, lost, feed)


def _answers_out(replies: list[HelloReply] | list[RoomJoinReply]) -> list[Any]:
    """HelloReplies or RoomJoinReplies (both: position, resumed, messages, then two fields of their own)
    as wire arrays: [[epoch, seq], resumed, datas, messages, field 4, field 5]."""
    out = []
    for r in replies:
        datas: list[Any] = []
        messages = _envelopes_out(r.messages, datas, {})
        out.append([list(r.position), r.resumed, datas, messages, r[3], r[4]])
    return out


def hellos_out(replies: list[HelloReply]) -> list[Any]:
    """HelloReplies as wire arrays: [[epoch, seq], resumed, datas, messages, snapshot, truncated]."""
    return _answers_out(replies)


def hellos_in(value: Any) -> list[HelloReply]:
    """`hellos_out`'s arrays as HelloReplies again."""
    return [
        HelloReply(StreamPosition(*position), resumed, _envelopes_in(messages, datas), snapshot, truncated)
        for position, resumed, datas, messages, snapshot, truncated in value
    ]


def _position_in(position: Any, what: str) -> StreamPosition | None:
    if position is None:
        return None
    if (
        isinstance(position, list)
        and len(position) == 2
        and isinstance(position[0], str)
        and isinstance(position[1], int)
        and not isinstance(position[1], bool)
    ):
        return StreamPosition(position[0], position[1])
    raise BadFrame(f"{what}'s resume position is [epoch, seq]")


def hello_requests_in(value: Any) -> list[tuple[str, StreamPosition | None]]:
    """A hello_many's requests from the wire ([educator, [epoch, seq] or None] each), checked:
    BadFrame for another shape."""
    out: list[tuple[str, StreamPosition | None]] = []
    if not isinstance(value, list):
        raise BadFrame("hello_many's requests are a list")
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise BadFrame("a hello request is [educator, position or null]")
        out.append((item[0], _position_in(item[1], "a hello")))
    return out


def _room_member_ok(item: Any) -> bool:
    return (
        isinstance(item, list)
        and len(item) >= 5
        and isinstance(item[0], str)
        and isinstance(item[1], str)
        and isinstance(item[2], str)
        and isinstance(item[3], bool)
        and (item[4] is None or isinstance(item[4], dict))
    )


def room_joins_in(value: Any) -> list[tuple[Any, ...]]:
    """A room_join_many's requests from the wire ([room, session, educator, present, info or null,
    [epoch, seq] or null] each), checked: BadFrame for another shape."""
    if not isinstance(value, list):
        raise BadFrame("room_join_many's requests are a list")
    out = []
    for item in value:
        if not (_room_member_ok(item) and len(item) == 6):
            raise BadFrame("a room join is [room, session, educator, present, info, position]")
        out.append((*item[:5], _position_in(item[5], "a room join")))
    return out


def room_joins_out(replies: list[RoomJoinReply]) -> list[Any]:
    """RoomJoinReplies as wire arrays: [[epoch, seq], resumed, datas, messages, members, count]."""
    return _answers_out(replies)


def room_joins_back(value: Any) -> list[RoomJoinReply]:
    """`room_joins_out`'s arrays as RoomJoinReplies again."""
    return [
        RoomJoinReply(StreamPosition(*position), resumed, _envelopes_in(messages, datas), members, count)
        for position, resumed, datas, messages, members, count in value
    ]


# How each method's reply goes out (shard side) and comes back (caller side); absent: as it is.
REPLY_OUT: dict[str, Callable[[Any], Any]] = {
    "pull": feed_out,
    "hello_many": hellos_out,
    "publish": lambda r: [r.epoch, r.seqs],
    "room_join_many": room_joins_out,
    "room_members": list,
    "job": lambda s: None if s is None else s.wire(),
}
REPLY_IN: dict[str, Callable[[Any], Any]] = {
    "pull": feed_in,
    "hello_many": hellos_in,
    "publish": lambda v: PublishReply(v[0], v[1]),
    "room_join_many": room_joins_back,
    "room_members": lambda v: (v[0], v[1]),
    "job": lambda v: None if v is None else JobState.model_validate(v),
}


def _strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _number_or_none(v: Any) -> bool:
    # A pull's timeout: None, or any finite number of seconds >= 0 (the relay passes
    # Settings.poll_timeout, which has no upper bound; a bound here made every pull fail past it).
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < float("inf"))


# Each method's arguments, checked before the shard sees them (the shard checks the values inside:
# a job update is validated as a JobState there).
_ARGS: dict[str, Callable[[list[Any]], bool]] = {
    "publish": lambda a: len(a) == 1 and isinstance(a[0], list) and all(isinstance(u, dict) for u in a[0]),
    "publish_message": lambda a: len(a) == 3 and _strs(a[0]) and isinstance(a[1], str) and isinstance(a[2], dict),
    "hello_many": lambda a: len(a) == 2 and isinstance(a[0], str) and isinstance(a[1], list),
    "unwatch_many": lambda a: len(a) == 2 and isinstance(a[0], str) and _strs(a[1]),
    "attach": lambda a: (
        len(a) in (2, 3)
        and isinstance(a[0], str)
        and _strs(a[1])
        and (len(a) == 2 or a[2] is None or (isinstance(a[2], list) and all(_room_member_ok(m) for m in a[2])))
    ),
    "detach": lambda a: len(a) == 1 and isinstance(a[0], str),
    "pull": lambda a: (
        len(a) == 4
        and isinstance(a[0], str)
        and isinstance(a[1], int)
        and not isinstance(a[1], bool)
        and _number_or_none(a[2])
        and (a[3] is None or isinstance(a[3], str))
    ),
    "ping": lambda a: not a,
    "job": lambda a: len(a) == 1 and isinstance(a[0], str),
    "room_join_many": lambda a: len(a) == 2 and isinstance(a[0], str) and isinstance(a[1], list),
    "room_leave_many": lambda a: (
        len(a) == 2
        and isinstance(a[0], str)
        and isinstance(a[1], list)
        and all(isinstance(x, list) and len(x) == 2 and _strs(x) for x in a[1])
    ),
    "room_publish": lambda a: (
        len(a) == 6 and all(isinstance(x, str) for x in a[:4]) and isinstance(a[4], dict) and isinstance(a[5], bool)
    ),
    "room_typing": lambda a: len(a) == 4 and all(isinstance(x, str) for x in a[:3]) and isinstance(a[3], bool),
    "room_members": lambda a: len(a) == 1 and isinstance(a[0], str),
}


def checked_args(method: str, args: list[Any]) -> list[Any]:
    """`args` of a request for `method` (from read_request) in the form the shard method takes;
    BadFrame when they are not of the types it takes."""
    if not _ARGS[method](args):
        raise BadFrame(f"{method}: arguments of the wrong types")
    if method == "hello_many":
        return [args[0], hello_requests_in(args[1])]
    if method == "room_join_many":
        return [args[0], room_joins_in(args[1])]
    if method == "room_leave_many":
        return [args[0], [(room, session) for room, session in args[1]]]
    if method == "attach" and len(args) == 3 and args[2] is not None:
        return [args[0], args[1], [tuple(m[:5]) for m in args[2]]]
    return args
