"""The Python client's rooms (hub.clientrooms; PROTOCOL.md section 7), without sockets: the member list stays
exact under `joined`, presence joins and leaves, repeats and a resume; dedupe is per room and never touches
an ephemeral envelope; the ops the client sends (join, publish with id, typing, leave, hello `rooms`, a
poll's `POST /api/events`) have the contract's shapes; `joined`, `ack`, `left` and `error` answer the calls
waiting on them."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from hub.client import HubClient, RoomError
from hub.clientrooms import Room
from hub.clientroomstate import RoomState
from hub.core.protocol import Joined, WireEnvelope, welcome_frame
from hub.core.stream import StreamPosition

ROOM = "quiz:q-42"
ALICE = {"educatorId": "alice", "connections": 2, "info": {"name": "Alice"}}
BOB = {"educatorId": "bob", "connections": 1}


def joined(
    seq: int = 7, epoch: str = "R1", resumed: bool = False, members: list[dict[str, Any]] | None = None, **over: Any
) -> dict[str, Any]:
    members = [ALICE, BOB] if members is None else members
    return {
        "op": "joined",
        "room": ROOM,
        "epoch": epoch,
        "seq": seq,
        "resumed": resumed,
        "members": members,
        "memberCount": len(members),
    } | over


def presence(seq: int, action: str, educator: str, count: int, info: dict[str, Any] | None = None) -> dict[str, Any]:
    member: dict[str, Any] = {"educatorId": educator}
    if info is not None:
        member["info"] = info
    data = {"action": action, "member": member, "memberCount": count}
    return {"seq": seq, "type": "presence", "ts": 1.0, "data": data, "room": ROOM}


def message(seq: int | None, text: str, room: str = ROOM) -> dict[str, Any]:
    env: dict[str, Any] = {
        "type": "room_message",
        "ts": 2.0,
        "data": {"event": "comment", "data": {"text": text}, "from": {"educatorId": "bob", "session": "s-b"}},
        "room": room,
    }
    if seq is not None:
        env["seq"] = seq
    return env


def typing(educator: str, on: bool) -> dict[str, Any]:
    return {"type": "typing", "ts": 3.0, "data": {"educatorId": educator, "typing": on}, "room": ROOM}


def state_after(joined_wire: dict[str, Any], *envelopes: dict[str, Any]) -> tuple[RoomState, list[bool]]:
    state = RoomState(ROOM)
    state.apply_joined(Joined.model_validate(joined_wire), joined_wire)
    return state, [state.accept(WireEnvelope.model_validate(env)) for env in envelopes]


# -- RoomState: pure bookkeeping --------------------------------------------------------------------------


def test_joined_gives_the_members_exactly_as_sent_and_the_position() -> None:
    state, _ = state_after(joined())
    assert state.members == [ALICE, BOB] and state.member_count == 2 and state.joined
    assert state.position == StreamPosition("R1", 7)
    state.members.append({"educatorId": "mallory", "connections": 1})  # a new list each time
    assert state.members == [ALICE, BOB]


def test_presence_joins_and_leaves_keep_the_list_exact_and_no_one_twice() -> None:
    state, accepted = state_after(
        joined(),
        presence(8, "join", "carol", 3, {"name": "Carol"}),
        presence(9, "leave", "bob", 2),
        presence(10, "join", "carol", 2),  # listed already: not twice
        presence(11, "leave", "dave", 2),  # never listed: nothing to remove
    )
    assert accepted == [True] * 4
    assert state.members == [ALICE, {"educatorId": "carol", "connections": 1, "info": {"name": "Carol"}}]
    assert state.member_count == 2 and state.position == StreamPosition("R1", 11)
    state.accept(WireEnvelope.model_validate(presence(12, "leave", "alice", 1)))
    state.accept(WireEnvelope.model_validate(presence(13, "leave", "carol", 0)))
    assert state.members == [] and state.member_count == 0


def test_dedupe_is_per_room_seq_and_never_drops_an_ephemeral_envelope() -> None:
    state, accepted = state_after(
        joined(seq=7),
        message(7, "seen before the join"),
        message(8, "new"),
        message(8, "a repeat"),
        presence(8, "leave", "alice", 1),  # a repeat seq: not applied either
        message(None, "ephemeral"),
        message(None, "ephemeral"),  # the same again: ephemeral envelopes have no seq, never deduped
        typing("bob", True),
        message(9, "next"),
    )
    assert accepted == [False, True, False, False, True, True, True, True]
    assert state.position == StreamPosition("R1", 9) and len(state.members) == 2


def test_a_resume_gives_the_exact_list_from_joined_plus_the_replayed_presence() -> None:
    state, _ = state_after(joined(seq=7))
    # Away: bob left, carol joined and left, dave joined. The resumed joined lists the members now; the
    # replay (seq 8..11) follows and must not list anyone twice or bring back one who left.
    now = [ALICE, {"educatorId": "dave", "connections": 1}]
    state.apply_joined(Joined.model_validate(joined(seq=11, resumed=True, members=now)), joined(members=now))
    assert state.position == StreamPosition("R1", 7)  # resumed: the replay moves it
    for env in (
        presence(8, "leave", "bob", 1),
        presence(9, "join", "carol", 2),
        presence(10, "leave", "carol", 1),
        presence(11, "join", "dave", 2),
    ):
        state.accept(WireEnvelope.model_validate(env))
    assert state.members == now and state.member_count == 2 and state.position == StreamPosition("R1", 11)


def test_replayed_presence_up_to_the_joined_seq_cannot_drop_a_member_who_came_back() -> None:
    state, _ = state_after(joined(seq=7))
    # Alice's connection was lost (the hub published her leave at 8), she rejoined (her join at 9, not sent
    # to her own connection), and the resumed joined (seq 9) lists her; the replay holds her leave.
    state.apply_joined(Joined.model_validate(joined(seq=9, resumed=True)), joined(seq=9, resumed=True))
    accepted = [
        state.accept(WireEnvelope.model_validate(env))
        for env in (presence(8, "leave", "alice", 1), presence(10, "join", "carol", 3), presence(11, "leave", "bob", 2))
    ]
    assert accepted == [True, True, True]  # all handed on to the handlers
    assert [m["educatorId"] for m in state.members] == ["alice", "carol"] and state.member_count == 2


def test_a_join_that_did_not_resume_starts_over_in_the_new_epoch() -> None:
    state, _ = state_after(joined(seq=7), message(8, "old epoch"))
    fresh = joined(seq=2, epoch="R2", members=[BOB])
    state.apply_joined(Joined.model_validate(fresh), fresh)
    assert state.position == StreamPosition("R2", 2) and state.members == [BOB] and state.member_count == 1
    assert state.accept(WireEnvelope.model_validate(message(3, "new epoch")))  # 3 < 8, but a new epoch


def test_spec_is_what_hello_rooms_join_and_a_poll_carry() -> None:
    state = RoomState(ROOM, presence=False, info={"name": "Ada"})
    assert state.spec() == {"room": ROOM, "presence": False, "info": {"name": "Ada"}}
    state.apply_joined(Joined.model_validate(joined(seq=5)), joined(seq=5))
    assert state.spec() == {
        "room": ROOM,
        "resume": {"epoch": "R1", "seq": 5},
        "presence": False,
        "info": {"name": "Ada"},
    }
    assert RoomState("course:bio-101:week-1").spec() == {"room": "course:bio-101:week-1"}


def run(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """An async test run on its own event loop (as the other unit tests do with asyncio.run)."""

    @functools.wraps(test)
    def sync(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return sync


# -- the client: what it sends and how answers reach the calls ------------------------------------------------


class Wire:
    """The client's side of a WebSocket, as far as sending goes: records each frame the client sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))
        self.arrived.set()

    async def next_sent(self) -> dict[str, Any]:
        while not self.sent:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 2)
        return self.sent.pop(0)


