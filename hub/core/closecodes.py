"""The one table of WebSocket close codes: every code PROTOCOL.md section 2 ("Close codes") lists,
1011 (docs/protocol.md, "Beyond the contract") and RFC 6455's 1000, each saying what a client does
next. The hub's errors carry these (hub.core.errors), the ingress maps them to close frames in one
place (hub.ingress.connection.close_frame), the Python client decides with them (hub.client), and
the browser client's copy (`CLOSE_CODES` in clients/js/src/hub-client.js) is checked against this one
(tests/unit/test_close_codes.py).

What a client does after each code, in the contract's words:

- "reconnect and resume" (`resume`): 1001 and 1012 ("the server is shutting down, draining or
  restarting: reconnect (to any replica) and resume"), 4409 ("slow consumer: ... reconnect and
  resume") and 1011 ("reconnect and resume, as after 1012"). Nothing the client did; it resumes from
  its last seq without loss.
- final (`final`): 4400 (malformed or missing hello), 4401 (missing, invalid or expired token) and
  4403 (the Origin is not allowed): the same hello would be refused again. One exception, section 2
  "Token expiry": at `exp` "the client reconnects with a fresh token and resumes without loss", so a
  client that can get a fresh token (a token function) reconnects after a 4401 for an expired token.
- the rest (1000, 1009, 4408, 4429): the contract promises no resume; the connection ended for what
  this one connection did (closed it, sent too much, too little, too often), and a client reconnects
  with backoff (`reconnect` true, `resume` false) and then resumes as after any reconnect.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """A close code the hub sends (PROTOCOL.md section 2, "Close codes", unless said otherwise)."""

    NORMAL = 1000
    """RFC 6455 normal closure (not in the contract's table): the hub's answer to the client's own
    close, or its close after the client's side ended."""
    GOING_AWAY = 1001
    """The server is shutting down or draining: reconnect (to any replica) and resume."""
    TOO_LARGE = 1009
    """An inbound frame over the limit (64 KiB)."""
    INTERNAL_ERROR = 1011
    """The hub failed to write to this one connection (docs/protocol.md, "Beyond the contract"; RFC
    6455 internal error): reconnect and resume, as after 1012."""
    SERVICE_RESTART = 1012
    """The server (or the part of it holding the stream) is restarting: reconnect (to any replica)
    and resume."""
    BAD_HELLO = 4400
    """Malformed or missing `hello` (also: a frame other than `hello` first). Final."""
    UNAUTHORIZED = 4401
    """Missing, invalid or expired token. Final, except at token expiry (section 2, "Token expiry"):
    the client reconnects with a fresh token and resumes without loss."""
    ORIGIN_REFUSED = 4403
    """The `Origin` is not allowed. Final."""
    HELLO_TIMEOUT = 4408
    """No `hello` within 10 s (HUB_HELLO_TIMEOUT)."""
    SLOW_CONSUMER = 4409
    """Slow consumer: the send queue stayed over its bound; reconnect and resume."""
    TOO_MANY = 4429
    """Too many connections for this token or node, or inbound rate limit exceeded."""

    @property
    def resume(self) -> bool:
        """The contract says "reconnect and resume": nothing the client did; it resumes at once."""
        return self in RESUME

    @property
    def final(self) -> bool:
        """The same hello would be refused again: the client stops (but see UNAUTHORIZED)."""
        return self in FINAL

    @property
    def reconnect(self) -> bool:
        """A client reconnects (and resumes from its last seq) after this close."""
        return self not in FINAL

    @property
    def meaning(self) -> str:
        """A short phrase for this close, for a person (an error's message when the close had no
        reason)."""
        return MEANINGS[self]


RESUME: frozenset[CloseCode] = frozenset(
    {CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART, CloseCode.SLOW_CONSUMER, CloseCode.INTERNAL_ERROR}
)
FINAL: frozenset[CloseCode] = frozenset({CloseCode.BAD_HELLO, CloseCode.UNAUTHORIZED, CloseCode.ORIGIN_REFUSED})
MEANINGS: dict[CloseCode, str] = {
    CloseCode.NORMAL: "closed",
    CloseCode.GOING_AWAY: "server shutting down",
    CloseCode.TOO_LARGE: "frame too large",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "server restarting",
    CloseCode.BAD_HELLO: "bad hello",
    CloseCode.UNAUTHORIZED: "unauthorized",
    CloseCode.ORIGIN_REFUSED: "origin not allowed",
    CloseCode.HELLO_TIMEOUT: "no hello in time",
    CloseCode.SLOW_CONSUMER: "slow consumer",
    CloseCode.TOO_MANY: "too many connections or frames",
}
