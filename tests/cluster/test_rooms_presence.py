"""Presence per educator across every ingress, exact after crashes (PROTOCOL.md section 7; issue 16,
item 3): two ingresses, an ingress killed with SIGKILL (its members `leave` within the ingress lease,
typing ends with them) and the registry shard that holds the room restarted (its clients get 1012,
rejoin with hello.rooms and a fresh `joined` of the new epoch whose members the shard rebuilt from the
ingresses that still hold them). No member is listed twice, none is left behind."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import ray
from websockets.asyncio.client import ClientConnection

from actors.names import shard_name
from hub.auth import issue_token
from hub.core.sharding import shard_of
from tests.cluster.conftest import INGRESS_LEASE, NAMESPACE, POLL_TIMEOUT, SHARDS, HubCluster, Ingress
from tests.conftest import SECRET, scaled
from tests.integration.conftest import open_ws

pytestmark = pytest.mark.cluster

A, B, C, D = "ann-rooms", "ben-rooms", "cat-rooms", "dev-rooms"  # D: a long-poll client (POST /api/events)


def token(educator_id: str, room: str) -> str:
    return issue_token(SECRET, educator_id, ttl=3600.0, now=time.time(), rooms=[room])


class Peer:
    """One WebSocket connection of `educator_id` that joined `room` with hello.rooms (presence, info
    {"name": educator_id}); everything it received is read in the background."""

    def __init__(self, ws: ClientConnection, welcome: dict[str, Any], educator_id: str, room: str) -> None:
        assert welcome.get("op") == "welcome", welcome
        [self.joined] = welcome["rooms"]
        assert self.joined["op"] == "joined" and self.joined["room"] == room, self.joined
        self.ws, self.educator_id, self.room = ws, educator_id, room
        self.frames: list[dict[str, Any]] = []
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, ingress: Ingress, educator_id: str, room: str, resume: dict[str, Any] | None = None) -> Peer:
        spec: dict[str, Any] = {"room": room, "info": {"name": educator_id}}
        if resume is not None:
            spec["resume"] = resume
        ws, welcome = await open_ws(ingress, {"token": token(educator_id, room), "rooms": [spec]})  # type: ignore[arg-type]
        return cls(ws, welcome, educator_id, room)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
        except Exception:
            pass

    def envelopes(self) -> list[dict[str, Any]]:
        return [m for f in self.frames if f["op"] == "batch" for m in f["messages"] if m.get("room") == self.room]

    def presence(self) -> list[dict[str, Any]]:
        return [e for e in self.envelopes() if e["type"] == "presence"]

    def view(self) -> set[str]:
        """Who this connection sees in the room: its `joined` members, then each `presence` after it.
        A join of someone already listed, or a leave of someone not listed, fails the test."""
        listed = [m["educatorId"] for m in self.joined["members"]]
        assert len(listed) == len(set(listed)) == self.joined["memberCount"], self.joined
        seen = set(listed)
        for env in self.presence():
            assert env["seq"] > self.joined["seq"], (env, self.joined)  # what the joined list holds is not sent again
            who, action = env["data"]["member"]["educatorId"], env["data"]["action"]
            assert (who in seen) == (action == "leave"), f"{self.educator_id} got {action} of {who}; saw {seen}"
            seen = seen - {who} if action == "leave" else seen | {who}
            assert env["data"]["memberCount"] == len(seen), (env, seen)
        return seen

    def last_seq(self) -> int:
        """The room seq to resume from (the newest kept envelope received, or the joined seq)."""
        return max([self.joined["seq"], *(e["seq"] for e in self.envelopes() if "seq" in e)])

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def wait(self, what: str, found: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + scaled(timeout)
        while not (value := found()):
            assert time.monotonic() < deadline, f"{self.educator_id}: timed out waiting for {what}: {self.frames[-8:]}"
            await asyncio.sleep(0.02)
        return value

    async def closed(self, timeout: float) -> int | None:
        await asyncio.wait_for(asyncio.shield(self.reader), scaled(timeout))
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def keep_polling(ingress: Ingress, room: str, stop: asyncio.Event, answers: list[dict[str, Any]]) -> None:
    """D: a long-poll client present in `room` while its polls keep coming (POST /api/events, timeout 10 s:
    present for 20 s after each, longer than a poll held up by the shard's restart; a poll that joins a
    room answers at once); it polls about every second until `stop`. Answers other than 200 (a shard
    restarting) are retried."""
    headers = {"Authorization": f"Bearer {token(D, room)}"}
    body = {"rooms": [{"room": room, "info": {"name": D}}], "timeout": 10}
    async with httpx.AsyncClient(base_url=ingress.url, headers=headers, timeout=scaled(30)) as http:
        while not stop.is_set():
            try:
                reply = await http.post("/api/events", json=body)
                if reply.status_code == 200:
                    answers.append(reply.json())
            except httpx.HTTPError:
                pass
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass


def members(ingress: Ingress, room: str) -> dict[str, Any]:
    reply = httpx.get(
        f"{ingress.url}/api/rooms/{room}/members",
        headers={"Authorization": f"Bearer {token(B, room)}"},
        timeout=scaled(10),
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    ids = [m["educatorId"] for m in body["members"]]
    assert len(ids) == len(set(ids)) == body["memberCount"], body  # nobody listed twice
    return body


def connections(body: dict[str, Any]) -> dict[str, int]:
    return {m["educatorId"]: m["connections"] for m in body["members"]}


def room_figures(ingress: Ingress, shard: int) -> tuple[float, float]:
    """(hub_rooms, hub_room_members) of `shard` at the ingress's /metrics."""
    text = httpx.get(ingress.url + "/metrics", timeout=scaled(10)).text
    found = {}
    for line in text.splitlines():
        for name in ("hub_rooms", "hub_room_members"):
            if line.startswith(f'{name}{{shard="{shard}"}} '):
                found[name] = float(line.split()[-1])
    return found["hub_rooms"], found["hub_room_members"]


