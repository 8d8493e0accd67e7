"""A room's stream, presence and typing (hub.core.room) and the registry shard's room methods
(actors.rooms, driven as a plain class with a fake clock: no Ray). PROTOCOL.md section 7."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from actors.registry import RegistryShard
from hub.core.config import ShardConfig
from hub.core.errors import BadFrame
from hub.core.protocol import parse_client_frame
from hub.core.room import Room
from hub.core.rooms import TYPING_TTL
from hub.core.stream import Envelope, StreamPosition
from hub.ingress.relay import Relay
from hub.ingress.roompolls import PollPresence, _PresenceHolder
from hub.metrics import IngressMetrics
from tests.unit.conftest import FakeClock


def room(**kw: Any) -> Room:
    return Room("quiz:q-1", "epoch-1", max_messages=kw.get("max_messages", 100), max_age=kw.get("max_age", 300.0))


def kinds(envs: list[Envelope]) -> list[tuple[str, Any]]:
    return [(e.type, e.data.get("action", e.data.get("typing"))) for e in envs]


# -- Room --------------------------------------------------------------------------------------


def test_presence_join_and_leave_are_kept_messages_that_carry_the_member_count() -> None:
    r = room()
    [join_a] = r.join("ing", "s1", "alice", True, {"name": "A"}, 10.0)
    assert join_a.type == "presence" and join_a.seq == 1 and join_a.room == "quiz:q-1"
    assert join_a.data == {"action": "join", "member": {"educatorId": "alice", "info": {"name": "A"}}, "memberCount": 1}
    [join_b] = r.join("ing", "s2", "bob", True, None, 11.0)
    assert join_b.data == {"action": "join", "member": {"educatorId": "bob"}, "memberCount": 2}
    assert r.join("ing", "s3", "alice", True, None, 12.0) == []  # alice's second tab
    assert r.join("ing", "s4", "carol", False, None, 12.0) == []  # a watcher is not a member
    assert r.leave("ing", "s1", 13.0) == []  # alice still has s3
    [leave_a] = r.leave("ing", "s3", 14.0)
    assert leave_a.data == {"action": "leave", "member": {"educatorId": "alice"}, "memberCount": 1}
    assert r.leave("ing", "s4", 15.0) == []  # the watcher leaves: no presence message
    assert [e.seq for e in r.stream.since(StreamPosition("epoch-1", 0), 16.0) or []] == [1, 2, 3]


def test_joining_again_on_the_same_connection_publishes_no_second_join_but_updates_info() -> None:
    r = room()
    assert len(r.join("ing", "s1", "alice", True, {"v": 1}, 1.0)) == 1
    assert r.join("ing", "s1", "alice", True, {"v": 2}, 2.0) == []
    reply = r.answer(None, 3.0, 10)
    assert reply.members == [{"educatorId": "alice", "connections": 1, "info": {"v": 2}}]
    assert reply.member_count == 1 and reply.position.seq == 1


def test_joining_again_with_presence_false_stops_counting_the_connection() -> None:
    """The connection's latest join decides: an ingress re-attaching after a shard restart reports
    presence as its connection last asked, so the member list must not depend on the shard's age."""
    r = room()
    r.join("ing", "s1", "alice", True, None, 1.0)
    r.set_typing("alice", True, "s1", 1.5)
    out = r.join("ing", "s1", "alice", False, None, 2.0)
    assert kinds(out) == [("typing", False), ("presence", "leave")]
    assert len(r.presence) == 0 and r.answer(None, 3.0, 10).members == []
    assert kinds(r.join("ing", "s1", "alice", True, None, 4.0)) == [("presence", "join")]


