"""Rooms in the Python client (PROTOCOL.md section 7; hub.client.HubClient.join): the Room a caller holds
(publish, typing, leave, async iteration over its messages, handlers; its stream position, dedupe and
member list are a hub.clientroomstate.RoomState), the client's book of rooms (Rooms: matching the hub's
`joined`, `left`, `ack` and `error` frames to the calls waiting on them), RoomClient (HubClient's rooms
methods) and SyncRoom, a Room for synchronous code.

    room = await client.join("quiz:q-42", info={"name": "Ada"})
    print(room.members)                      # [{"educatorId": "ada", "connections": 1, "info": {...}}, ...]
    await room.publish("comment", {"text": "Question 3 reads oddly"})
    async for envelope in room:              # each room_message envelope, as on the wire
        print(envelope["data"]["event"], envelope["data"]["data"])
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import websockets

from hub.clienterrors import Handlers, HubClientError, RoomError
from hub.clientroomstate import RoomState
from hub.core.protocol import Ack, ErrorFrame, Joined, Left, MalformedFrame, WireEnvelope, parse_server_frame

log = logging.getLogger("hub.client")
Handler = Callable[[dict[str, Any]], Any]
ROOM_EVENTS = ("message", "presence", "typing", "joined", "error")
# An envelope's type -> the Room event its handlers are called for.
EVENT_OF_TYPE = {"room_message": "message", "presence": "presence", "typing": "typing"}
# An HTTP status of a room call in the long-poll fallback -> the error code the WebSocket would have sent.
HTTP_CODES = {403: "forbidden", 404: "not_joined", 409: "not_joined", 413: "too_large", 422: "bad_frame"}
HTTP_CODES[429] = "rate_limited"


class Room:
    """A room this client joined (HubClient.join; PROTOCOL.md section 7). `members`, `member_count`,
    `epoch` and `seq` read its RoomState; `joined` is False while the client reconnects (it rejoins and
    resumes the room by itself). `async for envelope in room` yields its `room_message` envelopes (the wire
    dicts, ephemeral ones included) until the room is left or the client closed; up to `queue` of them wait
    for the reader (past that the oldest is dropped, with a warning). `on("message" | "presence" | "typing"
    | "joined" | "error", handler)` calls `handler(wire dict)` for each."""

    def __init__(self, book: Rooms, state: RoomState, queue: int) -> None:
        self._book = book
        self.state = state
        self._handlers = Handlers(f"room {state.room}")
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._queue_max = queue
        self._ended = False
        self._dropping = False  # (warned of dropped messages; again only after the reader caught up)
        self._publishing = asyncio.Lock()  # one publish in flight per room: an error frame has no id

    @property
    def id(self) -> str:
        """The room id."""
        return self.state.room

    @property
    def members(self) -> list[dict[str, Any]]:
        """The members, `{educatorId, connections, info?}` dicts as the hub sent them (RoomState)."""
        return self.state.members

    @property
    def member_count(self) -> int:
        """The hub's exact count of members (the list holds at most 1,000)."""
        return self.state.member_count

    @property
    def epoch(self) -> str | None:
        """The room stream's epoch (None before the first `joined`)."""
        return None if self.state.position is None else self.state.position.epoch

    @property
    def seq(self) -> int:
        """The last seq seen in the room's stream (0 before the first `joined`)."""
        return 0 if self.state.position is None else self.state.position.seq

    @property
    def joined(self) -> bool:
        """Whether the room is joined on the current connection."""
        return self.state.joined

    def on(self, event: str, handler: Handler) -> Handler:
        """Call `handler(wire dict)` for each of this room's "message" (room_message), "presence" and
        "typing" envelopes, each `joined` frame ("joined") and each error frame about it ("error");
        ValueError for another event."""
        if event not in ROOM_EVENTS:
            raise ValueError(f"a room has no event {event!r}; one of {', '.join(ROOM_EVENTS)}")
        return self._handlers.add(event, handler)

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        self._handlers.emit(event, payload)

    def _deliver(self, wire: dict[str, Any]) -> None:
        event = EVENT_OF_TYPE.get(wire.get("type", ""))
        if event == "message":
            if self._queue.qsize() >= self._queue_max:
                self._queue.get_nowait()
                if not self._dropping:
                    log.warning("room %s: %d messages not read; dropping the oldest", self.id, self._queue_max)
                self._dropping = True
            else:
                self._dropping = False
            self._queue.put_nowait(wire)
        if event is not None:
            self._emit(event, wire)

    def _end(self) -> None:
        self.state.joined = False
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)

    def __aiter__(self) -> Room:
        return self

    async def __anext__(self) -> dict[str, Any]:
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # for any other reader
            raise StopAsyncIteration
        return item

    async def publish(
        self, event: str, data: dict[str, Any], ephemeral: bool = False, timeout: float = 30.0
    ) -> int | None:
        """Publish `event` with `data` (at most 16 KiB as JSON) to the room's other members and wait for
        the hub's `ack`: the message's seq, or None when `ephemeral` (not kept, no seq). RoomError with the
        hub's code when it refuses (`not_joined`, `rate_limited`, `too_large`, `bad_frame`, `forbidden`), or
        `disconnected` when the connection went before the ack; TimeoutError after `timeout` seconds.
        While disconnected it waits for the reconnect; in the long-poll fallback it goes over HTTP."""
        async with self._publishing:
            return await asyncio.wait_for(self._book._publish(self, event, data, ephemeral), timeout)

    async def typing(self, typing: bool = True) -> None:
        """Tell the room this educator is typing (`True`: for 6 s; repeat every 3 s or less while the
        person types) or has stopped (`False`). Sent now when connected (over HTTP when polling); dropped
        when not connected (a typing indicator is not worth replaying). A refusal (`rate_limited`, ...)
        arrives at the room's "error" handlers."""
        await self._book._typing(self, typing)

    async def leave(self, timeout: float = 10.0) -> None:
        """Leave the room: at once here (iteration ends, the client stops rejoining it, its envelopes are
        no longer handed to it), and on the hub, whose `left` is waited for up to `timeout` seconds when
        connected (no answer in time is logged, not raised)."""
        await self._book._leave(self, timeout)


