"""The Python client's errors (hub.client re-exports them): HubClientError when the client gives up, and
RoomError when the hub refuses one room op (PROTOCOL.md section 7); and the user callbacks both the client
and its rooms call (Handlers), where a user's error is logged and skipped."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any


class HubClientError(Exception):
    """The client gave up: `code` is the close code that ended it (a final one, hub.core.closecodes; 4401
    also for a long-poll refused with 401), or None when it gave up after too many failed attempts. Its
    subclass RoomError carries a room error's string code instead."""

    def __init__(self, message: str, code: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code


class RoomError(HubClientError):
    """The hub refused a room op (PROTOCOL.md section 7): `code` is the `error` frame's code (`forbidden`,
    `not_joined`, `rate_limited`, `too_large`, `bad_frame`), or the client's own `disconnected` (the
    connection went before the hub answered: a publish may or may not have happened) or `closed` (the
    client was closed); `room` the room and `ref` the op (`join`, `publish`, ...). The message is the
    hub's sentence. Over HTTP (the long-poll fallback) the status maps to the same codes (403 forbidden,
    413 too_large, 422 bad_frame, 429 rate_limited; another status: `http_<status>`)."""

    def __init__(self, message: str, code: str, room: str | None = None, ref: str | None = None) -> None:
        super().__init__(message, code)
        self.code: str = code
        self.room = room
        self.ref = ref


class Handlers:
    """Callbacks by event name, as the Python client's `on` takes them (HubClient, Room): `add(event,
    handler)`; `emit(event, payload)` calls each handler of `event` in order, and one that raises is
    logged on the `hub.client` logger with `what` (the client, a room) and skipped: a user's handler
    never stops delivery."""

    __slots__ = ("what", "_by_event")

    def __init__(self, what: str) -> None:
        self.what = what
        self._by_event: dict[str, list[Callable[[dict[str, Any]], Any]]] = {}

    def add(self, event: str, handler: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        """Register `handler(payload)` for `event`; returns it."""
        self._by_event.setdefault(event, []).append(handler)
        return handler

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        """Call `event`'s handlers with `payload`, each in a try of its own (logged, then skipped)."""
        for handler in self._by_event.get(event, ()):
            try:
                handler(payload)
            except Exception:
                logging.getLogger("hub.client").exception("%s: handler for %s failed", self.what, event)