def test_answer_resumes_from_history_and_refuses_what_it_cannot_honour() -> None:
    r = room()
    r.join("ing", "s1", "alice", True, None, 1.0)
    first = r.answer(None, 1.0, 10)
    assert first.resumed is False and first.messages == [] and first.position == StreamPosition("epoch-1", 1)
    for i in range(3):
        r.publish("alice", "s1", "comment", {"i": i}, False, 2.0 + i)
    resumed = r.answer(first.position, 6.0, 10)
    assert resumed.resumed and [e.data["data"]["i"] for e in resumed.messages] == [0, 1, 2]
    assert resumed.position.seq == 4
    assert r.answer(StreamPosition("epoch-1", 4), 6.0, 10).resumed  # nothing missed: resumed, empty
    assert r.answer(StreamPosition("epoch-1", 4), 6.0, 10).messages == []
    assert not r.answer(StreamPosition("other-epoch", 1), 6.0, 10).resumed
    assert not r.answer(StreamPosition("epoch-1", 99), 6.0, 10).resumed  # from the future


def test_history_is_bounded_by_count_and_age() -> None:
    r = room(max_messages=3, max_age=10.0)
    for i in range(5):
        r.publish("alice", "s1", "n", {"i": i}, False, 1.0)
    assert not r.answer(StreamPosition("epoch-1", 1), 1.0, 10).resumed  # seq 2 is gone
    assert [e.seq for e in r.answer(StreamPosition("epoch-1", 2), 1.0, 10).messages] == [3, 4, 5]
    assert not r.answer(StreamPosition("epoch-1", 2), 20.0, 10).resumed  # aged out


def test_ephemeral_publishes_and_typing_take_no_seq_and_are_never_in_history() -> None:
    r = room()
    r.join("ing", "s1", "alice", True, None, 1.0)
    kept = r.publish("alice", "s1", "comment", {"t": "hi"}, False, 2.0)
    flash = r.publish("alice", "s1", "cursor", {"x": 1}, True, 3.0)
    typing = r.set_typing("alice", True, "s1", 4.0)
    assert kept.seq == 2 and flash.seq == 0 and flash.ephemeral and typing is not None and typing.seq == 0
    assert flash.origin == "s1" and typing.origin == "s1" and kept.origin == "s1"
    assert flash.data == {"event": "cursor", "data": {"x": 1}, "from": {"educatorId": "alice", "session": "s1"}}
    assert r.stream.last_seq == 2
    history = r.answer(StreamPosition("epoch-1", 0), 5.0, 10).messages
    assert [e.type for e in history] == ["presence", "room_message"] and all(e.seq for e in history)
    assert flash.wire() == {"type": "room_message", "ts": 3.0, "data": flash.data, "room": "quiz:q-1"}
    assert kept.wire() == {"seq": 2, "type": "room_message", "ts": 2.0, "data": kept.data, "room": "quiz:q-1"}
    assert typing.wire() == {
        "type": "typing",
        "ts": 4.0,
        "data": {"educatorId": "alice", "typing": True},
        "room": "quiz:q-1",
    }


def test_typing_repeats_expires_after_six_seconds_and_false_only_when_typing() -> None:
    r = room()
    assert TYPING_TTL == 6.0
    assert r.set_typing("alice", False, "s1", 0.0) is None  # not typing: nothing to end
    on = r.set_typing("alice", True, "s1", 0.0)
    assert on is not None and on.data == {"educatorId": "alice", "typing": True}
    assert r.expire_typing(5.99) == []
    again = r.set_typing("alice", True, "s1", 3.0)  # a repeat is sent again and extends the 6 s
    assert again is not None and again.data["typing"] is True
    assert r.expire_typing(8.99) == []
    [off] = r.expire_typing(9.0)
    # not sent back to the connection that typed (none gets its own typing envelopes); the rest get it
    assert off.data == {"educatorId": "alice", "typing": False} and off.seq == 0 and off.origin == "s1"
    assert r.expire_typing(20.0) == [] and r.typing == {}
    r.set_typing("alice", True, "s1", 30.0)
    stop = r.set_typing("alice", False, "s1", 31.0)
    assert stop is not None and stop.data["typing"] is False and stop.origin == "s1"
    assert r.expire_typing(100.0) == []  # ended: nothing lapses later


def test_leaving_while_typing_sends_typing_false_before_the_presence_leave() -> None:
    r = room()
    r.join("ing", "s1", "alice", True, None, 0.0)
    r.join("ing", "s2", "alice", True, None, 0.0)
    r.set_typing("alice", True, "s1", 1.0)
    assert r.leave("ing", "s1", 2.0) == []  # alice's other tab is still here: she may still type
    assert kinds(r.leave("ing", "s2", 2.5)) == [("typing", False), ("presence", "leave")]
    assert r.typing == {} and r.expire_typing(100.0) == []


