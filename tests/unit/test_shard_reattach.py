"""An ingress attaching to a registry shard that already made its feed again (the shard restarted, or
dropped the feed when the lease lapsed, and a hello or a room join reached it before the ingress's pull):
the attach makes the feed hold exactly what the ingress holds, counted once (PROTOCOL.md section 7:
presence exact after crashes). The shard as a plain class; no Ray."""

from __future__ import annotations

import asyncio
from typing import Any

from actors.registry import RegistryShard
from hub.core.config import ShardConfig
from tests.unit.conftest import FakeClock

ROOM = "quiz:q-7"


def test_an_attach_after_a_hello_and_a_join_made_the_feed_counts_each_connection_once(clock: FakeClock) -> None:
    async def go() -> None:
        shard = RegistryShard(0, ShardConfig(), clock)
        # A poll's hello and its room join (presence false) reach the restarted shard first.
        await shard.hello("ing", "alice", None)
        await shard.room_join_many("ing", [(ROOM, "poll-1", "dan", False, None, None)])
        assert shard.feeds["ing"].watching == {"alice": 1}
        # The ingress then attaches all it holds: that poll and another connection of alice's, and a
        # polling member's presence (the poll's own join among its rooms).
        held: list[Any] = [(ROOM, "hold-1", "dan", True, {"name": "Dan"}), (ROOM, "poll-1", "dan", False, None)]
        for _ in range(2):  # and once more: nothing changes
            await shard.attach("ing", ["alice", "alice"], held)
            assert shard.feeds["ing"].watching == {"alice": 2}
            assert shard.feeds["ing"].rooms == {ROOM: {"hold-1", "poll-1"}}
            assert await shard.room_members(ROOM) == (
                [{"educatorId": "dan", "connections": 1, "info": {"name": "Dan"}}],
                1,
            )
            assert shard.presence_changes == 1  # one join of dan, not one per attach
        # What the connections' leaves and unwatches take away, nothing else keeps.
        await shard.unwatch_many("ing", ["alice", "alice"])
        await shard.room_leave_many("ing", [(ROOM, "hold-1"), (ROOM, "poll-1")])
        assert shard.feeds["ing"].watching == {} and shard.feeds["ing"].rooms == {}
        assert await shard.room_members(ROOM) == ([], 0)

    asyncio.run(go())
