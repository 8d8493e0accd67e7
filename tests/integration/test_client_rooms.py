"""The Python client's rooms against the real hub (PROTOCOL.md section 7): two clients join `quiz:q-1`, see
each other in `members` and in presence, publish and receive through `async for`, see each other type, and
see a leave; a refused join is a RoomError and the connection stays; a connection the hub closes (token
expiry) rejoins and resumes its room without missing or repeating a message; the long-poll fallback joins
and resumes through `POST /api/events`; ThreadedClient's SyncRoom for notebooks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hub.client import HubClient, Room, RoomError, ThreadedClient
from hub.server import LocalHub
from tests.conftest import free_port, scaled, until


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns() % 10**9}"


def ids(room: Room) -> list[str]:
    return sorted(member["educatorId"] for member in room.members)


async def next_message(room: Room, timeout: float = 10.0) -> dict[str, Any]:
    return await asyncio.wait_for(room.__anext__(), scaled(timeout))


def test_two_clients_in_a_room_see_each_other_join_publish_type_and_leave(hub: LocalHub) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")

    async def go() -> None:
        alice = HubClient(hub.url, hub.token(alice_id, rooms=["quiz:*"]))
        bob = HubClient(hub.url, hub.token(bob_id, rooms=["quiz:*", "course:bio-101:*"]))
        await alice.start()
        await bob.start()
        try:
            room_a = await alice.join("quiz:q-1", info={"name": "Alice", "avatar": "a.png"})
            assert alice_id in ids(room_a)
            mine = next(m for m in room_a.members if m["educatorId"] == alice_id)
            assert mine == {"educatorId": alice_id, "connections": 1, "info": {"name": "Alice", "avatar": "a.png"}}
            presence: list[dict[str, Any]] = []
            typing: list[dict[str, Any]] = []
            room_a.on("presence", presence.append)
            room_a.on("typing", typing.append)

            room_b = await bob.join("quiz:q-1", info={"name": "Bob"})
            assert {alice_id, bob_id} <= set(ids(room_b)) and room_b.member_count == len(room_b.members)
            assert next(m for m in room_b.members if m["educatorId"] == alice_id)["info"] == {
                "name": "Alice",
                "avatar": "a.png",
            }
            await until(lambda: bob_id in ids(room_a), 10, "alice to see bob join")
            joined = [p for p in presence if p["data"]["member"]["educatorId"] == bob_id]
            assert joined[0]["data"]["action"] == "join" and joined[0]["data"]["member"]["info"] == {"name": "Bob"}
            assert joined[0]["room"] == "quiz:q-1" and isinstance(joined[0]["seq"], int)
            assert room_a.member_count == room_b.member_count

            seq = await room_b.publish("comment", {"text": "Question 3 reads oddly", "questionId": "q3"})
            assert isinstance(seq, int)
            got = await next_message(room_a)
            assert got["type"] == "room_message" and got["room"] == "quiz:q-1" and got["seq"] == seq
            assert got["data"]["event"] == "comment"
            assert got["data"]["data"] == {"text": "Question 3 reads oddly", "questionId": "q3"}
            assert got["data"]["from"]["educatorId"] == bob_id and got["data"]["from"]["session"] == bob.session

            assert await room_b.publish("cursor", {"question": 3}, ephemeral=True) is None
            got = await next_message(room_a)
            assert got["data"]["event"] == "cursor" and "seq" not in got

            reply = await room_a.publish("comment", {"text": "Agreed, regenerating"})
            got = await next_message(room_b)  # bob never receives his own publishes: alice's is next
            assert got["seq"] == reply and got["data"]["from"]["educatorId"] == alice_id
            assert room_b._queue.empty() and room_a._queue.empty()

            await room_b.typing(True)
            await until(lambda: any(t["data"] == {"educatorId": bob_id, "typing": True} for t in typing), 10, "typing")
            await room_b.typing(False)
            await until(lambda: typing[-1]["data"] == {"educatorId": bob_id, "typing": False}, 10, "typing stop")
            assert all("seq" not in t for t in typing)

            with pytest.raises(RoomError) as refused:
                await bob.join("quiz-other:q-1")
            assert refused.value.code == "forbidden" and refused.value.room == "quiz-other:q-1"
            assert bob.state == "connected" and "quiz-other:q-1" not in bob.rooms

            await room_b.leave()
            await until(lambda: bob_id not in ids(room_a), 10, "alice to see bob leave")
            assert presence[-1]["data"]["action"] == "leave" and presence[-1]["data"]["member"]["educatorId"] == bob_id
            assert room_a.member_count == presence[-1]["data"]["memberCount"] == len(room_a.members)
            assert [m async for m in room_b] == [] and "quiz:q-1" not in bob.rooms
            with pytest.raises(RoomError) as left:
                await room_b.publish("comment", {"text": "after leaving"})
            assert left.value.code == "not_joined"
        finally:
            await alice.close()
            await bob.close()

    asyncio.run(go())


def test_a_connection_the_hub_closes_rejoins_and_resumes_its_room(hub: LocalHub) -> None:
    alice_id, bob_id, room_id = unique("re-alice"), unique("re-bob"), unique("quiz:q-resume")
    tokens: list[float] = []

    def short_token() -> str:  # the hub closes the connection 4401 at exp: alice reconnects and resumes
        tokens.append(time.time())
        return hub.token(alice_id, rooms=[room_id], ttl=scaled(2))

    async def go() -> tuple[list[int], list[int | None], HubClient, tuple[int, int]]:
        alice = HubClient(hub.url, short_token, refresh=False, base_delay=0.1)
        bob = HubClient(hub.url, hub.token(bob_id, rooms=["quiz:*"]))
        await alice.start()
        await bob.start()
        room_a = await alice.join(room_id, info={"name": "Alice"})
        room_b = await bob.join(room_id)
        received: list[int] = []
        room_a.on("message", lambda env: received.append(env["seq"]))
        sent: list[int | None] = []
        deadline = time.monotonic() + scaled(20)
        while alice.connects < 2 or len(sent) < 10 or not room_a.joined:  # publish across the reconnect
            assert time.monotonic() < deadline, f"no reconnect: {alice.connects} connects"
            sent.append(await room_b.publish("tick", {"n": len(sent)}))
            await asyncio.sleep(0.1)
        for _ in range(5):
            sent.append(await room_b.publish("tick", {"n": len(sent)}))
        await until(lambda: len(received) >= len(sent), 20, "every tick to reach alice")
        await until(lambda: alice_id in ids(room_b), 10, "alice listed again")
        # the members each lists while both are connected (once alice closes, bob may hear her leave)
        listed = (ids(room_a).count(bob_id), ids(room_b).count(alice_id))
        await alice.close()
        await bob.close()
        return received, sent, alice, listed

    received, sent, alice, listed = asyncio.run(go())
    assert alice.connects >= 2 and len(tokens) == alice.connects
    assert received == sent  # resumed: nothing missed, nothing twice, in order
    assert listed == (1, 1)  # no one listed twice


def test_a_lost_connection_rejoins_with_the_members_exact(hub: LocalHub) -> None:
    alice_id, bob_id, room_id = unique("lost-alice"), unique("lost-bob"), unique("quiz:q-lost")

    async def go() -> None:
        alice = HubClient(hub.url, hub.token(alice_id, rooms=["quiz:*"]), base_delay=0.1)
        bob = HubClient(hub.url, hub.token(bob_id, rooms=["quiz:*"]))
        carol = HubClient(hub.url, hub.token(unique("lost-carol"), rooms=["quiz:*"]))
        await alice.start()
        await bob.start()
        await carol.start()
        try:
            room_a = await alice.join(room_id)
            room_b = await bob.join(room_id)
            await until(lambda: bob_id in ids(room_a), 10, "alice to see bob")
            states: list[str] = []
            alice.on("state", lambda s: states.append(s["state"]))
            assert alice._ws is not None
            alice._ws.transport.abort()  # the connection is lost (no close frame)
            await until(lambda: "reconnecting" in states, 10, "alice to notice")
            seq = await room_b.publish("comment", {"text": "around alice's reconnect"})
            room_c = await carol.join(room_id)  # carol comes and goes, bob goes: alice catches up on both
            await room_c.leave()
            await room_b.leave()
            await until(lambda: room_a.joined and alice.connects >= 2, 20, "alice to rejoin")
            got = await next_message(room_a)
            assert got["seq"] == seq and got["data"]["data"] == {"text": "around alice's reconnect"}
            await until(lambda: ids(room_a) == [alice_id], 10, "the members to settle")
            assert room_a.member_count == 1
        finally:
            for client in (alice, bob, carol):
                await client.close()

    asyncio.run(go())


def test_long_poll_fallback_joins_receives_and_publishes_through_post_events(hub: LocalHub) -> None:
    poller_id, talker_id, room_id = unique("poll-alice"), unique("poll-bob"), unique("quiz:q-poll")

    async def go() -> None:
        poller = HubClient(
            hub.url,
            hub.token(poller_id, rooms=["quiz:*"]),
            websocket_url=f"ws://127.0.0.1:{free_port()}/ws",  # no WebSocket: the long-poll fallback
            base_delay=0.05,
            max_attempts=1,
            upgrade_retry=3600,
        )
        talker = HubClient(hub.url, hub.token(talker_id, rooms=["quiz:*"]))
        welcome = await poller.start()
        assert welcome.get("polling") is True and poller.state == "polling"
        await talker.start()
        try:
            room_p = await poller.join(room_id, info={"name": "Poller"})
            assert poller_id in ids(room_p)
            room_t = await talker.join(room_id)
            assert poller_id in ids(room_t)  # a polling client is a present member
            await until(lambda: talker_id in ids(room_p), 30, "the poller to see the talker join")
            seq = await room_t.publish("comment", {"text": "to the poller"})
            got = await next_message(room_p, 30)
            assert got["seq"] == seq and got["data"]["data"] == {"text": "to the poller"}
            answer = await room_p.publish("comment", {"text": "from the poller"})  # over HTTP
            assert isinstance(answer, int)
            got = await next_message(room_t, 30)
            assert got["seq"] == answer and got["data"]["from"]["educatorId"] == poller_id
            typing: list[dict[str, Any]] = []
            room_t.on("typing", typing.append)
            await room_p.typing(True)  # over HTTP too
            await until(lambda: any(t["data"]["educatorId"] == poller_id for t in typing), 30, "the poller typing")
            assert poller.state == "polling" and poller.connects == 1
        finally:
            await poller.close()
            await talker.close()

    asyncio.run(go())


def test_threaded_client_join_for_notebooks(hub: LocalHub) -> None:
    alice_id, bob_id, room_id = unique("nb-alice"), unique("nb-bob"), unique("quiz:q-nb")
    alice = ThreadedClient(HubClient(hub.url, hub.token(alice_id, rooms=[room_id])))
    bob = ThreadedClient(HubClient(hub.url, hub.token(bob_id, rooms=[room_id])))
    try:
        alice.start()
        bob.start()
        room_a = alice.join(room_id, info={"name": "Alice"})
        room_b = bob.join(room_id)
        assert room_a.id == room_id and sorted(m["educatorId"] for m in room_b.members) == sorted([alice_id, bob_id])
        seq = room_b.publish("comment", {"text": "from a notebook"})
        got = room_a.next(timeout=scaled(10))
        assert got["seq"] == seq and got["data"]["data"] == {"text": "from a notebook"}
        room_b.leave()
        deadline = time.monotonic() + scaled(10)
        while bob_id in [m["educatorId"] for m in room_a.members]:
            assert time.monotonic() < deadline, "alice never saw bob leave"
            time.sleep(0.05)
        assert room_a.member_count == 1
    finally:
        alice.close()
        bob.close()
