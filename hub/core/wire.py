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

from hub.core.records import FeedBatch, FeedItem, HelloReply, PublishReply
from hub.core.stream import Envelope, StreamPosition

BIG_INT = 1  # ext type code: an int past 64 bits, as its decimal digits (ASCII)

# The shard methods the data plane carries, with the number of arguments each takes (at most).
METHODS: dict[str, int] = {
    "publish": 1,
    "publish_message": 3,
    "hello_many": 2,
    "unwatch_many": 2,
    "attach": 2,
    "detach": 1,
    "pull": 4,
    "ping": 0,
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
    bounds each string, array and map inside (msgpack's own limits), so a frame cannot make the
    reader allocate more than it holds."""
    try:
        return msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=True,
            ext_hook=_ext,
            max_str_len=max_len,
            max_bin_len=max_len,
            max_array_len=max_len,
            max_map_len=max_len,
            max_ext_len=max_len,
        )
    except BadFrame:
        raise
    except Exception as exc:  # msgpack raises several kinds (ExtraData, FormatError, ValueError, ...)
        raise BadFrame(f"not one MessagePack value ({type(exc).__name__})") from None


def request(call_id: int, method: str, args: list[Any]) -> bytes:
    """A request frame: `[call_id, method, args]` in MessagePack. TypeError as `pack`."""
    return pack([call_id, method, args])


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
        educator_id, seq, mtype, ts, data, job_id, tick = env
        k = index.get(id(data))
        if k is None:
            k = index[id(data)] = len(datas)
            datas.append(data)
        out.append([educator_id, seq, mtype, ts, k, job_id, tick])
    return out


def _envelopes_in(raw: Any, datas: list[Any]) -> list[Envelope]:
    return [Envelope(e, s, t, ts, datas[k], j, tick) for e, s, t, ts, k, j, tick in raw]


def feed_out(batch: FeedBatch) -> list[Any]:
    """A FeedBatch as its wire array: [epoch, unknown, lost, feed, datas, items], each item
    [feed number, educator, seq, type, ts, data index, job id, tick]."""
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
    wire: list[FeedItem] = [(n, (e, s, t, ts, datas[k], j, tick)) for n, e, s, t, ts, k, j, tick in items]
    return FeedBatch(epoch, unknown, wire, lost, feed)


def hellos_out(replies: list[HelloReply]) -> list[Any]:
    """HelloReplies as wire arrays: [[epoch, seq], resumed, datas, messages, snapshot, truncated]."""
    out = []
    for r in replies:
        datas: list[Any] = []
        messages = _envelopes_out(r.messages, datas, {})
        out.append([list(r.position), r.resumed, datas, messages, r.snapshot, r.snapshot_truncated])
    return out


def hellos_in(value: Any) -> list[HelloReply]:
    """`hellos_out`'s arrays as HelloReplies again."""
    return [
        HelloReply(StreamPosition(*position), resumed, _envelopes_in(messages, datas), snapshot, truncated)
        for position, resumed, datas, messages, snapshot, truncated in value
    ]


def hello_requests_in(value: Any) -> list[tuple[str, StreamPosition | None]]:
    """A hello_many's requests from the wire ([educator, [epoch, seq] or None] each), checked:
    BadFrame for another shape."""
    out: list[tuple[str, StreamPosition | None]] = []
    if not isinstance(value, list):
        raise BadFrame("hello_many's requests are a list")
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise BadFrame("a hello request is [educator, position or null]")
        position = item[1]
        if position is None:
            out.append((item[0], None))
        elif (
            isinstance(position, list)
            and len(position) == 2
            and isinstance(position[0], str)
            and isinstance(position[1], int)
        ):
            out.append((item[0], StreamPosition(position[0], position[1])))
        else:
            raise BadFrame("a hello's resume position is [epoch, seq]")
    return out


# How each method's reply goes out (shard side) and comes back (caller side); absent: as it is.
REPLY_OUT: dict[str, Callable[[Any], Any]] = {
    "pull": feed_out,
    "hello_many": hellos_out,
    "publish": lambda r: [r.epoch, r.seqs],
}
REPLY_IN: dict[str, Callable[[Any], Any]] = {
    "pull": feed_in,
    "hello_many": hellos_in,
    "publish": lambda v: PublishReply(v[0], v[1]),
}


def _strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _number_or_none(v: Any) -> bool:
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 3600)


# Each method's arguments, checked before the shard sees them (the shard checks the values inside:
# a job update is validated as a JobState there).
_ARGS: dict[str, Callable[[list[Any]], bool]] = {
    "publish": lambda a: len(a) == 1 and isinstance(a[0], list) and all(isinstance(u, dict) for u in a[0]),
    "publish_message": lambda a: len(a) == 3 and _strs(a[0]) and isinstance(a[1], str) and isinstance(a[2], dict),
    "hello_many": lambda a: len(a) == 2 and isinstance(a[0], str) and isinstance(a[1], list),
    "unwatch_many": lambda a: len(a) == 2 and isinstance(a[0], str) and _strs(a[1]),
    "attach": lambda a: len(a) == 2 and isinstance(a[0], str) and _strs(a[1]),
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
}


def checked_args(method: str, args: list[Any]) -> list[Any]:
    """`args` of a request for `method` (from read_request) in the form the shard method takes;
    BadFrame when they are not of the types it takes."""
    if not _ARGS[method](args):
        raise BadFrame(f"{method}: arguments of the wrong types")
    if method == "hello_many":
        return [args[0], hello_requests_in(args[1])]
    return args
