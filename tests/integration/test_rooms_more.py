"""Rooms against the real hub (PROTOCOL.md section 7), beyond the first smoke tests of test_rooms.py: the
HTTP endpoints and their refusals, the long-poll fallback with rooms, typing expiry on the server,
abrupt closes, ephemeral publishes, who receives a publish, the room limit, hello.rooms with a
forbidden entry, and joining twice."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from hub.server import LocalHub
from tests.integration.conftest import open_ws, scaled
from tests.integration.test_rooms import Peer, peer


def room_id(prefix: str = "quiz") -> str:
    return f"{prefix}:q-{uuid.uuid4().hex[:8]}"


def who(name: str) -> str:
    """An educator id of this run (tests share one hub: fresh names keep streams apart)."""
    return f"{name}-{uuid.uuid4().hex[:6]}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def envelope(p: Peer, room: str, mtype: str, pred: Callable[[dict[str, Any]], bool], timeout: float) -> Any:
    """Peer.envelope with a longer wait (scaled)."""
    return await p.wait(
        f"{mtype} in {room}",
        lambda: next((e for e in p.envelopes(room) if e["type"] == mtype and pred(e)), None),
        timeout,
    )


def presence_of(p: Peer, room: str) -> list[tuple[str, str, int]]:
    return [
        (e["data"]["action"], e["data"]["member"]["educatorId"], e["data"]["memberCount"])
        for e in p.envelopes(room)
        if e["type"] == "presence"
    ]


# -- HTTP ----------------------------------------------------------------------------------------


def test_http_members_for_educator_service_and_admin_and_403_for_a_forbidden_educator(hub: LocalHub) -> None:
    async def go() -> None:
        room = room_id()
        alice = await peer(hub, who("alice"))
        await alice.send({"op": "join", "room": room, "info": {"name": "A"}})
        await alice.frame("joined", room=room)
        async with httpx.AsyncClient(base_url=hub.url) as http:
            for token in (
                hub.token(who("ed"), rooms=[room]),
                hub.token(who("ed"), rooms=["quiz:*"]),
                hub.token(who("svc"), role="service"),
                hub.token(who("adm"), role="admin"),
            ):
                got = await http.get(f"/api/rooms/{room}/members", headers=auth(token))
                assert got.status_code == 200, got.text
                assert got.json() == {
                    "room": room,
                    "members": [{"educatorId": alice.welcome["educatorId"], "connections": 1, "info": {"name": "A"}}],
                    "memberCount": 1,
                }
            refused = await http.get(
                f"/api/rooms/{room}/members", headers=auth(hub.token(who("ed"), rooms=["course:*"]))
            )
            assert refused.status_code == 403
            assert isinstance(refused.json()["detail"], str) and room in refused.json()["detail"]
            none = await http.get(f"/api/rooms/{room}/members", headers=auth(hub.token(who("ed"))))
            assert none.status_code == 403  # no `rooms` claim: no room
            empty = await http.get(
                "/api/rooms/quiz:nobody-here/members", headers=auth(hub.token(who("adm"), role="admin"))
            )
            assert empty.json() == {"room": "quiz:nobody-here", "members": [], "memberCount": 0}
        await alice.close()

    asyncio.run(go())


def test_http_publish_ephemeral_service_and_typing_reach_the_members(hub: LocalHub) -> None:
    async def go() -> None:
        room = room_id()
        alice = await peer(hub, who("alice"))
        await alice.send({"op": "join", "room": room})
        joined = await alice.frame("joined", room=room)
        bob_id = who("bob")
        svc_id = who("svc")
        async with httpx.AsyncClient(base_url=hub.url) as http:
            bob = auth(hub.token(bob_id, rooms=["quiz:*"]))
            kept = await http.post(
                f"/api/rooms/{room}/publish", headers=bob, json={"event": "comment", "data": {"t": 1}}
            )
            assert kept.status_code == 202 and kept.json() == {"seq": joined["seq"] + 1}
            flash = await http.post(
                f"/api/rooms/{room}/publish", headers=bob, json={"event": "cursor", "data": {"x": 3}, "ephemeral": True}
            )
            assert flash.status_code == 202 and flash.json() == {}
            svc = auth(hub.token(svc_id, role="service"))  # a service may publish to any room
            served = await http.post(f"/api/rooms/{room}/publish", headers=svc, json={"event": "regen", "data": {}})
            assert served.status_code == 202 and served.json() == {"seq": joined["seq"] + 2}
            typing = await http.post(f"/api/rooms/{room}/typing", headers=bob, json={"typing": True})
            assert typing.status_code == 202 and typing.json() == {}
        await alice.wait(
            "three messages", lambda: len([e for e in alice.envelopes(room) if e["type"] == "room_message"]) >= 3
        )
        got = [e for e in alice.envelopes(room) if e["type"] == "room_message"]
        assert got[0] == {
            "seq": joined["seq"] + 1,
            "type": "room_message",
            "ts": got[0]["ts"],
            "data": {"event": "comment", "data": {"t": 1}, "from": {"educatorId": bob_id, "session": "http"}},
            "room": room,
        }
        assert "seq" not in got[1] and got[1]["data"]["event"] == "cursor"
        assert got[2]["seq"] == joined["seq"] + 2 and got[2]["data"]["from"] == {
            "educatorId": svc_id,
            "session": "http",
        }
        typed = await alice.envelope(room, "typing")
        assert typed["data"] == {"educatorId": bob_id, "typing": True} and "seq" not in typed
        await alice.close()

    asyncio.run(go())


def test_http_room_endpoints_refuse_bad_input_with_a_reason(hub: LocalHub) -> None:
    room = room_id()
    edu = httpx.Client(base_url=hub.url, headers=auth(hub.token(who("ed"), rooms=["quiz:*"])))
    other = httpx.Client(base_url=hub.url, headers=auth(hub.token(who("ed"), rooms=["course:*"])))
    svc = httpx.Client(base_url=hub.url, headers=auth(hub.token(who("svc"), role="service")))
    publish = f"/api/rooms/{room}/publish"

    def detail_422(reply: httpx.Response) -> None:
        assert reply.status_code == 422, reply.text
        detail = reply.json()["detail"]
        assert detail and all(isinstance(d["msg"], str) and d["msg"] for d in detail), detail

    for body in (
        {"event": "x" * 65, "data": {}},
        {"event": "", "data": {}},
        {"event": "e"},
        {"event": "e", "data": []},
        {"event": "e", "data": {}, "ephemeral": "yes"},
        {"event": "e", "data": {}, "extra": 1},
        {"event": 5, "data": {}},
    ):
        detail_422(edu.post(publish, json=body))
    detail_422(
        edu.post(publish, content=b'{"event": "e", "data": {"x": NaN}}', headers={"content-type": "application/json"})
    )
    for body in ({"typing": "yes"}, {"typing": 1}, {}, {"typing": True, "x": 1}):
        detail_422(edu.post(f"/api/rooms/{room}/typing", json=body))
    for path in ("/api/rooms/bad room/members", "/api/rooms/" + "a" * 129 + "/members", "/api/rooms/quiz*/members"):
        detail_422(edu.get(path))
    # a service or an admin may use any room, but only a room id (the path pattern is matched whole)
    detail_422(svc.post("/api/rooms/bad room/publish", json={"event": "e", "data": {}}))
    detail_422(svc.post("/api/rooms/quiz:x!y/publish", json={"event": "e", "data": {}}))
    detail_422(svc.get("/api/rooms/quiz:é/members"))
    big = edu.post(publish, json={"event": "e", "data": {"b": "x" * 17_000}})
    assert big.status_code == 413 and "16384" in big.json()["detail"]
    for reply in (
        other.post(publish, json={"event": "e", "data": {}}),
        other.post(f"/api/rooms/{room}/typing", json={"typing": True}),
        svc.post(f"/api/rooms/{room}/typing", json={"typing": True}),  # typing is an educator's
    ):
        assert reply.status_code == 403 and isinstance(reply.json()["detail"], str) and reply.json()["detail"], (
            reply.text
        )
    for client in (edu, other, svc):
        client.close()


# -- POST /api/events with rooms ---------------------------------------------------------------------


def test_long_poll_with_rooms_joins_resumes_and_mixes_both_streams(hub: LocalHub) -> None:
    async def go() -> None:
        room, refused = room_id(), room_id("course")
        poller_id = who("poller")
        token = hub.token(poller_id, rooms=["quiz:*"])
        svc = auth(hub.token(who("svc"), role="service"))
        async with httpx.AsyncClient(base_url=hub.url, timeout=30) as http:
            first = await http.post(
                "/api/events",
                headers=auth(token),
                json={"rooms": [{"room": room, "presence": False}, {"room": refused}], "timeout": 1},
            )
            assert first.status_code == 200, first.text
            body = first.json()
            assert body["resumed"] is False and body["messages"] == [] and "snapshot" in body
            joined, error = body["rooms"]
            assert joined["op"] == "joined" and joined["room"] == room and joined["resumed"] is False
            assert joined["members"] == [] and joined["memberCount"] == 0
            assert error["op"] == "error" and error["code"] == "forbidden" and error["ref"] == "join"
            assert error["room"] == refused
            # both streams move while nobody polls
            await http.post(f"/api/rooms/{room}/publish", headers=svc, json={"event": "c", "data": {"n": 1}})
            await http.post(
                "/api/publish",
                headers=svc,
                json={"type": "notification", "data": {"title": "hi"}, "educatorIds": [poller_id]},
            )
            await http.post(f"/api/rooms/{room}/publish", headers=svc, json={"event": "c", "data": {"n": 2}})
            resume = {"epoch": body["epoch"], "seq": body["seq"]}
            room_resume = {"epoch": joined["epoch"], "seq": joined["seq"]}
            got: list[dict[str, Any]] = []
            deadline = time.monotonic() + scaled(10)
            while len(got) < 3 and time.monotonic() < deadline:
                polled = await http.post(
                    "/api/events",
                    headers=auth(token),
                    json={
                        "resume": resume,
                        "rooms": [{"room": room, "resume": room_resume, "presence": False}],
                        "timeout": 2,
                    },
                )
                answer = polled.json()
                assert answer["resumed"] is True and answer["rooms"][0]["resumed"] is True, answer
                got += answer["messages"]
                resume = {"epoch": answer["epoch"], "seq": answer["seq"]}
                for env in answer["messages"]:
                    if env.get("room") == room:
                        room_resume["seq"] = env["seq"]
            mine = [e for e in got if "room" not in e]
            theirs = [e for e in got if e.get("room") == room]
            assert [e["type"] for e in mine] == ["notification"] and mine[0]["data"]["title"] == "hi"
            assert [e["data"]["data"]["n"] for e in theirs] == [1, 2]
            assert [e["seq"] for e in theirs] == [joined["seq"] + 1, joined["seq"] + 2]
            # a poll resumed at the last seq gets nothing again: within its timeout, an empty answer
            again = await http.post(
                "/api/events",
                headers=auth(token),
                json={
                    "resume": resume,
                    "rooms": [{"room": room, "resume": room_resume, "presence": False}],
                    "timeout": 0.5,
                },
            )
            assert again.json()["messages"] == [] and again.json()["rooms"][0]["resumed"] is True

    asyncio.run(go())


def test_a_polling_educator_is_present_while_polls_come_and_leaves_when_they_stop(hub: LocalHub) -> None:
    async def go() -> None:
        room = room_id()
        watcher = await peer(hub, who("watcher"))
        await watcher.send({"op": "join", "room": room, "presence": False})
        await watcher.frame("joined", room=room)
        poller_id = who("poller")
        token = hub.token(poller_id, rooms=[room])
        timeout = 1.0
        async with httpx.AsyncClient(base_url=hub.url, timeout=30) as http:
            resume: dict[str, Any] | None = None
            started = time.monotonic()
            while time.monotonic() - started < scaled(4):  # polls keep coming for 4 s (2 x the 2 s floor)
                body: dict[str, Any] = {"rooms": [{"room": room, "info": {"via": "poll"}}], "timeout": timeout}
                if resume is not None:
                    body["resume"] = resume
                answer = (await http.post("/api/events", headers=auth(token), json=body)).json()
                resume = {"epoch": answer["epoch"], "seq": answer["seq"]}
                members = await http.get(f"/api/rooms/{room}/members", headers=auth(token))
                assert members.json()["members"] == [
                    {"educatorId": poller_id, "connections": 1, "info": {"via": "poll"}}
                ]
                await asyncio.sleep(0.2)
            stopped = time.monotonic()
        assert presence_of(watcher, room) == [("join", poller_id, 1)]  # once, for all its polls
        await envelope(watcher, room, "presence", lambda e: e["data"]["action"] == "leave", 10)
        gap = time.monotonic() - stopped
        assert gap >= 2 * timeout - 0.5, gap  # not before twice the timeout
        assert presence_of(watcher, room) == [("join", poller_id, 1), ("leave", poller_id, 0)]
        await watcher.close()

    asyncio.run(go())


# -- typing, closes, ephemeral, own publishes ----------------------------------------------------------


def test_typing_expires_on_the_server_after_six_seconds(hub: LocalHub) -> None:
    async def go() -> None:
        room = room_id()
        alice = await peer(hub, who("alice"), rooms=[{"room": room}])
        bob = await peer(hub, who("bob"), rooms=[{"room": room}])
        await alice.send({"op": "typing", "room": room, "typing": True})
        await bob.envelope(room, "typing", lambda e: e["data"]["typing"] is True)
        on = time.monotonic()
        off = await envelope(bob, room, "typing", lambda e: e["data"]["typing"] is False, 12)
        took = time.monotonic() - on
        assert off["data"] == {"educatorId": alice.welcome["educatorId"], "typing": False} and "seq" not in off
        assert 5.5 <= took <= 6.0 + scaled(1.5), took
        await alice.close()
        await bob.close()

    asyncio.run(go())


def test_an_abruptly_closed_socket_leaves_its_rooms_and_ends_its_typing(hub: LocalHub) -> None:
    async def go() -> None:
        room = room_id()
        alice = await peer(hub, who("alice"), rooms=[{"room": room}])
        bob = await peer(hub, who("bob"), rooms=[{"room": room}])
        alice_id = alice.welcome["educatorId"]
        await alice.send({"op": "typing", "room": room, "typing": True})
        await bob.envelope(room, "typing", lambda e: e["data"]["typing"] is True)
        alice.ws.transport.abort()  # no close frame: the TCP connection just goes
        leave = await envelope(bob, room, "presence", lambda e: e["data"]["action"] == "leave", 10)
        assert leave["data"] == {"action": "leave", "member": {"educatorId": alice_id}, "memberCount": 1}
        off = await bob.envelope(room, "typing", lambda e: e["data"]["typing"] is False)
        assert off["data"]["educatorId"] == alice_id
        await bob.close()

    asyncio.run(go())


def test_ephemeral_publishes_carry_no_seq_are_acked_without_one_and_are_not_replayed(hub: LocalHub) -> None:
    async def go() -> None:
        room = room_id()
        alice = await peer(hub, who("alice"), rooms=[{"room": room}])
        bob_id = who("bob")
        bob = await peer(hub, bob_id, rooms=[{"room": room}])
        [joined] = bob.welcome["rooms"]
        await alice.send({"op": "publish", "room": room, "event": "kept", "data": {"n": 1}, "id": "k1"})
        await alice.send(
            {"op": "publish", "room": room, "event": "flash", "data": {"n": 2}, "ephemeral": True, "id": "e1"}
        )
        await alice.send({"op": "publish", "room": room, "event": "kept", "data": {"n": 3}, "id": "k2"})
        k1, e1, k2 = [await alice.frame("ack", id=i) for i in ("k1", "e1", "k2")]
        assert e1 == {"op": "ack", "id": "e1", "room": room}  # no seq at all
        assert k2["seq"] == k1["seq"] + 1  # the ephemeral one took no seq
        await bob.envelope(room, "room_message", lambda e: e["data"]["data"]["n"] == 3)
        live = [e for e in bob.envelopes(room) if e["type"] == "room_message"]
        assert [("seq" in e, e["data"]["data"]["n"]) for e in live] == [(True, 1), (False, 2), (True, 3)]
        await bob.close()
        again = await peer(
            hub, bob_id, rooms=[{"room": room, "resume": {"epoch": joined["epoch"], "seq": joined["seq"]}}]
        )
        assert again.welcome["rooms"][0]["resumed"] is True
        await again.envelope(room, "room_message", lambda e: e["data"]["data"]["n"] == 3)
        await asyncio.sleep(0.3)
        replayed = [e["data"]["data"]["n"] for e in again.envelopes(room) if e["type"] == "room_message"]
        assert replayed == [1, 3]
        await again.close()
        await alice.close()

    asyncio.run(go())


def test_a_member_never_receives_its_own_publish_but_its_other_tab_does(hub: LocalHub) -> None:
    async def go() -> None:
        room = room_id()
        alice_id = who("alice")
        tab1 = await peer(hub, alice_id, rooms=[{"room": room}])
        tab2 = await peer(hub, alice_id, rooms=[{"room": room}])
        bob = await peer(hub, who("bob"), rooms=[{"room": room}])
        assert tab2.welcome["rooms"][0]["members"] == [{"educatorId": alice_id, "connections": 2}]
        await tab1.send({"op": "publish", "room": room, "event": "comment", "data": {"t": "mine"}, "id": 1})
        await tab1.send({"op": "typing", "room": room, "typing": True})
        for other in (tab2, bob):
            msg = await other.envelope(room, "room_message")
            assert msg["data"]["from"] == {"educatorId": alice_id, "session": tab1.welcome["session"]}
            await other.envelope(room, "typing")
        await tab1.frame("ack", id=1)
        await tab1.send({"op": "ping", "id": "sync"})
        await tab1.frame("pong", id="sync")
        await asyncio.sleep(0.3)
        assert [e["type"] for e in tab1.envelopes(room) if e["type"] in ("room_message", "typing")] == []
        for p in (tab1, tab2, bob):
            await p.close()

    asyncio.run(go())


# -- joining ---------------------------------------------------------------------------------------


def test_a_connection_is_in_at_most_100_rooms(hub: LocalHub) -> None:
    async def go() -> None:
        p = await peer(hub, who("many"))
        rooms = [room_id() for _ in range(101)]
        for r in rooms[:100]:
            await p.send({"op": "join", "room": r, "presence": False})
            await asyncio.sleep(0.055)  # under the inbound rate
        await p.frame("joined", room=rooms[99])
        await p.send({"op": "join", "room": rooms[100]})
        err = await p.frame("error", room=rooms[100])
        assert err == {
            "op": "error",
            "code": "too_large",
            "message": "at most 100 rooms per connection; leave one first",
            "ref": "join",
            "room": rooms[100],
        }
        await p.send({"op": "join", "room": rooms[5]})  # one it is in: joined again, not refused
        await p.wait(
            "joined twice", lambda: len([f for f in p.frames if f.get("room") == rooms[5] and f["op"] == "joined"]) == 2
        )
        await p.send({"op": "leave", "room": rooms[0]})
        await p.frame("left", room=rooms[0])
        await p.send({"op": "join", "room": rooms[100]})
        await p.frame("joined", room=rooms[100])
        await p.close()

    asyncio.run(go())


def test_hello_rooms_with_a_forbidden_entry_joins_the_others(hub: LocalHub) -> None:
    async def go() -> None:
        a, b = room_id(), room_id()
        p = await peer(
            hub, who("hello"), rooms=[{"room": a}, {"room": "course:secret"}, {"room": b, "presence": False}]
        )
        first, refused, second = p.welcome["rooms"]
        assert first["op"] == "joined" and first["room"] == a and first["memberCount"] == 1
        assert refused["op"] == "error" and refused["code"] == "forbidden" and refused["ref"] == "join"
        assert refused["room"] == "course:secret" and isinstance(refused["message"], str)
        assert second["op"] == "joined" and second["room"] == b and second["memberCount"] == 0
        await p.send({"op": "publish", "room": "course:secret", "event": "e", "data": {}})
        assert (await p.frame("error", ref="publish"))["code"] == "not_joined"
        await p.close()

    asyncio.run(go())


def test_joining_twice_answers_joined_again_without_a_second_presence_join(hub: LocalHub) -> None:
    async def go() -> None:
        room = room_id()
        watcher = await peer(hub, who("watcher"), rooms=[{"room": room, "presence": False}])
        alice_id = who("alice")
        alice = await peer(hub, alice_id)
        await alice.send({"op": "join", "room": room, "info": {"v": 1}})
        await alice.frame("joined", room=room)
        await alice.send({"op": "join", "room": room, "info": {"v": 2}})
        await alice.wait("a second joined", lambda: len([f for f in alice.frames if f["op"] == "joined"]) == 2)
        second = [f for f in alice.frames if f["op"] == "joined"][1]
        assert second["members"] == [{"educatorId": alice_id, "connections": 1, "info": {"v": 2}}]
        assert second["memberCount"] == 1
        await alice.send({"op": "publish", "room": room, "event": "after", "data": {}})
        await watcher.envelope(room, "room_message")
        assert presence_of(watcher, room) == [("join", alice_id, 1)]
        await alice.close()
        await watcher.envelope(room, "presence", lambda e: e["data"]["action"] == "leave")
        assert presence_of(watcher, room) == [("join", alice_id, 1), ("leave", alice_id, 0)]
        await watcher.close()

    asyncio.run(go())


def test_rejoining_with_presence_false_takes_the_connection_out_of_the_member_list(hub: LocalHub) -> None:
    """The latest join decides (as a re-attach after a shard restart would rebuild it)."""

    async def go() -> None:
        room = room_id()
        watcher = await peer(hub, who("watcher"), rooms=[{"room": room, "presence": False}])
        alice_id = who("alice")
        alice = await peer(hub, alice_id, rooms=[{"room": room}])
        await watcher.envelope(room, "presence", lambda e: e["data"]["action"] == "join")
        await alice.send({"op": "join", "room": room, "presence": False})
        await alice.wait("joined again", lambda: [f for f in alice.frames if f["op"] == "joined"] or None)
        rejoined = [f for f in alice.frames if f["op"] == "joined"][-1]
        assert rejoined["members"] == [] and rejoined["memberCount"] == 0
        await watcher.envelope(room, "presence", lambda e: e["data"]["action"] == "leave")
        assert presence_of(watcher, room) == [("join", alice_id, 1), ("leave", alice_id, 0)]
        await alice.close()
        await watcher.close()

    asyncio.run(go())


def test_leave_then_join_at_once_leaves_the_connection_in_the_room(hub: LocalHub) -> None:
    """A component that unmounts and mounts again (React's strict mode does it at once) sends `leave`
    and `join` back to back: the shard must see them in that order, or it counts the connection out of
    a room the ingress holds it in (no presence, no messages)."""

    async def go() -> None:
        room = room_id()
        alice_id, bob_id = who("alice"), who("bob")
        alice = await peer(hub, alice_id, rooms=[{"room": room}])
        bob = await peer(hub, bob_id, rooms=[{"room": room}])
        admin = auth(hub.token(who("adm"), role="admin"))
        async with httpx.AsyncClient(base_url=hub.url) as http:
            for n in range(10):
                await alice.ws.send(json.dumps({"op": "leave", "room": room}))
                await alice.ws.send(json.dumps({"op": "join", "room": room, "info": {"n": n}}))
                await alice.wait(
                    f"joined {n}", lambda n=n: [f for f in alice.frames if f["op"] == "joined"][n:] or None
                )
                await asyncio.sleep(0.1)
                members = (await http.get(f"/api/rooms/{room}/members", headers=admin)).json()
                assert {m["educatorId"] for m in members["members"]} == {alice_id, bob_id}, (n, members)
        await bob.send({"op": "publish", "room": room, "event": "still-there", "data": {}})
        await alice.envelope(room, "room_message", lambda e: e["data"]["event"] == "still-there")
        await alice.close()
        await bob.close()

    asyncio.run(go())


def test_who_may_join_over_the_websocket_admin_service_and_educator(hub: LocalHub) -> None:
    """PROTOCOL.md section 7: an admin may join any room; a service joins over the WebSocket only where a
    pattern matches; an educator where one of its patterns matches (a prefix ending in `*`, or exact)."""

    async def go() -> None:
        room = room_id("anything")
        cases = [
            (hub.token(who("adm"), role="admin"), room, "joined"),
            (hub.token(who("svc"), role="service"), room, "forbidden"),
            (hub.token(who("svc"), role="service", rooms=["anything:*"]), room, "joined"),
            (hub.token(who("ed"), rooms=[room]), room, "joined"),
            (hub.token(who("ed"), rooms=[room + "x"]), room, "forbidden"),  # exact means exact
            (hub.token(who("ed"), rooms=["anything:q-*"]), room, "joined"),
            (hub.token(who("ed"), rooms=["anything:q*", "quiz:*"]), "anything", "forbidden"),
            (hub.token(who("ed"), rooms=["*"]), room, "joined"),
        ]
        for token, target, expected in cases:
            ws, welcome = await open_ws(hub, {"token": token, "rooms": [{"room": target}]})
            [answer] = welcome["rooms"]
            assert (answer["op"] if answer["op"] == "joined" else answer["code"]) == expected, (target, answer)
            await ws.close()

    asyncio.run(go())


def test_a_room_named_like_an_educator_is_another_stream(hub: LocalHub) -> None:
    async def go() -> None:
        name = room_id()  # used as an educator id and as a room id
        educator = await peer(hub, name)  # not in the room
        member = await peer(hub, who("member"), rooms=[{"room": name}])
        svc = auth(hub.token(who("svc"), role="service"))
        async with httpx.AsyncClient(base_url=hub.url) as http:
            note = {"type": "notification", "data": {"title": "to the educator"}, "educatorIds": [name]}
            assert (await http.post("/api/publish", headers=svc, json=note)).status_code == 202
            sent = await http.post(f"/api/rooms/{name}/publish", headers=svc, json={"event": "to-room", "data": {}})
            assert sent.status_code == 202
        await educator.wait("the notification", lambda: educator.envelopes(None) or None)
        await member.envelope(name, "room_message")
        await asyncio.sleep(0.3)
        assert [e["type"] for e in educator.envelopes(None)] == ["notification"]
        assert educator.envelopes(name) == []
        assert member.envelopes(None) == [] and [e["type"] for e in member.envelopes(name)] == ["room_message"]
        await educator.close()
        await member.close()

    asyncio.run(go())


def test_a_poll_with_a_refused_room_is_answered_at_once(hub: LocalHub) -> None:
    """A long-poll whose only news is a refused room (its `error` entry) answers at once, not after its
    timeout: the client learns the refusal (the dashboard's panel says so) without waiting 25 s."""
    token = hub.token("poll-refused", rooms=["quiz:*"])
    headers = {"Authorization": f"Bearer {token}"}
    first = httpx.post(f"{hub.url}/api/events", json={"timeout": 0}, headers=headers).json()
    resume = {"epoch": first["epoch"], "seq": first["seq"]}
    started = time.monotonic()
    reply = httpx.post(
        f"{hub.url}/api/events",
        json={"resume": resume, "rooms": [{"room": "course:not-mine"}], "timeout": 20},
        headers=headers,
        timeout=30,
    ).json()
    assert time.monotonic() - started < scaled(5)
    assert reply["resumed"] is True and reply["rooms"][0]["code"] == "forbidden"


def test_an_educators_http_room_ops_are_paced_as_a_connections_are(hub: LocalHub) -> None:
    """POST /api/rooms/{room}/publish and /typing from an educator go by the rate a connection's room ops
    do (20 a second): past it 429 with Retry-After and a sentence, nothing sent; a service is not paced."""
    room = f"quiz:http-rate-{uuid.uuid4().hex[:8]}"
    educator = {"Authorization": f"Bearer {hub.token('http-rate', rooms=[room])}"}
    service = {"Authorization": f"Bearer {hub.token('grader', role='service')}"}
    with httpx.Client(base_url=hub.url, timeout=30) as http:
        codes = [http.post(f"/api/rooms/{room}/typing", json={"typing": True}, headers=educator) for _ in range(30)]
        refused = [r for r in codes if r.status_code == 429]
        assert refused and all(r.status_code == 202 for r in codes[:20])
        assert int(refused[0].headers["Retry-After"]) >= 1 and "a second" in refused[0].json()["detail"]
        seqs = [
            http.post(f"/api/rooms/{room}/publish", json={"event": "n", "data": {}}, headers=service) for _ in range(30)
        ]
        assert all(r.status_code == 202 for r in seqs)
