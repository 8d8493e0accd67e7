"""A connection that leaves a room (or closes) while its join is still on its way to the shard: the leave
reaches the shard after the join, so no one is left present for good (PROTOCOL.md section 7, "Presence":
none is left behind). Joins and leaves go in separate batches (hub/ingress/relay.py), so without this
a leave could overtake its join. The relay over an in-process shard (tests/adapters/fakes.Remote)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.registry import RegistryShard
from hub.core.config import ShardConfig
from hub.core.errors import HubError
from hub.core.subscriber import RoomSub
from hub.ingress.relay import Relay
from hub.metrics import IngressMetrics
from tests.adapters.fakes import Remote

ROOM = "quiz:q-order"


class Member:
    """The least a Subscriber is, for the relay's room bookkeeping."""

    def __init__(self, session: str, educator_id: str) -> None:
        self.session = session
        self.educator_id = educator_id
        self.rooms: dict[str, RoomSub] = {}
        self.closing = False
        self.queued = 0

    def offer(self, env: Any, text: str) -> bool:
        return False

    def flush(self) -> None: ...

    def close(self, why: HubError | None = None, *, flush: bool = False) -> None: ...

    async def wait_closed(self) -> None: ...

    def trim_idle(self, idle_since: float) -> bool:
        return False


@pytest.mark.parametrize("how", ["leave", "cancelled"])
def test_a_leave_never_overtakes_its_join(how: str) -> None:
    async def go() -> None:
        shard = RegistryShard(0, ShardConfig())
        remote = Remote(shard, "shard", 0)
        relay = Relay([remote], IngressMetrics(), poll_timeout=1.0)  # type: ignore[list-item]
        member = Member("s-1", "alice")
        remote.pause("room_join_many")  # a slow shard: the join waits
        joining = asyncio.get_running_loop().create_task(relay.join_room(member, ROOM, None, True, None))
        await asyncio.sleep(0.05)
        if how == "leave":
            assert relay.leave_room(member, ROOM)
        else:  # the connection closed while its join op was being carried out
            joining.cancel()
        await asyncio.sleep(0.05)
        assert remote.calls("room_leave_many") == [], "the leave went before its join"
        remote.release("room_join_many")
        await asyncio.gather(joining, return_exceptions=True)
        for _ in range(50):
            if remote.calls("room_leave_many"):
                break
            await asyncio.sleep(0.01)
        order = [m for _, m, _ in remote.log]
        assert order == ["room_join_many", "room_leave_many"], order
        assert await shard.room_members(ROOM) == ([], 0)
        assert member.rooms == {} and relay.rooms == {}

    asyncio.run(go())