def connected_client(**kw: Any) -> tuple[HubClient, Wire]:
    client = HubClient("http://127.0.0.1:1", "a-token", **kw)
    wire = Wire()
    client._ws = wire  # type: ignore[assignment]
    client._receive(
        welcome_frame(session="s-a", educator_id="alice", epoch="E1", seq=3, heartbeat=20.0, resumed=False, snapshot=[])
    )
    assert client.state == "connected" and client.link == "connected"
    return client, wire


async def joined_room(client: HubClient, wire: Wire, **join: Any) -> Room:
    task = asyncio.create_task(client.join(ROOM, **join))
    sent = await wire.next_sent()
    assert sent["op"] == "join" and sent["room"] == ROOM
    client._receive(json.dumps(joined()))
    return await task


def batch(*envelopes: dict[str, Any]) -> str:
    return json.dumps({"op": "batch", "messages": list(envelopes)})


@run
async def test_join_sends_the_op_and_returns_the_room_once_joined() -> None:
    client, wire = connected_client()
    task = asyncio.create_task(client.join(ROOM, info={"name": "Alice"}))
    assert await wire.next_sent() == {"op": "join", "room": ROOM, "info": {"name": "Alice"}}
    assert not task.done()
    client._receive(json.dumps(joined()))
    room = await task
    assert room.id == ROOM and room.members == [ALICE, BOB] and room.member_count == 2 and room.joined
    assert (room.epoch, room.seq) == ("R1", 7) and client.rooms == {ROOM: room}
    watcher = asyncio.create_task(client.join("course:bio-101", presence=False))
    assert await wire.next_sent() == {"op": "join", "room": "course:bio-101", "presence": False}
    client._receive(json.dumps(joined(room="course:bio-101", members=[])))
    assert (await watcher).members == []


