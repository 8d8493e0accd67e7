"""How one WebSocket connection's frames are written and read: JSON text frames (`hub.v1`, PROTOCOL.md
section 2) or MessagePack binary frames holding exactly the same objects (`hub.v1.msgpack`, section 8).
Pure: no sockets, clocks or logging.

The ingress makes each envelope's JSON text once per message (hub.core.protocol.envelope_json) and
every connection that gets it shares that text. A MessagePack connection gets the same object packed
(the `msgpack` library), also once per message per ingress: `MsgpackFrames.envelope` keeps the packed
bytes of recent texts (by identity, bounded in bytes), and a batch is the library's map and array
headers around those packed envelopes, as `batch_frame` does with JSON texts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import msgpack

from hub.core.errors import BadFrame
from hub.core.protocol import KNOWN_OPS, SUBPROTOCOL, AnyClientOp, batch_frame, parse_client_frame, parse_client_object

MSGPACK_SUBPROTOCOL = "hub.v1.msgpack"
SUBPROTOCOLS = (SUBPROTOCOL, MSGPACK_SUBPROTOCOL)  # those the hub speaks
MSGPACK_MEDIA_TYPE = "application/msgpack"  # the HTTP content type (GET /api/jobs/{id}, .../result)


def select_subprotocol(offered: Sequence[str]) -> str | None:
    """The subprotocol the server selects: the first one in the client's list (`offered`, the
    Sec-WebSocket-Protocol values in order) that the hub speaks (PROTOCOL.md section 8); None when the
    client offered none of them (a JSON connection with no subprotocol, as section 2 allows)."""
    return next((p for p in offered if p in SUBPROTOCOLS), None)


def prefers_msgpack(accept: str | None) -> bool:
    """Whether an HTTP `Accept` header asks for MessagePack (PROTOCOL.md section 8) rather than JSON: it names
    application/msgpack (or application/x-msgpack) with a quality above 0 and at least JSON's (its
    application/json, else application/*, else */*), listed first where the two are equal (RFC 9110
    12.5.1 leaves ties to the server)."""
    if not accept:
        return False
    best: dict[str, tuple[float, int]] = {}  # media range -> (quality, position)
    for position, part in enumerate(accept.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        best.setdefault(media.lower(), (quality, position))
    msgpack_q = max((best[m] for m in ("application/msgpack", "application/x-msgpack") if m in best), default=None)
    if msgpack_q is None or msgpack_q[0] <= 0:
        return False
    json_q = next((best[m] for m in ("application/json", "application/*", "*/*") if m in best), (0.0, 1 << 30))
    return msgpack_q[0] > json_q[0] or (msgpack_q[0] == json_q[0] and msgpack_q[1] < json_q[1])


class NotJsonValue(ValueError):
    """A decoded MessagePack value that JSON cannot carry (a bin or ext value, NaN or an infinity, a
    map key that is not a string): PROTOCOL.md section 8 frames hold only what JSON would."""


def check_json_value(value: Any) -> None:
    """NotJsonValue, saying what, when `value` (as msgpack.unpackb returns it) holds anything but
    None, bool, int, finite float, str, list, or dict with str keys. Iterative: any depth the
    unpacker allows."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if item is None or kind is str or kind is int or kind is bool:
            continue
        if kind is float:
            if not math.isfinite(item):
                raise NotJsonValue(f"{item!r} is not a number JSON carries")
        elif kind is list:
            stack.extend(item)
        elif kind is dict:
            for key, sub in item.items():
                if type(key) is not str:
                    raise NotJsonValue(f"a map key must be a string, not {type(key).__name__}")
                stack.append(sub)
        elif kind is bytes:
            raise NotJsonValue("a binary (bin) value, which JSON cannot carry")
        else:  # msgpack.ExtType, msgpack.Timestamp
            raise NotJsonValue(f"a MessagePack {kind.__name__} value, which JSON cannot carry")


def unpack_object(frame: bytes) -> Any:
    """One MessagePack frame decoded, checked to hold only JSON's values (check_json_value); ValueError
    (NotJsonValue included) saying why when it is not one whole valid MessagePack value of that kind."""
    try:
        value = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:  # TypeError: a list as a key
        raise ValueError(f"not one whole MessagePack value: {_why(exc)}") from None
    check_json_value(value)
    return value


def _why(exc: BaseException) -> str:
    if isinstance(exc, msgpack.StackError):
        return "nested too deeply"
    if isinstance(exc, msgpack.FormatError):
        return "a byte that starts no MessagePack value"
    return str(exc) or type(exc).__name__


def pack(value: Any) -> bytes:
    """`value` (JSON's kinds of values) as MessagePack: maps with string keys, strings as str, floats as
    float64 (PROTOCOL.md section 8: `ts` a float64). An integer past 64 bits (JSON has no bound, MessagePack
    does) goes as the float64 a JavaScript client's JSON.parse would make of it."""
    try:
        packed: bytes = msgpack.packb(value, use_bin_type=True)
    except OverflowError:
        packed = msgpack.packb(_wide_ints_as_floats(value), use_bin_type=True)
    return packed


