"""A connection's states are one table (hub.core.connstate), and Connection moves only through it:
the first close counts, a failed write overrides a drain, a start after a close stays closing."""

from __future__ import annotations

import asyncio

import pytest

from hub.core.connstate import TRANSITIONS, ConnEvent, ConnState, InvalidConnTransition, next_state, takes_close
from hub.core.errors import ServiceRestart, ShuttingDown, SlowConsumer
from hub.core.stream import EducatorStream, StreamPosition
from hub.core.subscriber import Subscriber
from hub.ingress.connection import Connection
from hub.ingress.polling import PollWaiter
from tests.unit.fakesocket import FakeSocket, make_connection

J, O, D, C, X = ConnState.JOINING, ConnState.OPEN, ConnState.DRAINING, ConnState.CLOSING, ConnState.CLOSED  # noqa: E741


def test_the_table_covers_every_state_and_only_a_second_start_is_refused() -> None:
    assert set(TRANSITIONS) == set(ConnState)
    missing = [(s, e) for s in ConnState for e in ConnEvent if e not in TRANSITIONS[s]]
    assert missing == [(O, ConnEvent.START)]
    with pytest.raises(InvalidConnTransition, match="cannot start when open"):
        next_state(O, ConnEvent.START)


@pytest.mark.parametrize(
    ("events", "end"),
    [
        (["start"], O),
        (["start", "drain", "gone"], X),
        (["start", "close", "gone"], X),
        (["start", "gone"], X),  # the client left
        (["start", "drain", "fail"], C),  # a failed write cannot drain
        (["start", "drain", "close"], D),  # the first close counts
        (["start", "close", "drain"], C),
        (["close", "start"], C),  # closed while its hello was in flight: the welcome changes nothing
        (["drain", "start", "gone"], X),
        (["start", "close", "gone", "close", "fail", "start"], X),  # closed stays closed
    ],
)
def test_paths_through_the_table(events: list[str], end: ConnState) -> None:
    state = J
    for event in events:
        state = next_state(state, ConnEvent(event))
    assert state is end


def test_only_the_first_close_or_a_failure_sets_the_close_code() -> None:
    assert takes_close(J, ConnEvent.CLOSE) and takes_close(O, ConnEvent.DRAIN)
    assert not takes_close(D, ConnEvent.CLOSE) and not takes_close(C, ConnEvent.DRAIN)
    assert takes_close(D, ConnEvent.FAIL) and takes_close(C, ConnEvent.FAIL)
    assert not takes_close(X, ConnEvent.FAIL)
    assert not any(takes_close(s, e) for s in ConnState for e in (ConnEvent.START, ConnEvent.GONE))
    assert [s for s in ConnState if s.closing] == [D, C, X]


def make(ws: FakeSocket) -> Connection:
    return make_connection(ws, start=False)


def test_a_connection_walks_the_table_and_its_first_close_is_the_one_sent() -> None:
    async def go() -> tuple[list[ConnState], FakeSocket]:
        ws = FakeSocket()
        conn = make(ws)
        seen = [conn.state]
        conn.start('{"op":"welcome"}', StreamPosition("e", 0), [])
        seen.append(conn.state)
        conn.close(SlowConsumer("slow consumer: reconnect and resume"))
        conn.close(ShuttingDown("server shutting down: reconnect and resume"), flush=True)  # too late
        seen.append(conn.state)
        await conn.wait_closed()
        seen.append(conn.state)
        return seen, ws

    seen, ws = asyncio.run(go())
    assert seen == [J, O, C, X]
    assert ws.closed == (4409, "slow consumer: reconnect and resume")


def test_a_connection_closed_while_joining_sends_no_welcome_and_takes_no_messages() -> None:
    async def go() -> tuple[Connection, FakeSocket]:
        ws = FakeSocket()
        conn = make(ws)
        conn.close(ServiceRestart("registry shard restarted: reconnect and resume"))
        await conn.wait_closed()
        stream = EducatorStream("alice", "e", max_messages=10, max_age=60)
        env = stream.append("notification", {}, 1.0)
        conn.start('{"op":"welcome"}', StreamPosition("e", 0), [env])
        assert not conn.offer(stream.append("notification", {}, 1.0), "{}")
        await asyncio.sleep(0.01)
        return conn, ws

    conn, ws = asyncio.run(go())
    assert conn.state is X
    assert ws.sent == [] and ws.closed == (1012, "registry shard restarted: reconnect and resume")


def test_websocket_connections_and_long_poll_waiters_are_both_subscribers() -> None:
    async def go() -> list[Subscriber]:
        return [make(FakeSocket()), PollWaiter("alice", max_messages=1000)]

    for sub in asyncio.run(go()):
        assert sub.educator_id == "alice" and sub.session
        assert sub.trim_idle(0.0) is False  # nothing to give back: no compressor (no writer)