@run
async def test_a_refused_join_raises_room_error_with_the_code_and_forgets_the_room() -> None:
    client, wire = connected_client()
    errors: list[dict[str, Any]] = []
    client.on("error", errors.append)
    task = asyncio.create_task(client.join("quiz:q-9"))
    await wire.next_sent()
    refusal = {"op": "error", "code": "forbidden", "message": "You may not join quiz:q-9.", "ref": "join"}
    client._receive(json.dumps({**refusal, "room": "quiz:q-9"}))
    with pytest.raises(RoomError) as caught:
        await task
    assert caught.value.code == "forbidden" and caught.value.room == "quiz:q-9" and caught.value.ref == "join"
    assert str(caught.value) == "You may not join quiz:q-9." and client.rooms == {}
    assert errors == [{**refusal, "room": "quiz:q-9"}]


@run
async def test_publish_sends_an_id_and_returns_the_acks_seq() -> None:
    client, wire = connected_client()
    room = await joined_room(client, wire)
    task = asyncio.create_task(room.publish("comment", {"text": "Question 3 reads oddly"}))
    sent = await wire.next_sent()
    assert sent == {
        "op": "publish",
        "room": ROOM,
        "event": "comment",
        "data": {"text": "Question 3 reads oddly"},
        "id": sent["id"],
    }
    client._receive(json.dumps({"op": "ack", "id": "another", "room": ROOM, "seq": 99}))  # not this publish's
    await asyncio.sleep(0)
    assert not task.done()
    client._receive(json.dumps({"op": "ack", "id": sent["id"], "room": ROOM, "seq": 8}))
    assert await task == 8
    task = asyncio.create_task(room.publish("cursor", {"q": 3}, ephemeral=True))
    sent = await wire.next_sent()
    assert sent["ephemeral"] is True and sent["id"] != 0
    client._receive(json.dumps({"op": "ack", "id": sent["id"], "room": ROOM}))
    assert await task is None


@pytest.mark.parametrize("code", ["not_joined", "rate_limited", "too_large", "bad_frame", "forbidden"])
@run
async def test_a_refused_publish_raises_room_error_with_the_hubs_code(code: str) -> None:
    client, wire = connected_client()
    room = await joined_room(client, wire)
    seen: list[dict[str, Any]] = []
    room.on("error", seen.append)
    task = asyncio.create_task(room.publish("comment", {"text": "x"}))
    await wire.next_sent()
    refusal = {"op": "error", "code": code, "message": "A sentence.", "ref": "publish", "room": ROOM}
    client._receive(json.dumps(refusal))
    with pytest.raises(RoomError) as caught:
        await task
    assert (caught.value.code, caught.value.room, caught.value.ref, str(caught.value)) == (
        code,
        ROOM,
        "publish",
        "A sentence.",
    )
    assert seen == [refusal] and client.state == "connected"


@run
async def test_publishes_to_one_room_go_one_at_a_time_so_an_error_names_its_publish() -> None:
    client, wire = connected_client()
    room = await joined_room(client, wire)
    first = asyncio.create_task(room.publish("a", {}))
    second = asyncio.create_task(room.publish("b", {}))
    sent = await wire.next_sent()
    await asyncio.sleep(0.01)
    assert sent["event"] == "a" and wire.sent == []  # b waits for a's answer
    client._receive(json.dumps({"op": "ack", "id": sent["id"], "room": ROOM, "seq": 8}))
    sent = await wire.next_sent()
    assert sent["event"] == "b"
    client._receive(
        json.dumps({"op": "error", "code": "rate_limited", "message": "Slow down.", "ref": "publish", "room": ROOM})
    )
    assert await first == 8
    with pytest.raises(RoomError, match="Slow down"):
        await second


