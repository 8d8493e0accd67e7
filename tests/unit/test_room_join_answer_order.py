"""A room join's `joined` leaves before the fan-out of its own `presence` message (issue 16's target:
`joined` in <= 50 ms p99 with 1,000 members). The shard answers the join and wakes the ingress's pull
in one go; the pull's fan-out to every member is one synchronous loop turn, so a `joined` that waited
for it took as long as writing to the whole room (bench/rooms.py: 20-310 ms at 1,000 members).
Relay and Connection with the pure shard in-process, no Ray."""

from __future__ import annotations

import asyncio
from typing import Any

from actors.registry import RegistryShard
from hub.core.config import ShardConfig
from hub.core.protocol import control_frame
from hub.ingress.connection import Connection
from hub.ingress.relay import Relay
from hub.ingress.roomops import joined_of
from hub.metrics import IngressMetrics
from tests.unit.fakesocket import make_connection

ROOM = "quiz:q-42"


class OrderedWriter:
    """A FrameWriter that records (connection name, frame op) in one list shared by every connection."""

    def __init__(self, name: str, order: list[tuple[str, str]]) -> None:
        self.name = name
        self.order = order

    def can_write(self) -> bool:
        return True

    async def wait_writable(self) -> None:
        return None

    def write_text(self, text: str) -> None:
        self.order.append((self.name, text.split('"op":"', 1)[1].split('"', 1)[0]))

    def trim(self) -> bool:
        return False


class SameRead:
    """The shard as the ingress sees it over the data plane when a join's answer and the pull that
    carries the join's `presence` message arrive in one read: the pull's reply is handed over first,
    the join's in the same loop turn (the real shard, in-process, answers them in either order)."""

    def __init__(self, shard: RegistryShard) -> None:
        self.shard = shard
        self.pulled = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shard, name)

    async def room_join_many(self, ingress_id: str, requests: list[Any]) -> Any:
        self.pulled.clear()
        replies = await self.shard.room_join_many(ingress_id, requests)
        await self.pulled.wait()
        return replies

    async def pull(self, *args: Any, **kwargs: Any) -> Any:
        batch = await self.shard.pull(*args, **kwargs)
        if batch.items:
            self.pulled.set()
        return batch


def connect(relay: Relay, educator: str, order: list[tuple[str, str]]) -> Connection:
    conn = make_connection(
        educator=educator, session=f"s-{educator}", metrics=relay.metrics, writer=OrderedWriter(educator, order)
    )
    relay.conns.setdefault(educator, set()).add(conn)
    return conn


async def join(relay: Relay, conn: Connection) -> None:
    """What the `join` op does (hub.ingress.roomops.RoomOps.join) once checked."""
    reply = await relay.join_room(conn, ROOM, None, True, None)
    conn.start_room(ROOM, reply.position, reply.messages, control_frame(joined_of(ROOM, reply)))


def test_joined_is_written_before_the_fan_out_of_the_joins_presence() -> None:
    async def go() -> list[tuple[str, str]]:
        order: list[tuple[str, str]] = []
        shard = RegistryShard(0, ShardConfig(poll_timeout=0.2, feed_linger=0))
        relay = Relay([SameRead(shard)], IngressMetrics(), poll_timeout=0.2)  # type: ignore[list-item]
        members = [connect(relay, f"m{i}", order) for i in range(20)]
        await shard.attach(relay.ingress_id, [c.educator_id for c in members])
        relay.start()
        for conn in members:
            await join(relay, conn)
        for _ in range(5):
            await asyncio.sleep(0.01)  # the members' own presence messages delivered
        order.clear()
        await join(relay, connect(relay, "late", order))
        for _ in range(5):
            await asyncio.sleep(0.01)
        await relay.stop()
        return order

    order = asyncio.run(go())
    assert order[:2] == [("late", "welcome"), ("late", "joined")], order[:4]
    told = [name for name, op in order if op == "batch"]
    assert sorted(told) == sorted(f"m{i}" for i in range(20))  # then every member hears of it


def test_with_no_join_pending_a_pull_is_fanned_out_at_once() -> None:
    async def go() -> tuple[int, list[Any]]:
        order: list[tuple[str, str]] = []
        shard = RegistryShard(0, ShardConfig(poll_timeout=0.2, feed_linger=0))
        relay = Relay([shard], IngressMetrics(), poll_timeout=0.2)
        alice = connect(relay, "alice", order)
        await shard.attach(relay.ingress_id, ["alice"])
        relay.start()
        await asyncio.sleep(0.01)
        shard._deliver(shard._stream("alice").append("notification", {"title": "t"}, 1.0))
        for _ in range(3):
            await asyncio.sleep(0)
        sent = [op for _, op in order]
        await relay.stop()
        return relay._room_joins_pending, [sent, alice.queued]

    pending, (sent, queued) = asyncio.run(go())
    assert pending == 0
    assert sent == ["welcome", "batch"] and queued == 0
