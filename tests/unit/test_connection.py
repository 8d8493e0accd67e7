"""The connection's sender with a fake socket: no delay when idle, coalescing while busy, 4409."""

import asyncio
import json
from typing import Any

from starlette.websockets import WebSocketState

from hub.ingress.connection import Connection
from hub.metrics import IngressMetrics
from hub.outbox import Outbox
from hub.stream import EducatorStream


class FakeSocket:
    def __init__(self, send_delay: float = 0.0) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.send_delay = send_delay
        self.application_state = WebSocketState.CONNECTED

    async def send_text(self, text: str) -> None:
        await asyncio.sleep(self.send_delay)
        self.sent.append(json.loads(text))

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = (code, reason)
        self.application_state = WebSocketState.DISCONNECTED


def make(ws: FakeSocket, limit: int = 1000, conflate_after: int = 1000, types: set[str] | None = None) -> Connection:
    conn = Connection(
        ws,
        session="s",
        educator_id="alice",
        types=types,  # type: ignore[arg-type]
        outbox=Outbox(limit, conflate_after),
        batch_max=500,
        metrics=IngressMetrics(),
    )
    conn.start('{"op":"welcome"}', "e", 0, [])
    return conn


def offer(conn: Connection, stream: EducatorStream, n: int, mtype: str = "notification") -> None:
    for i in range(n):
        env = stream.append(mtype, {"i": i}, 1.0)
        conn.offer(env, json.dumps(env.wire()))


def test_idle_message_goes_out_at_once_alone() -> None:
    async def go() -> FakeSocket:
        ws = FakeSocket()
        conn = make(ws)
        sender = asyncio.ensure_future(conn.run_sender())
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        await asyncio.sleep(0.01)
        offer(conn, stream, 1)
        await asyncio.sleep(0.01)
        conn.close(1000, "")
        await sender
        return ws

    ws = asyncio.run(go())
    assert [f["op"] for f in ws.sent] == ["welcome", "batch"]
    assert [m["seq"] for m in ws.sent[1]["messages"]] == [1]


def test_messages_arriving_during_a_send_share_the_next_frame() -> None:
    async def go() -> FakeSocket:
        ws = FakeSocket(send_delay=0.02)
        conn = make(ws)
        sender = asyncio.ensure_future(conn.run_sender())
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        await asyncio.sleep(0.05)
        offer(conn, stream, 1)  # goes at once
        await asyncio.sleep(0.001)  # its send is under way
        offer(conn, stream, 49)  # these coalesce
        await asyncio.sleep(0.2)
        conn.close(1000, "")
        await sender
        return ws

    ws = asyncio.run(go())
    batches = [f for f in ws.sent if f["op"] == "batch"]
    assert [len(b["messages"]) for b in batches] == [1, 49]
    seqs = [m["seq"] for b in batches for m in b["messages"]]
    assert seqs == list(range(1, 51))


def test_duplicates_and_unsubscribed_types_are_not_sent() -> None:
    async def go() -> FakeSocket:
        ws = FakeSocket()
        conn = make(ws, types={"quiz_status"})
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        env = stream.append("quiz_status", {}, 1.0)
        conn.offer(env, json.dumps(env.wire()))
        conn.offer(env, json.dumps(env.wire()))
        offer(conn, stream, 3, "notification")
        sender = asyncio.ensure_future(conn.run_sender())
        await asyncio.sleep(0.01)
        conn.close(1000, "")
        await sender
        return ws

    ws = asyncio.run(go())
    assert [m["seq"] for f in ws.sent if f["op"] == "batch" for m in f["messages"]] == [1]


def test_queue_over_its_bound_closes_4409() -> None:
    async def go() -> FakeSocket:
        ws = FakeSocket(send_delay=1.0)
        conn = make(ws, limit=10, conflate_after=5)
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        offer(conn, stream, 11)
        await asyncio.wait_for(conn.run_sender(), 5)
        return ws

    ws = asyncio.run(go())
    assert ws.closed is not None and ws.closed[0] == 4409


def test_drain_close_flushes_what_is_queued_first() -> None:
    async def go() -> FakeSocket:
        ws = FakeSocket(send_delay=0.01)
        conn = make(ws)
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        offer(conn, stream, 30)
        conn.close(1001, "shutting down", flush=True)
        await asyncio.wait_for(conn.run_sender(), 5)
        return ws

    ws = asyncio.run(go())
    assert sum(len(f["messages"]) for f in ws.sent if f["op"] == "batch") == 30
    assert ws.closed == (1001, "shutting down")
