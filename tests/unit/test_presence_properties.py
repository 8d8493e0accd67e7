"""The presence property (PROTOCOL.md section 7, "Presence"; ISSUE 16, Tests): any interleaving of joins
(present or not, several sessions per educator, several ingresses), leaves, closes, ingress deaths
(lease lapse, detach), stalls (a lapsed lease whose ingress re-attaches what it holds) and shard restarts
(followed by the re-attach of what the live ingresses hold) leaves each room's member list equal to the
set of educators with a live present connection, each listed once with its exact connection count; and
the room's `presence` messages after a resume point, replayed onto that point's `joined.members`, give
the same list.

The registry shard runs as a plain class with a fake clock (no Ray); the model below is what the
ingresses hold."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.registry import RegistryShard
from hub.core.config import ShardConfig
from hub.core.records import RoomJoinReply
from hub.core.stream import StreamPosition
from tests.unit.conftest import FakeClock

ROOMS = ["quiz:q-1", "quiz:q-2", "course:c"]
EDUCATORS = ["alice", "bob", "carol"]
INGRESSES = 3
SLOTS = 12  # connection slots: slot c is educator c % 3 on ingress (c // 2) % 3 (two tabs of one
# educator on one ingress: slots 0 and 6; one educator on several ingresses: slots 0 and 3)
LEASE = 60.0
OBSERVER = "observer"  # an ingress that only reads `joined` answers (presence false)


@dataclass
class Conn:
    session: str
    educator: str
    ingress: int
    rooms: dict[str, tuple[bool, dict[str, Any] | None]] = field(default_factory=dict)


@dataclass
class Snapshot:
    room: str
    position: StreamPosition
    members: dict[str, int]  # educator -> connections, from `joined.members`
    restarts: int  # the shard's restarts before it was taken


class Model:
    """What the ingresses hold, and the shard they talk to."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.config = ShardConfig(feed_linger=0, ingress_lease=LEASE, history_age=1e9, history_max=100_000)
        self.shard = RegistryShard(0, self.config, clock)
        self.ingress_gen = [0] * INGRESSES
        self.session_gen = 0
        self.conns: dict[int, Conn] = {}  # slot -> its live connection
        self.snapshots: list[Snapshot] = []
        self.observed = 0
        self.restarts = 0

    def ingress_id(self, i: int) -> str:
        return f"ing{i}-{self.ingress_gen[i]}"

    def expected(self, room: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for conn in self.conns.values():
            held = conn.rooms.get(room)
            if held is not None and held[0]:
                out[conn.educator] = out.get(conn.educator, 0) + 1
        return out

    def conn(self, slot: int) -> Conn:
        conn = self.conns.get(slot)
        if conn is None:
            self.session_gen += 1
            conn = self.conns[slot] = Conn(f"s{slot}-{self.session_gen}", EDUCATORS[slot % 3], (slot // 2) % 3)
        return conn

    async def join(self, slot: int, room: str, present: bool, info: dict[str, Any] | None) -> None:
        conn = self.conn(slot)
        request = (room, conn.session, conn.educator, present, info, None)
        [reply] = await self.shard.room_join_many(self.ingress_id(conn.ingress), [request])
        conn.rooms[room] = (present, info)
        check_reply(reply, self.expected(room))

    async def leave(self, slot: int, room: str) -> None:
        conn = self.conns.get(slot)
        if conn is None or room not in conn.rooms:
            return
        del conn.rooms[room]
        await self.shard.room_leave_many(self.ingress_id(conn.ingress), [(room, conn.session)])

    async def close(self, slot: int) -> None:
        """A connection gone: a leave of each of its rooms (Relay.leave)."""
        conn = self.conns.pop(slot, None)
        if conn is not None and conn.rooms:
            await self.shard.room_leave_many(self.ingress_id(conn.ingress), [(r, conn.session) for r in conn.rooms])

    def _live_ingresses(self) -> list[str]:
        return [self.ingress_id(i) for i in range(INGRESSES) if self.ingress_id(i) in self.shard.feeds]

    async def _pull_all_but(self, quiet: str) -> None:
        for ingress in self._live_ingresses():
            if ingress != quiet:
                await self.shard.pull(ingress, 0, 0.001)

    async def lapse(self, i: int) -> None:
        """Ingress `i` stops pulling (dead): within the lease the shard drops it and its members."""
        dying = self.ingress_id(i)
        for _ in range(2):
            self.clock.advance(0.6 * LEASE)
            await self._pull_all_but(dying)
        self.shard._expire_feeds()  # when no other ingress pulls here, the shard's lease check does it
        assert dying not in self.shard.feeds
        self._gone(i)

    async def detach(self, i: int) -> None:
        await self.shard.detach(self.ingress_id(i))
        self._gone(i)

    def _gone(self, i: int) -> None:
        for slot in [s for s, c in self.conns.items() if c.ingress == i]:
            del self.conns[slot]
        self.ingress_gen[i] += 1

    def held(self, i: int) -> list[tuple[str, str, str, bool, dict[str, Any] | None]]:
        """What ingress `i` re-attaches (Relay._rooms_held_on)."""
        return [
            (room, c.session, c.educator, present, info)
            for c in self.conns.values()
            if c.ingress == i
            for room, (present, info) in c.rooms.items()
        ]

    async def stall(self, i: int) -> None:
        """Ingress `i`'s lease lapses though it lives: its next pull answers `unknown` and it re-attaches
        what it holds (Relay._pump)."""
        ingress = self.ingress_id(i)
        for _ in range(2):
            self.clock.advance(0.6 * LEASE)
            await self._pull_all_but(ingress)
        self.shard._expire_feeds()
        assert (await self.shard.pull(ingress, 0, 0.001)).unknown
        await self.shard.attach(ingress, [], self.held(i))

    async def restart(self) -> None:
        """The shard restarts (a new epoch, nothing held); every live ingress re-attaches what it holds."""
        self.shard = RegistryShard(0, self.config, self.clock)
        self.restarts += 1
        for i in range(INGRESSES):
            held = self.held(i)
            if held:
                await self.shard.attach(self.ingress_id(i), [], held)

    async def snapshot(self, room: str) -> None:
        """A watcher's `joined` answer (presence false on an ingress of its own), kept as a resume point."""
        self.observed += 1
        request = (room, f"obs-{self.observed}", "observer-edu", False, None, None)
        [reply] = await self.shard.room_join_many(OBSERVER, [request])
        check_reply(reply, self.expected(room))
        members = {m["educatorId"]: m["connections"] for m in reply.members}
        self.snapshots.append(Snapshot(room, reply.position, members, self.restarts))

    async def check(self) -> None:
        for room in ROOMS:
            expected = self.expected(room)
            r = self.shard.rooms.get(room)
            listed = {e: m.entry()["connections"] for e, m in r.presence.members.items()} if r else {}
            assert listed == expected, (room, listed, expected)
            members, count = await self.shard.room_members(room)
            assert count == len(expected)
            assert [m["educatorId"] for m in members] == list(dict.fromkeys(m["educatorId"] for m in members))
            assert {m["educatorId"]: m["connections"] for m in members} == expected

    async def check_replays(self) -> None:
        """Each resume point: replaying the presence messages after it onto its members gives the list now."""
        for snap in self.snapshots:
            self.observed += 1
            request = (snap.room, f"obs-{self.observed}", "observer-edu", False, None, snap.position)
            [reply] = await self.shard.room_join_many(OBSERVER, [request])
            if snap.restarts != self.restarts:  # a restart in between: another epoch, a fresh `joined`
                assert not reply.resumed and reply.position.epoch != snap.position.epoch
                continue
            assert reply.resumed
            members = set(snap.members)
            count = len(members)
            for env in reply.messages:
                if env.type != "presence":
                    continue
                who = env.data["member"]["educatorId"]
                if env.data["action"] == "join":
                    assert who not in members, f"{who} joined twice in {snap.room}"
                    members.add(who)
                else:
                    assert who in members, f"{who} left {snap.room} without being in it"
                    members.discard(who)
                count = env.data["memberCount"]
                assert count == len(members)
            assert members == set(self.expected(snap.room))
            assert count == len(members)


def check_reply(reply: RoomJoinReply, expected: dict[str, int]) -> None:
    listed = [m["educatorId"] for m in reply.members]
    assert len(listed) == len(set(listed)), f"listed twice: {listed}"
    assert {m["educatorId"]: m["connections"] for m in reply.members} == expected
    assert reply.member_count == len(expected)


slots = st.integers(0, SLOTS - 1)
rooms = st.sampled_from(ROOMS)
ingresses = st.integers(0, INGRESSES - 1)
infos = st.none() | st.fixed_dictionaries({"name": st.sampled_from(["A", "B"])})
ops = st.one_of(
    st.tuples(st.just("join"), slots, rooms, st.booleans(), infos),
    st.tuples(st.just("join"), slots, rooms, st.just(True), infos),
    st.tuples(st.just("leave"), slots, rooms),
    st.tuples(st.just("close"), slots),
    st.tuples(st.just("lapse"), ingresses),
    st.tuples(st.just("detach"), ingresses),
    st.tuples(st.just("stall"), ingresses),
    st.tuples(st.just("restart")),
    st.tuples(st.just("snapshot"), rooms),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(ops, min_size=20, max_size=60))
def test_any_interleaving_leaves_the_member_list_equal_to_the_live_present_educators(steps: list[Any]) -> None:
    async def go() -> None:
        model = Model(FakeClock())
        for step in steps:
            name, *args = step
            await getattr(model, name)(*args)
            await model.check()
        await model.check_replays()
        for room in ROOMS:  # a last resume point from each room, replayed at once: nothing to add
            await model.snapshot(room)
        await model.check_replays()

    asyncio.run(go())


def test_replayed_presence_after_a_crash_lists_nobody_twice_and_leaves_nobody_behind() -> None:
    """The case the issue names: members on an ingress killed with kill -9 leave within the lease, a
    watcher resuming after it gets their `leave`s, and their return is one `join` each."""

    async def go() -> None:
        model = Model(FakeClock())
        await model.join(0, "quiz:q-1", True, {"name": "A"})  # alice on ingress 0
        await model.join(3, "quiz:q-1", True, None)  # alice on ingress 1 too
        await model.join(1, "quiz:q-1", True, None)  # bob on ingress 0 only
        await model.snapshot("quiz:q-1")
        await model.lapse(0)
        await model.check()
        assert model.expected("quiz:q-1") == {"alice": 1}
        await model.join(1, "quiz:q-1", True, None)  # bob reconnects through ingress 0's successor
        await model.check()
        await model.check_replays()
        missed = model.shard.rooms["quiz:q-1"].stream.since(model.snapshots[0].position, model.clock())
        assert missed is not None
        presence = [env.data for env in missed if env.type == "presence"]
        assert [(p["action"], p["member"]["educatorId"], p["memberCount"]) for p in presence] == [
            ("leave", "bob", 1),
            ("join", "bob", 2),
        ]

    asyncio.run(go())
