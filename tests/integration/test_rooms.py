"""Rooms, presence and typing end to end (PROTOCOL.md section 7) against the real hub: real sockets, the
session's local Ray and registry shards."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from hub.server import LocalHub
from tests.integration.conftest import open_ws, scaled


def room_id() -> str:
    return f"quiz:q-{uuid.uuid4().hex[:8]}"


class Peer:
    """One WebSocket connection with everything it received, read in the background."""

    def __init__(self, ws: ClientConnection, welcome: dict[str, Any]) -> None:
        self.ws = ws
        self.welcome = welcome
        self.frames: list[dict[str, Any]] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
        except Exception:
            pass

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    def envelopes(self, room: str | None = None) -> list[dict[str, Any]]:
        return [m for f in self.frames if f["op"] == "batch" for m in f["messages"] if m.get("room") == room]

    async def wait(self, what: str, found: Callable[[], Any], timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            value = found()
            if value:
                return value
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; frames: {self.frames[-10:]}")

    async def frame(self, op: str, **fields: Any) -> dict[str, Any]:
        def match() -> dict[str, Any] | None:
            for f in self.frames:
                if f["op"] == op and all(f.get(k) == v for k, v in fields.items()):
                    return f
            return None

        found: dict[str, Any] = await self.wait(f"{op} {fields}", match)
        return found

    async def envelope(self, room: str, mtype: str, pred: Callable[[dict[str, Any]], bool] = lambda e: True) -> Any:
        return await self.wait(
            f"{mtype} in {room}",
            lambda: next((e for e in self.envelopes(room) if e["type"] == mtype and pred(e)), None),
        )

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


async def peer(hub: LocalHub, who: str, patterns: list[str] | None = None, **hello: Any) -> Peer:
    token = hub.token(who, rooms=patterns if patterns is not None else ["quiz:*"])
    ws, welcome = await open_ws(hub, {"token": token, **hello})
    return Peer(ws, welcome)


def test_two_educators_see_each_other_join_type_publish_and_leave(hub: LocalHub) -> None:
    async def go() -> None:
        room = room_id()
        alice = await peer(hub, "alice-rooms")
        await alice.send({"op": "join", "room": room, "info": {"name": "Alice"}})
        joined = await alice.frame("joined", room=room)
        assert joined["members"] == [{"educatorId": "alice-rooms", "connections": 1, "info": {"name": "Alice"}}]
        assert joined["memberCount"] == 1 and joined["resumed"] is False and isinstance(joined["epoch"], str)

        bob = await peer(hub, "bob-rooms")
        await bob.send({"op": "join", "room": room, "info": {"name": "Bob"}})
        joined_b = await bob.frame("joined", room=room)
        assert {m["educatorId"] for m in joined_b["members"]} == {"alice-rooms", "bob-rooms"}
        assert joined_b["memberCount"] == 2
        join_b = await alice.envelope(room, "presence", lambda e: e["data"]["action"] == "join")
        assert join_b["data"] == {
            "action": "join",
            "member": {"educatorId": "bob-rooms", "info": {"name": "Bob"}},
            "memberCount": 2,
        }
        assert join_b["seq"] == joined_b["seq"] and join_b["room"] == room

        await bob.send({"op": "publish", "room": room, "event": "comment", "data": {"text": "Q3 looks off"}, "id": 7})
        ack = await bob.frame("ack", id=7)
        assert ack == {"op": "ack", "id": 7, "room": room, "seq": ack["seq"]} and ack["seq"] > join_b["seq"]
        msg = await alice.envelope(room, "room_message")
        assert msg["seq"] == ack["seq"]
        assert msg["data"] == {
            "event": "comment",
            "data": {"text": "Q3 looks off"},
            "from": {"educatorId": "bob-rooms", "session": msg["data"]["from"]["session"]},
        }

        await alice.send({"op": "typing", "room": room, "typing": True})
        typing = await bob.envelope(room, "typing")
        assert typing["data"] == {"educatorId": "alice-rooms", "typing": True} and "seq" not in typing
        await alice.send({"op": "typing", "room": room, "typing": False})
        await bob.envelope(room, "typing", lambda e: e["data"]["typing"] is False)

        await bob.send({"op": "leave", "room": room})
        await bob.frame("left", room=room)
        leave = await alice.envelope(room, "presence", lambda e: e["data"]["action"] == "leave")
        assert leave["data"]["member"]["educatorId"] == "bob-rooms" and leave["data"]["memberCount"] == 1
        await asyncio.sleep(0.3)
        # nobody receives its own publish or typing; the educator streams carry no room envelopes
        assert not [e for e in bob.envelopes(room) if e["type"] == "room_message"]
        assert not [e for e in alice.envelopes(room) if e["type"] == "typing"]
        members = httpx.get(
            f"{hub.url}/api/rooms/{room}/members",
            headers={"Authorization": f"Bearer {hub.token('carol', rooms=[room])}"},
        ).json()
        assert members["memberCount"] == 1 and [m["educatorId"] for m in members["members"]] == ["alice-rooms"]
        await alice.close()
        await bob.close()

    asyncio.run(go())


def test_refused_room_ops_get_their_error_codes_and_the_connection_stays_open(hub: LocalHub) -> None:
    async def go() -> None:
        room = room_id()
        p = await peer(hub, "dana-rooms", patterns=[room])
        await p.send({"op": "join", "room": "course:other"})
        err = await p.frame("error", ref="join")
        assert err["code"] == "forbidden" and err["room"] == "course:other"
        await p.send({"op": "publish", "room": room, "event": "x", "data": {}})
        assert (await p.frame("error", ref="publish"))["code"] == "not_joined"
        await p.send({"op": "join", "room": room, "info": {"blob": "x" * 2000}})
        assert (await p.frame("error", code="too_large", ref="join"))["room"] == room
        await p.send({"op": "join", "room": "bad room!"})
        assert (await p.frame("error", code="bad_frame", ref="join"))["message"]
        await p.send({"op": "join", "room": room})
        await p.frame("joined", room=room)
        await p.send({"op": "publish", "room": room, "event": "x", "data": {"t": "y" * 17000}})
        assert (await p.frame("error", code="too_large", ref="publish"))["room"] == room
        for _ in range(30):
            await p.send({"op": "typing", "room": room, "typing": True})
        assert (await p.frame("error", code="rate_limited", ref="typing"))["room"] == room
        await asyncio.sleep(1.2)
        await p.send({"op": "ping", "id": "still-open"})
        await p.frame("pong", id="still-open")
        await p.close()

    asyncio.run(go())


def test_hello_rooms_rejoin_and_resume_what_was_missed(hub: LocalHub) -> None:
    async def go() -> None:
        room = room_id()
        a = await peer(hub, "erin-rooms", patterns=[room], rooms=[{"room": room}])
        [joined] = a.welcome["rooms"]
        assert joined["op"] == "joined" and joined["room"] == room and joined["memberCount"] == 1
        b = await peer(hub, "finn-rooms", patterns=[room], rooms=[{"room": room, "presence": False}])
        assert b.welcome["rooms"][0]["memberCount"] == 1  # a watcher is not listed
        for i in range(3):
            await b.send({"op": "publish", "room": room, "event": "n", "data": {"i": i}, "id": i})
        await a.envelope(room, "room_message", lambda e: e["data"]["data"]["i"] == 2)
        last = max(e["seq"] for e in a.envelopes(room))
        await a.close()
        for i in range(3, 6):
            await b.send({"op": "publish", "room": room, "event": "n", "data": {"i": i}, "id": i})
        await b.frame("ack", id=5)
        resume = {"epoch": joined["epoch"], "seq": last}
        again = await peer(hub, "erin-rooms", patterns=[room], rooms=[{"room": room, "resume": resume}])
        [rejoined] = again.welcome["rooms"]
        assert rejoined["resumed"] is True and rejoined["epoch"] == joined["epoch"]
        await again.envelope(room, "room_message", lambda e: e["data"]["data"]["i"] == 5)
        got = [e["data"]["data"]["i"] for e in again.envelopes(room) if e["type"] == "room_message"]
        assert got == [3, 4, 5]
        await again.close()
        await b.close()

    asyncio.run(go())