@run
async def test_typing_and_leave_send_their_ops_and_leave_ends_iteration() -> None:
    client, wire = connected_client()
    room = await joined_room(client, wire)
    await room.typing(True)
    await room.typing(False)
    assert [await wire.next_sent(), await wire.next_sent()] == [
        {"op": "typing", "room": ROOM, "typing": True},
        {"op": "typing", "room": ROOM, "typing": False},
    ]
    client._receive(batch(message(8, "one")))
    leaving = asyncio.create_task(room.leave())
    assert await wire.next_sent() == {"op": "leave", "room": ROOM}
    client._receive(json.dumps({"op": "left", "room": ROOM}))
    await leaving
    assert [env["data"]["data"]["text"] async for env in room] == ["one"]  # then the iteration ends
    assert client.rooms == {} and not room.joined
    client._receive(batch(message(9, "after the leave")))  # a room not held: passed on, not to the Room
    assert room._queue.qsize() == 1  # (only the end marker)


@run
async def test_iteration_and_handlers_get_each_new_envelope_once() -> None:
    client, wire = connected_client()
    room = await joined_room(client, wire)
    got: dict[str, list[dict[str, Any]]] = {"message": [], "presence": [], "typing": [], "*": []}
    for event in ("message", "presence", "typing"):
        room.on(event, got[event].append)
    client.on("*", got["*"].append)
    own = {"seq": 4, "type": "quiz_status", "ts": 1.0, "data": {"jobId": "j-1"}}
    client._receive(batch(own, message(8, "one"), presence(9, "join", "carol", 3), typing("bob", True)))
    client._receive(batch(message(8, "one"), message(None, "eph"), message(None, "eph"), message(10, "two")))
    texts = []
    async for env in room:
        texts.append(env["data"]["data"]["text"])
        if len(texts) == 4:
            break
    assert texts == ["one", "eph", "eph", "two"]
    assert got["message"] == [message(8, "one"), message(None, "eph"), message(None, "eph"), message(10, "two")]
    assert got["presence"] == [presence(9, "join", "carol", 3)] and got["typing"] == [typing("bob", True)]
    assert [env.get("seq") for env in got["*"]] == [4, 8, 9, None, None, None, 10]  # the repeat of 8 dropped
    assert room.members[-1] == {"educatorId": "carol", "connections": 1} and room.member_count == 3
    assert client.position == StreamPosition("E1", 4) and room.seq == 10  # two streams, two positions
    with pytest.raises(ValueError, match="no event 'joind'"):
        room.on("joind", print)


@run
async def test_unread_messages_are_bounded_oldest_dropped() -> None:
    client, wire = connected_client(room_queue=3)
    room = await joined_room(client, wire)
    client._receive(batch(*(message(seq, f"m{seq}") for seq in range(8, 13))))
    await room.leave(timeout=0.05)  # (no hub answers `left` here: logged, not raised)
    assert [env["seq"] async for env in room] == [10, 11, 12]


@run
async def test_a_reconnect_rejoins_and_resumes_in_the_hello_and_applies_welcome_rooms() -> None:
    client, wire = connected_client()
    room = await joined_room(client, wire)
    client._receive(batch(message(8, "one"), message(None, "eph")))
    other = asyncio.create_task(client.join("quiz:q-9", presence=False))
    await wire.next_sent()
    publishing = asyncio.create_task(room.publish("comment", {"text": "in flight"}))
    await wire.next_sent()
    client._ws = None  # the connection goes (as _session's end does it)
    client._linked.clear()
    client.rooms_book.disconnected()
    with pytest.raises(RoomError) as caught:
        await publishing
    assert caught.value.code == "disconnected" and not room.joined
    hello = await client._hello()
    assert hello == {
        "op": "hello",
        "token": "a-token",
        "resume": {"epoch": "E1", "seq": 3},
        "rooms": [{"room": ROOM, "resume": {"epoch": "R1", "seq": 8}}, {"room": "quiz:q-9", "presence": False}],
    }
    client._ws = wire  # type: ignore[assignment]
    refused = {
        "op": "error",
        "code": "forbidden",
        "message": "You may not join quiz:q-9.",
        "ref": "join",
        "room": "quiz:q-9",
    }
    now = [BOB]
    welcome = json.loads(
        welcome_frame(
            session="s-a2", educator_id="alice", epoch="E1", seq=3, heartbeat=20.0, resumed=True, snapshot=None
        )
    )
    welcome["rooms"] = [joined(seq=9, resumed=True, members=now), refused]
    client._receive(json.dumps(welcome))
    with pytest.raises(RoomError, match="may not join"):
        await other
    assert room.joined and room.members == now and list(client.rooms) == [ROOM]
    client._receive(batch(message(8, "one again"), presence(9, "leave", "alice", 1)))  # the replay after 8
    assert room.members == now and room.seq == 9
    assert [env["data"]["data"]["text"] for env in [await room.__anext__(), await room.__anext__()]] == ["one", "eph"]
    assert room._queue.empty()  # "one again" was a repeat


