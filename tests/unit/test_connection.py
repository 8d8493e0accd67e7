"""The connection's sender with a fake socket: no delay when idle, coalescing while busy, 4409."""

import asyncio
import json
from typing import Any

import msgpack

from hub.core.codecs import MsgpackFrames
from hub.core.errors import ShuttingDown
from hub.core.stream import EducatorStream
from hub.ingress.connection import Connection
from tests.unit.fakesocket import FakeSocket, make_connection


def make(ws: FakeSocket, limit: int = 1000, conflate_after: int = 1000, types: set[str] | None = None) -> Connection:
    return make_connection(ws, limit=limit, conflate_after=conflate_after, types=types)


def offer(conn: Connection, stream: EducatorStream, n: int, mtype: str = "notification") -> None:
    """What the relay does with one pull: offer each envelope, then flush the connection once."""
    touched = False
    for i in range(n):
        env = stream.append(mtype, {"i": i}, 1.0)
        touched |= conn.offer(env, json.dumps(env.wire()))
    if touched:
        conn.flush()


def test_idle_message_goes_out_at_once_alone() -> None:
    async def go() -> FakeSocket:
        ws = FakeSocket()
        conn = make(ws)
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        await asyncio.sleep(0.01)
        offer(conn, stream, 1)
        await asyncio.sleep(0.01)
        conn.close()
        await conn.wait_closed()
        return ws

    ws = asyncio.run(go())
    assert [f["op"] for f in ws.sent] == ["welcome", "batch"]
    assert [m["seq"] for m in ws.sent[1]["messages"]] == [1]


def test_messages_arriving_during_a_send_share_the_next_frame() -> None:
    async def go() -> FakeSocket:
        ws = FakeSocket(send_delay=0.02)
        conn = make(ws)
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        await asyncio.sleep(0.05)
        offer(conn, stream, 1)  # goes at once
        await asyncio.sleep(0.001)  # its send is under way
        offer(conn, stream, 49)  # these coalesce
        await asyncio.sleep(0.2)
        conn.close()
        await conn.wait_closed()
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
        await asyncio.sleep(0.01)
        conn.close()
        await conn.wait_closed()
        return ws

    ws = asyncio.run(go())
    assert [m["seq"] for f in ws.sent if f["op"] == "batch" for m in f["messages"]] == [1]


def test_queue_over_its_bound_closes_4409() -> None:
    async def go() -> FakeSocket:
        ws = FakeSocket(send_delay=1.0)
        conn = make(ws, limit=10, conflate_after=5)
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        offer(conn, stream, 11)
        await asyncio.wait_for(conn.wait_closed(), 5)
        return ws

    ws = asyncio.run(go())
    assert ws.closed is not None and ws.closed[0] == 4409


def test_drain_close_flushes_what_is_queued_first() -> None:
    async def go() -> FakeSocket:
        ws = FakeSocket(send_delay=0.01)
        conn = make(ws)
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        offer(conn, stream, 30)
        conn.close(ShuttingDown("shutting down"), flush=True)
        await asyncio.wait_for(conn.wait_closed(), 5)
        return ws

    ws = asyncio.run(go())
    assert sum(len(f["messages"]) for f in ws.sent if f["op"] == "batch") == 30
    assert ws.closed == (1001, "shutting down")


