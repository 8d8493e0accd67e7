"""A WebSocket connection's states: the one table of what each event does in each state (h11 style,
as hub.core.jobstate holds job statuses). hub.ingress.connection.Connection moves only through
`next_state`.

    JOINING --start--> OPEN --close(flush)--> DRAINING --gone--> CLOSED
       |                 |                       |                 ^
       +--close/fail-----+------close/fail-------+--fail--> CLOSING --gone

- JOINING: the hello was accepted and the relay asked the registry shard for its answer; stream
  messages that arrive meanwhile wait (they go out after the welcome, in seq order).
- OPEN: the welcome is queued; messages go out as they come.
- DRAINING: closing after what is queued is sent (a graceful stop: 1001).
- CLOSING: closing at once (what is queued is dropped: the client resumes from the stream).
- CLOSED: the close frame was sent, or the client is gone.

The first close wins: a later `close` changes nothing; `fail` (a write failed: 1011) overrides a
drain, as a write that fails cannot drain. `start` after a close (the relay closed the connection
while its hello was in flight) leaves it closing. Pure: no I/O, no clock.
"""

from __future__ import annotations

from enum import StrEnum

from hub.core.errors import HubError


class ConnState(StrEnum):
    """Where one WebSocket connection is in its life."""

    JOINING = "joining"
    OPEN = "open"
    DRAINING = "draining"
    CLOSING = "closing"
    CLOSED = "closed"

    @property
    def closing(self) -> bool:
        """A close was asked for (or the client is gone): nothing new is queued."""
        return self in (ConnState.DRAINING, ConnState.CLOSING, ConnState.CLOSED)


class ConnEvent(StrEnum):
    """What happens to a connection."""

    START = "start"  # the welcome is queued
    DRAIN = "drain"  # close after sending what is queued
    CLOSE = "close"  # close at once
    FAIL = "fail"  # a write failed: close at once (1011)
    GONE = "gone"  # the close frame was sent, or the client left


_J, _O, _D, _C, _X = ConnState.JOINING, ConnState.OPEN, ConnState.DRAINING, ConnState.CLOSING, ConnState.CLOSED
_START, _DRAIN, _CLOSE, _FAIL, _GONE = ConnEvent.START, ConnEvent.DRAIN, ConnEvent.CLOSE, ConnEvent.FAIL, ConnEvent.GONE

# Every (state, event) -> next state, in one place. A pair that is missing is a bug in the caller.
TRANSITIONS: dict[ConnState, dict[ConnEvent, ConnState]] = {
    _J: {_START: _O, _DRAIN: _D, _CLOSE: _C, _FAIL: _C, _GONE: _X},
    _O: {_DRAIN: _D, _CLOSE: _C, _FAIL: _C, _GONE: _X},
    _D: {_START: _D, _DRAIN: _D, _CLOSE: _D, _FAIL: _C, _GONE: _X},
    _C: {_START: _C, _DRAIN: _C, _CLOSE: _C, _FAIL: _C, _GONE: _X},
    _X: {_START: _X, _DRAIN: _X, _CLOSE: _X, _FAIL: _X, _GONE: _X},
}


class InvalidConnTransition(HubError):
    """An event the connection state table does not allow in the current state (a bug in the hub,
    never the client's doing)."""

    code = "internal"


def next_state(state: ConnState, event: ConnEvent) -> ConnState:
    """The state after `event` in `state` (TRANSITIONS); InvalidConnTransition for a pair the table
    does not hold (only `start` of an open connection: it was started twice)."""
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise InvalidConnTransition(f"connection cannot {event.value} when {state.value}") from None


def takes_close(state: ConnState, event: ConnEvent) -> bool:
    """Whether `event` in `state` sets the close code and reason: the first close (or drain) does;
    a failure does unless the connection is already closed."""
    if event is ConnEvent.FAIL:
        return state is not ConnState.CLOSED
    return event in (ConnEvent.DRAIN, ConnEvent.CLOSE) and state in (ConnState.JOINING, ConnState.OPEN)