@run
async def test_a_room_joined_while_the_hello_was_in_flight_is_joined_after_the_welcome() -> None:
    client, wire = connected_client()
    room = await joined_room(client, wire)
    client._ws = None
    client._linked.clear()
    client.rooms_book.disconnected()
    await client._hello()  # carries ROOM only
    late = asyncio.create_task(client.join("quiz:q-7"))  # not connected: waits for the next welcome
    await asyncio.sleep(0)
    client._ws = wire  # type: ignore[assignment]
    welcome = json.loads(
        welcome_frame(session="s", educator_id="alice", epoch="E1", seq=3, heartbeat=20.0, resumed=True, snapshot=None)
    )
    client._receive(json.dumps({**welcome, "rooms": [joined(resumed=True)]}))
    assert room.joined and client.rooms_book.specs(unjoined=True) == [{"room": "quiz:q-7"}]  # _session sends it
    late.cancel()


@run
async def test_a_malformed_rooms_entry_or_joined_frame_is_skipped_not_raised() -> None:
    client, wire = connected_client()
    task = asyncio.create_task(client.join(ROOM, timeout=0.2))
    await wire.next_sent()
    client._receive(json.dumps({"op": "joined", "room": ROOM, "epoch": "R1"}))  # fields missing: logged, skipped
    with pytest.raises(TimeoutError):
        await task
    assert client.rooms == {} and client.state == "connected"
    assert client.rooms_book.answers([{"op": "joined"}, "x"], [ROOM, "quiz:q-2"]) == [ROOM, "quiz:q-2"]


@run
async def test_close_ends_every_room_and_fails_what_waits() -> None:
    client, wire = connected_client()
    room = await joined_room(client, wire)
    publishing = asyncio.create_task(room.publish("comment", {}))
    await wire.next_sent()
    joining = asyncio.create_task(client.join("quiz:q-2"))
    await wire.next_sent()
    client._ws = None
    await client.close()
    for waiting in (publishing, joining):
        with pytest.raises(RoomError) as caught:
            await waiting
        assert caught.value.code == "closed"
    assert [env async for env in room] == [] and client.rooms == {}


# -- the long-poll fallback with rooms ------------------------------------------------------------------------


@run
async def test_a_poll_with_rooms_is_a_post_with_resume_rooms_and_timeout_and_without_them_a_get() -> None:
    client, wire = connected_client()
    requests: list[httpx.Request] = []

    def hub(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"epoch": "E1", "seq": 3, "resumed": True, "messages": []})

    async with httpx.AsyncClient(base_url="http://hub", transport=httpx.MockTransport(hub)) as http:
        await client._poll_once(http, 25.0, [])
        await joined_room(client, wire, info={"name": "Alice"})
        await client._poll_once(http, 20.0, client.rooms_book.specs())
    assert requests[0].method == "GET" and dict(requests[0].url.params) == {
        "timeout": "25.0",
        "epoch": "E1",
        "after": "3",
    }
    assert requests[1].method == "POST" and requests[1].url.path == "/api/events"
    assert json.loads(requests[1].content) == {
        "rooms": [{"room": ROOM, "resume": {"epoch": "R1", "seq": 7}, "info": {"name": "Alice"}}],
        "timeout": 20.0,
        "resume": {"epoch": "E1", "seq": 3},
    }


@run
async def test_a_join_or_leave_ends_the_poll_in_flight() -> None:
    client, _ = connected_client()
    started = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(30)
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(base_url="http://hub", transport=httpx.MockTransport(slow)) as http:
        poll = asyncio.create_task(client._poll_once(http, 25.0, []))
        await started.wait()
        client.wake_poll()
        assert await asyncio.wait_for(poll, 2) is None


@run
async def test_poll_answers_rooms_join_the_rooms_and_room_envelopes_flow() -> None:
    client, wire = connected_client()
    room = await joined_room(client, wire)
    client.rooms_book.disconnected()
    assert client.rooms_book.answers([joined(seq=8, resumed=True)], [ROOM]) == []
    client._deliver(
        [WireEnvelope.model_validate(e) for e in (message(8, "one"), message(9, "two"))],
        [message(8, "one"), message(9, "two")],
    )
    assert room.joined and room.seq == 9 and [(await room.__anext__())["seq"]] == [8]
