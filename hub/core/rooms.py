"""Rooms (PROTOCOL.md section 7): which ids are rooms, who may use one, and the contract's fixed limits.
Pure: the ingress checks ops with these before any shard sees them.

The figures here are the contract's, not operator settings: a client written from PROTOCOL.md relies
on them (Settings holds the tunable ones: rooms per connection, ops per second, members listed)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from hub.core import strictjson
from hub.core.errors import BadFrame, Forbidden, TooLarge

ROOM_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")  # PROTOCOL.md section 7: 1-128 of A-Za-z0-9_.:@-
MAX_INFO_BYTES = 1024  # a join's `info`, as JSON (section 7, `join`)
MAX_DATA_BYTES = 16 * 1024  # a publish's `data`, as JSON (section 7, `publish`)
TYPING_TTL = 6.0  # seconds a `typing: true` lasts without a repeat (section 7, "Typing")
HTTP_SESSION = "http"  # the `from.session` of a message published over HTTP


def is_room_id(room: object) -> bool:
    """Whether `room` is a valid room id (a str of 1-128 characters of A-Za-z0-9_.:@-)."""
    return isinstance(room, str) and ROOM_ID.fullmatch(room) is not None


ROOM_ID_RULE = "a room id is 1 to 128 characters of A-Z, a-z, 0-9 and _ . : @ -"  # the sentence of a refusal


def check_room_id(room: object, ref: str | None = None) -> str:
    """`room` when it is a valid room id; BadFrame (with `ref`, the op) saying why not."""
    if not is_room_id(room):
        raise BadFrame(ROOM_ID_RULE, ref=ref)
    assert isinstance(room, str)
    return room


def check_pattern(pattern: object) -> str:
    """A token's room pattern when valid: a room id, or a prefix of one ending in `*` (a lone `*` is
    every room); ValueError saying why not (a token is refused at issue, never half-used)."""
    if not isinstance(pattern, str):
        raise ValueError(f"a room pattern is a string, not {type(pattern).__name__}")
    body = pattern[:-1] if pattern.endswith("*") else pattern
    if body == "" and pattern == "*":
        return pattern
    if not is_room_id(body):
        raise ValueError(f"room pattern {pattern!r}: a room id or a prefix of one ending in '*'")
    return pattern


def pattern_matches(pattern: str, room: str) -> bool:
    """Whether the token pattern `pattern` covers `room`: equal to it, or a `*`-ended prefix of it."""
    if pattern.endswith("*"):
        return room.startswith(pattern[:-1])
    return pattern == room


def room_permitted(role: str, patterns: Iterable[str], room: str, *, service_may: bool = False) -> bool:
    """Whether an identity with `role` and room `patterns` may use `room`: an admin always; a service
    when `service_may` (publishing and reading members over HTTP); anyone whose pattern matches."""
    if role == "admin" or (service_may and role == "service"):
        return True
    return any(pattern_matches(p, room) for p in patterns)


def require_room(role: str, patterns: Iterable[str], room: str, *, service_may: bool = False) -> None:
    """Forbidden (code `forbidden`, HTTP 403) when `room_permitted` says no; the message is a sentence."""
    if not room_permitted(role, patterns, room, service_may=service_may):
        raise Forbidden(f"this token may not use room {room!r} (its `rooms` patterns do not match it)")


def json_size(value: object) -> int:
    """The UTF-8 length of `value` as compact strict JSON (what the limits count); unsafe values are
    counted as made safe (the shard makes them so)."""
    return len(strictjson.dumps_safe(value)[0].encode("utf-8"))


def check_size(value: object, limit: int, what: str) -> None:
    """TooLarge (code `too_large`) when `value` as JSON is over `limit` bytes."""
    size = json_size(value)
    if size > limit:
        raise TooLarge(f"{what} is {size} bytes as JSON, over the {limit} a room allows")