def test_drop_ingress_makes_each_member_it_held_alone_leave() -> None:
    r = room()
    r.join("dead", "s1", "alice", True, None, 0.0)
    r.join("dead", "s2", "bob", True, None, 0.0)
    r.join("live", "s3", "bob", True, None, 0.0)
    r.set_typing("alice", True, "s1", 1.0)
    out = r.drop_ingress("dead", 2.0)
    assert kinds(out) == [("typing", False), ("presence", "leave")]
    assert out[1].data == {"action": "leave", "member": {"educatorId": "alice"}, "memberCount": 1}
    assert [m["educatorId"] for m in r.answer(None, 3.0, 10).members] == ["bob"]


def test_each_leave_of_a_dropped_ingress_carries_the_member_count_just_after_it() -> None:
    """Replaying presence onto a `joined` list checks each message's memberCount: a dead ingress's
    members leave one by one (2, then 1), not all at the final count."""
    r = room()
    for session, educator in [("s1", "alice"), ("s2", "bob"), ("s3", "carol")]:
        r.join("dead" if educator != "bob" else "live", session, educator, True, None, 0.0)
    out = r.drop_ingress("dead", 1.0)
    assert [(e.data["member"]["educatorId"], e.data["memberCount"]) for e in out] == [("alice", 2), ("carol", 1)]


# -- the shard's room methods ------------------------------------------------------------------


def shard(clock: FakeClock, **cfg: Any) -> RegistryShard:
    return RegistryShard(0, ShardConfig(feed_linger=0, **cfg), clock)


async def drain(s: RegistryShard, ingress: str, acks: dict[str, int] | None = None) -> list[Envelope]:
    """Everything new on `ingress`'s feed (acknowledging what the last drain took, in `acks`)."""
    acks = acks if acks is not None else {}
    batch = await s.pull(ingress, acks.get(ingress, 0), 0.001)
    assert not batch.unknown
    if batch.items:
        acks[ingress] = batch.items[-1][0]
    return [Envelope._make(raw) for _, raw in batch.items]


def join(room_id: str, session: str, educator: str, present: bool = True, info: Any = None, resume: Any = None) -> Any:
    return (room_id, session, educator, present, info, resume)