def _wide_ints_as_floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _wide_ints_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wide_ints_as_floats(v) for v in value]
    if type(value) is int and not -(2**63) <= value < 2**64:
        return float(value)
    return value


def _packed_key(key: str) -> bytes:
    return pack(key)


class JsonFrames:
    """Frames of a `hub.v1` (or no-subprotocol) connection: JSON text, as PROTOCOL.md section 2."""

    subprotocol = SUBPROTOCOL
    binary = False

    def parse(self, frame: str | bytes) -> AnyClientOp:
        """One inbound frame as its op; BadFrame when it is binary or not a valid op."""
        if not isinstance(frame, str):
            raise BadFrame("frames must be text (JSON)")
        return parse_client_frame(frame)

    def batch(self, texts: list[str], skipped: int) -> str:
        """A `batch` frame of the envelopes' shared JSON texts."""
        return batch_frame(texts, skipped)

    def control(self, text: str) -> str:
        """A control frame (welcome, pong, error, joined, ...) made as JSON text, as it goes out."""
        return text

    def lenient_field(self, frame: str | bytes, name: str) -> Any:
        """Field `name` of a frame that failed to parse, when a lenient reader finds one (for an error's
        `ref` and `room`); None otherwise."""
        try:
            value = json.loads(frame)
        except (ValueError, RecursionError):
            return None
        return value.get(name) if isinstance(value, dict) else None


class MsgpackFrames:
    """Frames of a `hub.v1.msgpack` connection (PROTOCOL.md section 8): each a binary frame holding the
    object JSON would carry, MessagePack-encoded. One instance per ingress, shared by its MessagePack
    connections: it keeps the packed bytes of recently packed envelope texts (at most `memo_bytes` of
    texts and bytes together, oldest first out), so that a message fanned out to many connections is
    packed once."""

    subprotocol = MSGPACK_SUBPROTOCOL
    binary = True
    _BATCH = _packed_key("op") + _packed_key("batch") + _packed_key("messages")
    _SKIPPED = _packed_key("skipped")

    def __init__(self, memo_bytes: int = 4 << 20) -> None:
        self.memo_bytes = memo_bytes
        self._memo: dict[int, tuple[str, bytes]] = {}  # id(text) -> (text, packed); the text keeps its id
        self._held = 0
        self.packed = 0  # envelopes packed (a memo miss): metrics and tests
        self._packer = msgpack.Packer(use_bin_type=True)

    def parse(self, frame: str | bytes) -> AnyClientOp:
        """One inbound frame as its op; BadFrame when it is a text frame, not MessagePack, holds a value JSON
        cannot carry, or is not a valid op."""
        if isinstance(frame, str):
            raise BadFrame("frames must be binary (MessagePack) on a hub.v1.msgpack connection")
        try:
            value = unpack_object(frame)
        except ValueError as exc:
            raise BadFrame(str(exc), ref=self._op_hint(frame)) from None
        return parse_client_object(value)

    def envelope(self, text: str) -> bytes:
        """The envelope whose shared JSON text is `text`, packed (once while remembered)."""
        hit = self._memo.get(id(text))
        if hit is not None and hit[0] is text:
            return hit[1]
        packed = pack(json.loads(text))
        self.packed += 1
        size = len(text) + len(packed)
        if size <= self.memo_bytes:
            memo = self._memo
            while self._held + size > self.memo_bytes:
                old_text, old_packed = memo.pop(next(iter(memo)))
                self._held -= len(old_text) + len(old_packed)
            memo[id(text)] = (text, packed)
            self._held += size
        return packed

    def batch(self, texts: list[str], skipped: int) -> bytes:
        """A `batch` frame, {op, messages, skipped?} in JSON's key order, around the packed envelopes."""
        packer = self._packer
        parts = [packer.pack_map_header(3 if skipped else 2), self._BATCH, packer.pack_array_header(len(texts))]
        parts.extend(self.envelope(text) for text in texts)
        if skipped:
            parts += (self._SKIPPED, packer.pack(skipped))
        return b"".join(parts)

    def control(self, text: str) -> bytes:
        """A control frame made as JSON text (hub.core.protocol's *_frame), packed."""
        return pack(json.loads(text))

    def lenient_field(self, frame: str | bytes, name: str) -> Any:
        """Field `name` of a frame that failed to parse, when it decodes to a map that has it; else None."""
        if isinstance(frame, str):
            return None
        try:
            value = msgpack.unpackb(frame, raw=False, strict_map_key=False)
        except Exception:  # anything the unpacker raises on garbage: no field to report
            return None
        return value.get(name) if isinstance(value, dict) else None

    def _op_hint(self, frame: bytes) -> str | None:
        op = self.lenient_field(frame, "op")
        return op if isinstance(op, str) and op in KNOWN_OPS else None


Frames = JsonFrames | MsgpackFrames