async def settle(what: str, check: Callable[[], Any], timeout: float) -> Any:
    """Poll `check` (run in a thread: it may do blocking HTTP) until it returns a truthy value."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def test_presence_is_exact_across_ingresses_after_an_ingress_is_killed_and_the_shard_restarts(
    hub_cluster: HubCluster,
) -> None:
    room = f"quiz:presence-{uuid.uuid4().hex[:8]}"
    k = shard_of(room, SHARDS)
    doomed = hub_cluster.start_ingress("ingress-rooms-killed")
    live = hub_cluster.ingresses[1]
    report: dict[str, float] = {}

    async def go() -> None:
        # The shard's room figures before this room exists (other tests' rooms, if any, stay as they are).
        rooms0, members0 = await asyncio.to_thread(room_figures, live, k)
        stop = asyncio.Event()
        polls: list[dict[str, Any]] = []
        poller = asyncio.get_running_loop().create_task(keep_polling(live, room, stop, polls))
        await asyncio.to_thread(doomed.wait_ready)
        try:
            await settle("D's first poll", lambda: polls, 30)
            assert polls[0]["rooms"][0]["op"] == "joined" and polls[0]["rooms"][0]["room"] == room, polls[0]
            # A twice on the ingress to be killed; B on the live one; C on both.
            a1 = await Peer.open(doomed, A, room)
            a2 = await Peer.open(doomed, A, room)
            b = await Peer.open(live, B, room)
            c1 = await Peer.open(doomed, C, room)
            c2 = await Peer.open(live, C, room)
            peers = [a1, a2, b, c1, c2]
            everyone = {A, B, C, D}
            for p in peers:
                await p.wait(f"everyone in {p.educator_id}'s view", lambda p=p: p.view() == everyone, 15)  # type: ignore[misc]
            assert connections({"members": c2.joined["members"]}) == {D: 1, A: 2, B: 1, C: 2}
            assert c2.joined["memberCount"] == 4
            assert connections(await asyncio.to_thread(members, live, room)) == {D: 1, A: 2, B: 1, C: 2}
            assert connections(await asyncio.to_thread(members, doomed, room)) == {D: 1, A: 2, B: 1, C: 2}
            assert await asyncio.to_thread(room_figures, live, k) == (rooms0 + 1, members0 + 4)
            old_epoch = b.joined["epoch"]

            # A is typing (and repeats it, as a client does every <= 3 s) when its ingress dies.
            await a1.send({"op": "typing", "room": room, "typing": True})
            await b.wait("A typing", lambda: typing_of(b, A), 10)
            await asyncio.sleep(1.0)
            await a1.send({"op": "typing", "room": room, "typing": True})
            await asyncio.sleep(0.2)
            before = len(b.envelopes())
            await asyncio.to_thread(doomed.stop, signal.SIGKILL)
            killed_at = time.monotonic()

            def left_a() -> list[dict[str, Any]]:
                return [e for e in b.envelopes()[before:] if e["type"] == "presence" and e["data"]["action"] == "leave"]

            await b.wait("A's leave", left_a, INGRESS_LEASE + POLL_TIMEOUT + 10)
            took = report["leave"] = time.monotonic() - killed_at
            # Within the lease and one poll (its last pull may have been answered up to a poll before it
            # died; the shard checks leases every quarter lease and at each pull); not before its lease.
            assert took <= INGRESS_LEASE + POLL_TIMEOUT + scaled(1), f"A left {took:.1f}s after its ingress died"
            assert took >= INGRESS_LEASE - POLL_TIMEOUT - 1, f"A left {took:.1f}s after, before its lease lapsed"
            [leave] = left_a()
            assert leave["data"] == {
                "action": "leave",
                "member": {"educatorId": A, "info": {"name": A}},
                "memberCount": 3,
            }
            after = b.envelopes()[before:]
            # Typing ended with A: `typing: false` for A, by the time of its leave (with it, when the 6 s
            # had not lapsed first), and A is not shown typing afterwards.
            ended = [e for e in after if e["type"] == "typing" and e["data"] == {"educatorId": A, "typing": False}]
            assert len(ended) == 1 and after.index(ended[0]) < after.index(leave), after
            report["typing_with_leave"] = float(ended[0]["ts"] == leave["ts"])
            assert not [e for e in after[after.index(leave) :] if e["type"] == "typing"]
            await asyncio.sleep(POLL_TIMEOUT)  # nothing else comes: C stays (its connection on `live` lives)
            assert [e for e in b.presence() if e["seq"] > b.joined["seq"]][-1] == leave
            assert b.view() == c2.view() == {B, C, D}
            body = await asyncio.to_thread(members, live, room)
            assert connections(body) == {D: 1, B: 1, C: 1} and body["memberCount"] == 3
            assert await asyncio.to_thread(room_figures, live, k) == (rooms0 + 1, members0 + 3)

            # The shard that holds the room restarts: its clients are closed 1012 and rejoin.
            resume = {p.educator_id: {"epoch": p.joined["epoch"], "seq": p.last_seq()} for p in (b, c2)}
            await asyncio.to_thread(ray.kill, ray.get_actor(shard_name(k), namespace=NAMESPACE), no_restart=False)
            restarted_at = time.monotonic()
            codes = await asyncio.gather(b.closed(60), c2.closed(60))
            report["closed"] = time.monotonic() - restarted_at
            assert codes == [1012, 1012], codes
            b2 = await Peer.open(live, B, room, resume[B])
            c3 = await Peer.open(live, C, room, resume[C])
            new_epoch = hub_cluster.shard_stats()[k]["epoch"]
            # The room's epoch is the new incarnation's (the shard's epoch, or one made from it).
            assert b2.joined["epoch"] == c3.joined["epoch"] != old_epoch and old_epoch != new_epoch
            for p in (b2, c3):
                assert p.joined["resumed"] is False and p.joined["epoch"].startswith(new_epoch), p.joined
            # D's presence was rebuilt from the ingress that holds it (its polls did not join again);
            # the 1012'd connections were not: only their new ones count.
            assert {m["educatorId"] for m in c3.joined["members"]} == {B, C, D}
            assert c3.joined["memberCount"] == 3
            for p in (b2, c3):
                await p.wait(f"{p.educator_id}'s view", lambda p=p: p.view() == {B, C, D}, 10)  # type: ignore[misc]
            body = await asyncio.to_thread(members, live, room)
            assert connections(body) == {D: 1, B: 1, C: 1} and body["memberCount"] == 3, body
            # Nobody left and came back meanwhile: the new shard sent exactly one `join` per member (the
            # members of other rooms, if any, were rebuilt too: one `join` each).
            await asyncio.sleep(POLL_TIMEOUT)
            stats = hub_cluster.shard_stats()[k]
            assert (stats["room_members"], stats["presence_changes"]) == (members0 + 3, members0 + 3), stats
            assert await asyncio.to_thread(room_figures, live, k) == (stats["rooms"], stats["room_members"])
            for p in (b2, c3):
                assert p.view() == {B, C, D}
                assert "leave" not in Counter(e["data"]["action"] for e in p.presence()), p.presence()
            stop.set()
            await poller
            for p in (a1, a2, c1):
                await p.close()
            for p in (b2, c3):
                await p.close()
        finally:
            stop.set()
            await asyncio.gather(poller, return_exceptions=True)

    try:
        asyncio.run(go())
    finally:
        doomed.stop(signal.SIGKILL)
    print(
        f"A left {report.get('leave', -1):.1f}s after its ingress was killed "
        f"(typing ended with the leave: {bool(report.get('typing_with_leave'))}); "
        f"the room's clients were closed 1012 {report.get('closed', -1):.1f}s after its shard was killed"
    )


def typing_of(peer: Peer, educator_id: str) -> bool:
    """Whether `peer` was last told that `educator_id` is typing."""
    said = [
        e["data"]["typing"]
        for e in peer.envelopes()
        if e["type"] == "typing" and e["data"]["educatorId"] == educator_id
    ]
    return bool(said) and said[-1]