def test_room_envelopes_go_only_to_the_feeds_of_ingresses_in_the_room(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        acks: dict[str, int] = {}
        [a] = await s.room_join_many("ing-a", [join("quiz:1", "s1", "alice")])
        await s.attach("ing-b", ["bob"])
        assert a.member_count == 1 and a.position == StreamPosition(s.rooms["quiz:1"].stream.epoch, 1)
        assert [e.type for e in await drain(s, "ing-a", acks)] == ["presence"]
        seq = await s.room_publish("quiz:1", "alice", "s1", "comment", {"t": 1}, False)
        assert seq == 2
        assert [e.seq for e in await drain(s, "ing-a", acks)] == [2]
        assert await drain(s, "ing-b", acks) == []  # not in the room
        [b] = await s.room_join_many("ing-b", [join("quiz:1", "s2", "bob")])
        assert {m["educatorId"] for m in b.members} == {"alice", "bob"} and b.member_count == 2
        assert await s.room_publish("quiz:1", "bob", "s2", "ping", {}, True) == 0
        got_a = await drain(s, "ing-a", acks)
        assert [(e.type, e.seq) for e in got_a] == [("presence", 3), ("room_message", 0)]
        assert [(e.type, e.seq) for e in await drain(s, "ing-b", acks)] == [("presence", 3), ("room_message", 0)]
        await s.room_leave_many("ing-b", [("quiz:1", "s2")])
        assert [e.data["action"] for e in await drain(s, "ing-a", acks)] == ["leave"]
        await s.room_publish("quiz:1", "alice", "s1", "comment", {}, False)
        assert await drain(s, "ing-b", acks) == []  # left: no longer fed
        stats = await s.stats()
        assert stats.rooms == 1 and stats.room_members == 1 and stats.presence_changes == 3
        assert stats.room_messages == 3

    asyncio.run(go())


def test_a_room_whose_id_equals_an_educator_id_is_a_separate_stream(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        acks: dict[str, int] = {}
        await s.attach("ing-edu", ["alice"])  # watches educator "alice"'s stream
        await s.room_join_many("ing-room", [join("alice", "s1", "bob")])  # a room named "alice"
        await s.publish_message(["alice"], "notification", {"title": "for the educator"})
        await s.room_publish("alice", "bob", "s1", "comment", {"t": "for the room"}, False)
        edu = await drain(s, "ing-edu", acks)
        assert [(e.type, e.room, e.seq) for e in edu] == [("notification", None, 1)]
        rm = await drain(s, "ing-room", acks)
        assert [(e.type, e.room, e.seq) for e in rm] == [("presence", "alice", 1), ("room_message", "alice", 2)]
        assert s.streams["alice"].last_seq == 1 and s.rooms["alice"].stream.last_seq == 2
        hello = await s.hello("ing-edu", "alice", StreamPosition(s.epoch, 0))
        assert hello.resumed and [e.type for e in hello.messages] == ["notification"]
        assert {e.stream for e in edu} == {""} and {e.stream for e in rm} == {"alice"}

    asyncio.run(go())


def test_a_lapsed_lease_makes_the_dead_ingresses_members_leave(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock, ingress_lease=10.0, poll_timeout=4.0)
        acks: dict[str, int] = {}
        await s.room_join_many("dead", [join("quiz:1", "s1", "alice"), join("quiz:1", "s2", "bob")])
        await s.room_join_many("live", [join("quiz:1", "s3", "bob"), join("quiz:1", "s4", "carol", False)])
        await drain(s, "live", acks)
        await s.room_typing("quiz:1", "alice", "s1", True)
        clock.advance(6)
        await drain(s, "live", acks)
        clock.advance(6)
        await drain(s, "live", acks)  # this pull finds "dead" 12 s quiet: its lease lapsed
        assert "dead" not in s.feeds
        left = await drain(s, "live", acks)
        leaves = [e for e in left if e.type == "presence"]
        assert [e.data["member"]["educatorId"] for e in leaves] == ["alice"]  # bob stays through s3
        assert leaves[0].data["memberCount"] == 1
        members, count = await s.room_members("quiz:1")
        assert members == [{"educatorId": "bob", "connections": 1}] and count == 1

    asyncio.run(go())


def test_detach_makes_the_ingresses_members_leave(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        acks: dict[str, int] = {}
        await s.room_join_many("going", [join("quiz:1", "s1", "alice")])
        await s.room_join_many("staying", [join("quiz:1", "s2", "bob")])
        await drain(s, "staying", acks)
        await s.detach("going")
        [leave] = await drain(s, "staying", acks)
        assert leave.data["action"] == "leave" and leave.data["member"]["educatorId"] == "alice"
        assert (await s.room_members("quiz:1"))[1] == 1

    asyncio.run(go())


def test_attach_with_rooms_rebuilds_presence_on_a_restarted_shard(clock: FakeClock) -> None:
    async def go() -> None:
        old = shard(clock)
        [before] = await old.room_join_many("ing", [join("quiz:1", "s1", "alice", info={"n": "A"})])
        await old.room_join_many("ing", [join("quiz:1", "s2", "alice"), join("quiz:1", "s3", "bob", False)])
        new = shard(clock)  # the restart: a new incarnation, nothing held
        assert new.epoch != old.epoch and (await new.room_members("quiz:1")) == ([], 0)
        held = [
            ("quiz:1", "s1", "alice", True, {"n": "A"}),
            ("quiz:1", "s2", "alice", True, None),
            ("quiz:1", "s3", "bob", False, None),
        ]
        assert await new.attach("ing", [], held) == new.epoch
        members, count = await new.room_members("quiz:1")
        assert members == [{"educatorId": "alice", "connections": 2}] and count == 1  # newest info: none
        [again] = await new.room_join_many(
            "ing", [join("quiz:1", "s1", "alice", info={"n": "A"}, resume=before.position)]
        )
        assert not again.resumed and again.position.epoch != before.position.epoch  # a fresh `joined`
        assert again.position.epoch == new.rooms["quiz:1"].stream.epoch
        assert again.member_count == 1 and again.members[0]["connections"] == 2
        assert "quiz:1" in new.feeds["ing"].rooms and new.feeds["ing"].rooms["quiz:1"] == {"s1", "s2", "s3"}

    asyncio.run(go())


def test_room_members_lists_at_most_the_configured_number_and_counts_all(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock, room_members_listed=3)
        replies = await s.room_join_many("ing", [join("quiz:big", f"s{i}", f"e{i}") for i in range(5)])
        assert [r.member_count for r in replies] == [1, 2, 3, 4, 5]
        assert [len(r.members) for r in replies] == [1, 2, 3, 3, 3]
        members, count = await s.room_members("quiz:big")
        assert [m["educatorId"] for m in members] == ["e0", "e1", "e2"] and count == 5
        assert await s.room_members("quiz:none") == ([], 0)

    asyncio.run(go())


def test_the_shard_sweeps_lapsed_typing(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        acks: dict[str, int] = {}
        await s.room_join_many("ing", [join("quiz:1", "s1", "alice"), join("quiz:1", "s2", "bob")])
        await drain(s, "ing", acks)
        await s.room_typing("quiz:1", "alice", "s1", True)
        [on] = await drain(s, "ing", acks)
        assert on.type == "typing" and on.data["typing"] is True and on.origin == "s1" and on.seq == 0
        clock.advance(5.9)
        await asyncio.sleep(0.3)  # a sweep or more
        assert await drain(s, "ing", acks) == []
        clock.advance(0.2)
        await asyncio.sleep(0.3)
        [off] = await drain(s, "ing", acks)
        assert off.data == {"educatorId": "alice", "typing": False}
        assert s.rooms["quiz:1"].typing == {}

    asyncio.run(go())


@pytest.mark.parametrize("how", ["leave", "lapse"])
def test_typing_ends_when_the_typist_goes(clock: FakeClock, how: str) -> None:
    async def go() -> None:
        s = shard(clock, ingress_lease=10.0, poll_timeout=4.0)
        await s.room_join_many("typist", [join("quiz:1", "s1", "alice")])
        await s.room_join_many("reader", [join("quiz:1", "s2", "bob")])
        await s.room_typing("quiz:1", "alice", "s1", True)
        if how == "leave":
            await s.room_leave_many("typist", [("quiz:1", "s1")])
        else:
            clock.advance(5)
            await s.pull("reader", 0, 0.001)  # acknowledges nothing: the feed keeps all
            clock.advance(5.5)  # the typist's lease lapses before its typing would
            await s.pull("reader", 0, 0.001)
            assert "typist" not in s.feeds
        got = [Envelope._make(raw) for _, raw in (await s.pull("reader", 0, 0.001)).items]
        assert kinds(got)[-4:] == [("presence", "join"), ("typing", True), ("typing", False), ("presence", "leave")]
        assert s.rooms["quiz:1"].typing == {}

    asyncio.run(go())


@pytest.mark.parametrize(
    "frame",
    [
        {"op": "typing", "room": "quiz:1", "typing": "yes"},
        {"op": "typing", "room": "quiz:1", "typing": 1},
        {"op": "join", "room": "quiz:1", "presence": "off"},
        {"op": "join", "room": "quiz:1", "presence": 0},
        {"op": "join", "room": "quiz:1", "resume": {"epoch": "e", "seq": "3"}},
        {"op": "join", "room": "quiz:1", "resume": {"epoch": "e", "seq": True}},
        {"op": "join", "room": "quiz:1", "resume": {"epoch": "e", "seq": 1.5}},
        {"op": "publish", "room": "quiz:1", "event": "e", "data": {}, "ephemeral": "no"},
        {"op": "hello", "token": "t", "rooms": [{"room": "quiz:1", "presence": "true"}]},
    ],
)
def test_room_ops_take_their_types_exactly(frame: dict[str, Any]) -> None:
    """ROOMS_WIRE: wrong types are `bad_frame`; a lenient reading would take "off" as false and "yes" as true."""
    with pytest.raises(BadFrame) as caught:
        parse_client_frame(json.dumps(frame))
    assert caught.value.code == "bad_frame" and caught.value.ref == frame["op"]


# -- the relay's room joins and leaves, against a shard in the same loop --------------------------------


def test_a_leave_and_a_join_of_one_connection_reach_the_shard_in_that_order() -> None:
    async def go() -> tuple[int, set[str]]:
        shard = RegistryShard(0, ShardConfig(feed_linger=0))
        relay = Relay([shard], IngressMetrics(), poll_timeout=0.2)
        conn = _PresenceHolder("alice")  # a Subscriber that only holds presence
        await relay.join_room(conn, "quiz:1", None, True, None)
        for _ in range(3):
            relay.leave_room(conn, "quiz:1")  # sent in a task...
            await relay.join_room(conn, "quiz:1", None, True, None)  # ...which this join must not overtake
        await asyncio.sleep(0.05)
        return (await shard.room_members("quiz:1"))[1], shard.feeds[relay.ingress_id].rooms.get("quiz:1", set())

    count, watching = asyncio.run(go())
    assert count == 1 and len(watching) == 1


def test_a_poll_holder_is_counted_in_again_when_the_shard_made_the_feed_anew() -> None:
    """The shard dropped this ingress's feed (its lease lapsed; a detach here) and a hello made it again
    before the ingress's next pull: the relay's pump attaches again with what it holds, the poll holder
    among it, so the polling educator is present again without a new poll, and the next poll changes
    nothing (no leave and join for the others to see)."""

    async def go() -> list[int]:
        shard = RegistryShard(0, ShardConfig(feed_linger=0))
        relay = Relay([shard], IngressMetrics(), poll_timeout=0.2)
        presence = PollPresence(relay)
        relay.start()
        counts = []
        await presence.hold("alice", "quiz:1", None, 10.0)
        counts.append((await shard.room_members("quiz:1"))[1])
        await shard.detach(relay.ingress_id)  # the feed (and its presence) dropped at the shard
        counts.append((await shard.room_members("quiz:1"))[1])
        await shard.hello(relay.ingress_id, "bob", None)  # a hello makes the feed again first
        for _ in range(100):
            if (await shard.room_members("quiz:1"))[1]:
                break
            await asyncio.sleep(0.02)
        counts.append((await shard.room_members("quiz:1"))[1])
        changes = shard.presence_changes
        await presence.hold("alice", "quiz:1", None, 10.0)  # the next poll
        await asyncio.sleep(0.05)
        members, count = await shard.room_members("quiz:1")
        counts += [count, members[0]["connections"] if members else 0, shard.presence_changes - changes]
        presence.close()
        await relay.stop()
        return counts

    assert asyncio.run(go()) == [1, 0, 1, 1, 1, 0]


def test_a_watcher_that_typed_ends_its_typing_when_it_leaves() -> None:
    """A connection with `presence: false` is in no member list, but its typing ends with it (PROTOCOL.md
    section 7: typing ends "when the educator leaves"), not 6 s later; a member's other tab keeps it."""
    r = room()
    assert r.join("ing", "w1", "walt", False, None, 0.0) == []
    r.set_typing("walt", True, "w1", 1.0)
    [off] = r.leave("ing", "w1", 2.0)
    assert off.type == "typing" and off.data == {"educatorId": "walt", "typing": False} and r.typing == {}
    # typing from a watcher tab of an educator who is also present elsewhere: the member's leave ends it
    r.join("ing", "m1", "mia", True, None, 3.0)
    r.join("ing", "w2", "mia", False, None, 3.0)
    r.set_typing("mia", True, "w2", 4.0)
    assert r.leave("ing", "w2", 5.0) == [] and "mia" in r.typing
    assert [e.type for e in r.leave("ing", "m1", 6.0)] == ["typing", "presence"]