class FakeWriter:
    """The FrameWriter side of hub.ingress.wsproto.HubWebSocketProtocol: a transport that can pause."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.open = True
        self.writable = asyncio.Event()
        self.writable.set()

    def can_write(self) -> bool:
        return self.writable.is_set() and self.open

    async def wait_writable(self) -> None:
        await self.writable.wait()

    def write_text(self, text: str) -> None:
        if not self.open:
            raise ConnectionResetError("gone")
        self.frames.append(json.loads(text))

    def write_binary(self, data: bytes) -> None:
        if not self.open:
            raise ConnectionResetError("gone")
        self.frames.append({"binary": True, **msgpack.unpackb(data, raw=False)})

    def trim(self) -> bool:
        return False


def make_direct(writer: FakeWriter) -> Connection:
    return make_connection(writer=writer)


def test_a_pull_is_written_at_once_as_one_frame_without_the_sender_task() -> None:
    async def go() -> FakeWriter:
        writer = FakeWriter()
        conn = make_direct(writer)
        await asyncio.sleep(0.01)  # the sender writes the welcome
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        offer(conn, stream, 3)
        assert [len(f["messages"]) for f in writer.frames if f["op"] == "batch"] == [3]  # synchronously
        offer(conn, stream, 1)
        assert [len(f["messages"]) for f in writer.frames if f["op"] == "batch"] == [3, 1]
        conn.close()
        await conn.wait_closed()
        return writer

    writer = asyncio.run(go())
    assert [f["op"] for f in writer.frames] == ["welcome", "batch", "batch"]


def test_a_paused_transport_coalesces_and_the_sender_writes_when_it_resumes() -> None:
    async def go() -> FakeWriter:
        writer = FakeWriter()
        conn = make_direct(writer)
        await asyncio.sleep(0.01)
        writer.writable.clear()  # a slow reader: the transport's buffer is over its high-water mark
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        offer(conn, stream, 2)
        conn.send_control('{"op":"pong","id":1}')
        offer(conn, stream, 3)
        await asyncio.sleep(0.01)
        assert [f["op"] for f in writer.frames] == ["welcome"]
        writer.writable.set()
        await asyncio.sleep(0.01)
        conn.close()
        await conn.wait_closed()
        return writer

    writer = asyncio.run(go())
    assert [f["op"] for f in writer.frames] == ["welcome", "pong", "batch"]
    assert [m["seq"] for m in writer.frames[2]["messages"]] == [1, 2, 3, 4, 5]


def test_a_client_gone_mid_flush_does_not_break_the_relays_fan_out() -> None:
    async def go() -> tuple[FakeWriter, FakeSocket]:
        writer = FakeWriter()
        conn = make_direct(writer)
        await asyncio.sleep(0.01)  # the welcome is written; the sender task has ended
        writer.open = False  # the client vanished without a close frame
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        offer(conn, stream, 2)  # the direct write fails inside flush: nothing escapes to the relay
        await conn.finish(1.0)  # what the read loop does when it sees the socket gone
        assert isinstance(conn.ws, FakeSocket)
        return writer, conn.ws

    writer, ws = asyncio.run(go())
    assert [f["op"] for f in writer.frames] == ["welcome"]
    assert ws.closed == (1000, "")


def test_a_rooms_joined_is_written_at_once_before_a_fan_out_can_run() -> None:
    # The join's own `presence` message reaches the ingress with its answer; the relay's fan-out of it to
    # every member of a large room is one synchronous loop turn (1,000 members: tens of ms). A `joined`
    # left to a sender task waited behind it (bench/rooms.py: p50 69 ms at 1,000 members, 8 ms after).
    from hub.core.subscriber import RoomSub

    async def go() -> FakeWriter:
        writer = FakeWriter()
        conn = make_direct(writer)
        await asyncio.sleep(0.01)  # the sender writes the welcome and ends
        conn.rooms["quiz:q"] = RoomSub(present=True)
        room = EducatorStream("quiz:q", "e", max_messages=100, max_age=60, room=True)
        answered_at = room.position
        early = room.append("presence", {"action": "join"}, 1.0)  # after the answer's position
        conn.offer(early, json.dumps(early.wire()))  # arrived before the answer: held until `joined`
        conn.start_room("quiz:q", answered_at, [], '{"op":"joined","room":"quiz:q"}')
        assert [f["op"] for f in writer.frames] == ["welcome", "joined", "batch"]  # no task switch
        writer.writable.clear()  # a paused transport: the sender task writes it when it resumes
        conn.start_room("quiz:q", answered_at, [], '{"op":"joined","room":"quiz:q"}')
        assert [f["op"] for f in writer.frames] == ["welcome", "joined", "batch"]
        writer.writable.set()
        await asyncio.sleep(0.01)
        conn.close()
        await conn.wait_closed()
        return writer

    writer = asyncio.run(go())
    assert [f["op"] for f in writer.frames] == ["welcome", "joined", "batch", "joined"]


def test_a_msgpack_connection_writes_binary_frames_both_ways() -> None:
    """PROTOCOL.md section 8: the welcome, batches and control frames of a hub.v1.msgpack connection are
    binary frames holding what the JSON frames would, written directly and by the sender task alike."""

    async def go() -> tuple[FakeWriter, FakeSocket]:
        frames = MsgpackFrames()
        writer = FakeWriter()
        direct = make_connection(writer=writer, frames=frames)
        socket = FakeSocket()
        by_task = make_connection(socket, frames=frames)
        await asyncio.sleep(0.01)
        stream = EducatorStream("alice", "e", max_messages=100, max_age=60)
        offer(direct, stream, 3)
        offer(by_task, stream, 2)
        direct.send_control('{"op":"pong","id":1}')
        await asyncio.sleep(0.01)
        direct.close()
        by_task.close()
        await direct.wait_closed()
        await by_task.wait_closed()
        return writer, socket

    writer, socket = asyncio.run(go())
    assert [f["op"] for f in writer.frames] == ["welcome", "batch", "pong"]
    assert all(f["binary"] for f in writer.frames)
    assert [m["data"] for m in writer.frames[1]["messages"]] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert [f["op"] for f in socket.sent] == ["welcome", "batch"] and socket.binary == 2