class Rooms:
    """The rooms of one client (HubClient.rooms_book): joins waiting for their `joined`, leaves for their
    `left`, the one publish per room waiting for its `ack`, and the frames and envelopes of each room
    routed to its Room. `queue`: how many unread messages a Room keeps."""

    def __init__(self, host: RoomClient, queue: int = 10_000) -> None:
        self.host = host
        self.queue = queue
        self.rooms: dict[str, Room] = {}
        self._joins: dict[str, asyncio.Future[Room]] = {}
        self._leaves: dict[str, asyncio.Future[None]] = {}
        self._acks: dict[str, tuple[Any, asyncio.Future[int | None]]] = {}  # room -> (id, its future)
        self._sent_acks: set[str] = set()  # rooms whose publish went out on the current connection
        self._ids = itertools.count(1)

    def specs(self, unjoined: bool = False) -> list[dict[str, Any]]:
        """Every room to (re)join (`unjoined`: only those not joined on this connection), as `hello.rooms` /
        a poll's `rooms` carry them, in join order."""
        return [room.state.spec() for room in self.rooms.values() if not (unjoined and room.state.joined)]

    async def join(
        self, room_id: str, presence: bool = True, info: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> Room:
        """Join `room_id` (see HubClient.join): the Room once the hub's `joined` arrived."""
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = Room(self, RoomState(room_id, presence, info), self.queue)
        room.state.presence, room.state.info = presence, info
        waiting = self._joins.get(room_id)
        if waiting is None or waiting.done():
            waiting = self._joins[room_id] = asyncio.get_running_loop().create_future()
        if self.host.link == "polling":
            self.host.wake_poll()  # the next poll carries it
        else:
            await self.host.send_now({"op": "join", **room.state.spec()})  # else the next hello carries it
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), timeout)
        except BaseException:
            if self.rooms.get(room_id) is room and not room.state.joined:
                self._drop(room)
            raise

    async def _publish(self, room: Room, event: str, data: dict[str, Any], ephemeral: bool) -> int | None:
        while True:
            if room.id not in self.rooms:
                raise RoomError(f"room {room.id} was left; join it again to publish", "not_joined", room.id, "publish")
            if self.host.link == "polling":
                body: dict[str, Any] = {"event": event, "data": data}
                if ephemeral:
                    body["ephemeral"] = True
                answer = await self._http(room, "publish", body)
                seq = answer.get("seq")
                return seq if isinstance(seq, int) else None
            op: dict[str, Any] = {"op": "publish", "room": room.id, "event": event, "data": data}
            if ephemeral:
                op["ephemeral"] = True
            op["id"] = next(self._ids)
            future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
            self._acks[room.id] = (op["id"], future)
            self._sent_acks.add(room.id)  # (before the send: its answer may be read before send_now returns)
            try:
                if await self.host.send_now(op):
                    return await future
            finally:
                self._acks.pop(room.id, None)
                self._sent_acks.discard(room.id)
            await asyncio.sleep(0.05)  # (never a busy loop while a connection is being set up)
            await self.host.wait_linked(3600.0)  # (publish's own timeout bounds it)

    async def _typing(self, room: Room, typing: bool) -> None:
        if room.id not in self.rooms:
            return
        if self.host.link == "polling":
            try:
                await self._http(room, "typing", {"typing": typing})
            except RoomError as exc:
                room._emit("error", {"op": "error", "code": exc.code, "message": str(exc), "ref": "typing"})
            return
        await self.host.send_now({"op": "typing", "room": room.id, "typing": typing})

    async def _leave(self, room: Room, timeout: float) -> None:
        if self.rooms.get(room.id) is not room:
            return
        self._drop(room)
        if self.host.link == "polling":
            self.host.wake_poll()  # the next poll leaves it out
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._leaves[room.id] = future
        try:
            if await self.host.send_now({"op": "leave", "room": room.id}):
                await asyncio.wait_for(future, timeout)
        except TimeoutError:
            log.info("no left for room %s within %.0f s; it is left here all the same", room.id, timeout)
        finally:
            if self._leaves.get(room.id) is future:
                del self._leaves[room.id]

    async def _http(self, room: Room, what: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = await self.host.post(f"/api/rooms/{room.id}/{what}", body)
        except httpx.HTTPError as exc:
            raise RoomError(f"{what} to {room.id} failed: {exc}", "disconnected", room.id, what) from exc
        try:
            answer = reply.json()
        except ValueError:
            answer = {}
        if reply.status_code >= 400:
            detail = answer.get("detail") if isinstance(answer, dict) else None
            code = HTTP_CODES.get(reply.status_code, f"http_{reply.status_code}")
            raise RoomError(str(detail or f"{what} refused ({reply.status_code})"), code, room.id, what)
        return answer if isinstance(answer, dict) else {}

    def _drop(self, room: Room) -> None:
        """The room is no longer wanted: forgotten (not rejoined), its readers ended."""
        if self.rooms.get(room.id) is room:
            del self.rooms[room.id]
        waiting = self._joins.pop(room.id, None)
        if waiting is not None and not waiting.done():
            waiting.cancel()
        room._end()

    # -- what the hub sends --------------------------------------------------------------------------

    def joined(self, frame: Joined, wire: dict[str, Any]) -> None:
        """A `joined` (a frame, an entry of `welcome.rooms` or of a poll's `rooms`): the room's state from
        it, and the join waiting for it answered."""
        room = self.rooms.get(frame.room)
        if room is None:
            log.debug("joined for room %s, which this client does not want; ignored", frame.room)
            return
        room.state.apply_joined(frame, wire)
        waiting = self._joins.pop(frame.room, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(room)
        room._emit("joined", wire)

    def left(self, frame: Left) -> None:
        """A `left`: the leave waiting for it answered."""
        waiting = self._leaves.pop(frame.room, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    def ack(self, frame: Ack) -> None:
        """An `ack`: the publish with that id answered with its seq (None when ephemeral)."""
        pending = self._acks.get(frame.room)
        if pending is not None and pending[0] == frame.id and not pending[1].done():
            pending[1].set_result(frame.seq)

    def error(self, frame: ErrorFrame, wire: dict[str, Any]) -> None:
        """An `error` about a room (one with `room`): a refused join fails that join and forgets the room;
        a refused publish fails the one publish of that room in flight (an error carries no id: one
        publish per room at a time); and the room's "error" handlers are called."""
        if frame.room is None:
            return
        room = self.rooms.get(frame.room)
        failure = RoomError(frame.message, frame.code, frame.room, frame.ref)
        if frame.ref == "join":
            waiting = self._joins.pop(frame.room, None)
            if waiting is not None and not waiting.done():
                waiting.set_exception(failure)
            if room is not None and not room.state.joined:
                self._drop(room)
        elif frame.ref == "publish":
            pending = self._acks.get(frame.room)
            if pending is not None and frame.room in self._sent_acks and not pending[1].done():
                pending[1].set_exception(failure)
        elif frame.ref == "leave":
            waiting_leave = self._leaves.pop(frame.room, None)
            if waiting_leave is not None and not waiting_leave.done():
                waiting_leave.set_result(None)  # (not joined any more either way)
        if room is not None:
            room._emit("error", wire)

    def answers(self, entries: list[dict[str, Any]] | None, asked: list[str]) -> list[str]:
        """The `rooms` of a welcome or a poll's answer: one `joined` or `error` object per room `asked`
        (in that order). Returns the rooms asked for that got no valid answer (to join with a `join` op)."""
        entries = entries or []
        unanswered = []
        for index, room_id in enumerate(asked):
            entry = entries[index] if index < len(entries) else None
            try:
                frame = parse_server_frame(entry) if isinstance(entry, dict) else None
            except MalformedFrame as exc:
                log.warning("skipped a malformed rooms entry from the hub: %s", exc)
                frame = None
            if isinstance(frame, Joined) and frame.room == room_id:
                assert entry is not None
                self.joined(frame, entry)
            elif isinstance(frame, ErrorFrame):
                assert entry is not None
                self.error(frame.model_copy(update={"room": room_id, "ref": "join"}), entry)
                self.host._emit("error", entry)
            else:
                unanswered.append(room_id)
        return unanswered

    def envelope(self, env: WireEnvelope, wire: dict[str, Any]) -> bool:
        """A room envelope from a batch: False when it repeats one already seen in a room this client
        joined (dropped); otherwise handed to the Room (its handlers and iteration) and True. An envelope of
        a room this client does not hold is passed on (True) untouched."""
        room = self.rooms.get(env.room or "")
        if room is None:
            return True
        if not room.state.accept(env):
            return False
        room._deliver(wire)
        return True

    def disconnected(self) -> None:
        """The connection went: every room is unjoined until the next welcome; a publish sent on it and
        not yet acknowledged fails (`disconnected`: it may or may not have been published); a leave waiting
        for `left` is done (the next hello does not carry the room)."""
        for room in self.rooms.values():
            room.state.joined = False
        for room_id in list(self._sent_acks):
            pending = self._acks.get(room_id)
            if pending is not None and not pending[1].done():
                message = f"the connection to the hub closed before it acknowledged the publish to {room_id}"
                pending[1].set_exception(RoomError(message, "disconnected", room_id, "publish"))
        self._sent_acks.clear()
        for waiting in self._leaves.values():
            if not waiting.done():
                waiting.set_result(None)
        self._leaves.clear()

    def closed(self) -> None:
        """The client closed: every wait fails (`closed`) and every room's iteration ends."""
        for room_id, (_, future) in self._acks.items():
            if not future.done():
                future.set_exception(RoomError("the client was closed", "closed", room_id, "publish"))
        for room_id, waiting in self._joins.items():
            if not waiting.done():
                waiting.set_exception(RoomError("the client was closed", "closed", room_id, "join"))
        for room in list(self.rooms.values()):
            self._drop(room)


class RoomClient:
    """The rooms part of hub.client.HubClient (a base class of it): `join`, `rooms`, and what its Rooms book
    needs of the client (`link`, `send_now`, `wait_linked`, `post`, `wake_poll`)."""

    state: str
    rooms_book: Rooms
    _ws: Any
    _linked: asyncio.Event
    _poll_wake: asyncio.Event

    @property
    def http_base(self) -> str:
        """The hub's HTTP base URL (HubClient's)."""
        raise NotImplementedError

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    async def _current_token(self) -> str:
        raise NotImplementedError

    async def join(
        self, room_id: str, presence: bool = True, info: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> Room:
        """Join the room `room_id` and return its Room (members, publish, typing, leave, `async for` over
        its messages) once the hub answered `joined`. `presence`: be listed among its members (false: watch
        unseen); `info`: an object (at most 1 KiB as JSON) other members see. The client rejoins and resumes
        the room after each reconnect (hello `rooms`) and in the long-poll fallback (`POST /api/events`).
        RoomError (`forbidden`, `too_large`, `bad_frame`, ...) when the hub refuses; TimeoutError after
        `timeout` seconds (for instance while the hub cannot be reached). Joining a joined room again
        updates its presence and info."""
        return await self.rooms_book.join(room_id, presence, info, timeout)

    @property
    def rooms(self) -> dict[str, Room]:
        """The rooms joined (or joining), by id."""
        return dict(self.rooms_book.rooms)

    @property
    def link(self) -> str:
        """ "connected" (a WebSocket welcomed), "polling" (the long-poll fallback) or the state otherwise."""
        if self.state == "connected" and self._ws is None:
            return "connecting"
        return self.state

    async def send_now(self, op: dict[str, Any]) -> bool:
        """Send `op` on the WebSocket now if connected; False (nothing sent) otherwise."""
        ws = self._ws
        if ws is None or self.state != "connected":
            return False
        try:
            await ws.send(json.dumps(op))
        except websockets.ConnectionClosed:
            return False
        return True

    async def wait_linked(self, timeout: float) -> None:
        """Return once connected or polling; TimeoutError after `timeout` seconds."""
        await asyncio.wait_for(self._linked.wait(), timeout)

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST `body` as JSON to the current ingress with the token (room ops in the long-poll fallback);
        httpx.HTTPError when it cannot be sent (or no token could be had)."""
        try:
            token = await self._current_token()
        except Exception as exc:  # (the token function failed)
            raise httpx.RequestError(str(exc)) from exc
        async with httpx.AsyncClient(base_url=self.http_base, timeout=30) as http:
            return await http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})

    def wake_poll(self) -> None:
        """End the long-poll in flight so the next one carries the rooms as they are now."""
        self._poll_wake.set()


class SyncRoom:
    """A Room for synchronous code (ThreadedClient.join): the same `members`, `member_count`, `on`, and
    blocking `publish`, `typing`, `leave`, and `next(timeout)` / iteration over its messages. Handlers run
    on the client's thread."""

    def __init__(self, room: Room, call: Callable[..., Any]) -> None:
        self.room = room
        self._call = call

    @property
    def id(self) -> str:
        """The room id."""
        return self.room.id

    @property
    def members(self) -> list[dict[str, Any]]:
        """The members (Room.members)."""
        return self.room.members

    @property
    def member_count(self) -> int:
        """The exact member count (Room.member_count)."""
        return self.room.member_count

    def on(self, event: str, handler: Handler) -> Handler:
        """Room.on; the handler runs on the client's thread."""
        return self.room.on(event, handler)

    def publish(self, event: str, data: dict[str, Any], ephemeral: bool = False, timeout: float = 30.0) -> int | None:
        """Room.publish, waited for: the seq (None when ephemeral); RoomError / TimeoutError as it raises."""
        return self._call(self.room.publish(event, data, ephemeral, timeout), timeout + 5)  # type: ignore[no-any-return]

    def typing(self, typing: bool = True) -> None:
        """Room.typing, waited for."""
        self._call(self.room.typing(typing))

    def leave(self, timeout: float = 10.0) -> None:
        """Room.leave, waited for."""
        self._call(self.room.leave(timeout), timeout + 5)

    def next(self, timeout: float = 30.0) -> dict[str, Any]:
        """The next room_message envelope (the wire dict); TimeoutError after `timeout` seconds,
        StopIteration once the room was left or the client closed."""

        async def one() -> dict[str, Any] | None:
            try:
                return await asyncio.wait_for(self.room.__anext__(), timeout)
            except StopAsyncIteration:
                return None

        envelope = self._call(one(), timeout + 5)
        if envelope is None:
            raise StopIteration
        return envelope  # type: ignore[no-any-return]

    def __iter__(self) -> SyncRoom:
        return self

    def __next__(self) -> dict[str, Any]:
        return self.next()


__all__ = ["HubClientError", "Room", "RoomClient", "RoomError", "RoomState", "Rooms", "SyncRoom"]
