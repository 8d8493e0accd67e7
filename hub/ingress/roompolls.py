"""`POST /api/events`: the long-poll fallback with rooms (PROTOCOL.md section 7, HTTP). A poll joins its
educator's stream and its rooms like a WebSocket connection for as long as it waits; a polling
educator is a present member of its rooms while its polls keep coming (`PollPresence`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from starlette.responses import Response

from hub.auth import Identity
from hub.core.errors import HubError
from hub.core.protocol import JoinSpec
from hub.core.records import RoomJoinReply
from hub.core.stream import StreamPosition
from hub.core.subscriber import RoomSub
from hub.ingress.polling import MAX_TIMEOUT, PollWaiter, answer_poll
from hub.ingress.relay import Relay
from hub.ingress.roomops import joined_of, plan_joins, resume_of
from hub.metrics import IngressMetrics

MIN_PRESENCE = 2.0  # seconds a poll keeps its educator present at least (a poll with timeout 0 too)


class _PresenceHolder:
    """A Subscriber that only holds an educator's presence in one room for its polls (it takes no
    envelopes: each poll reads through its own PollWaiter)."""

    def __init__(self, educator_id: str) -> None:
        self.educator_id = educator_id
        self.session = f"poll-{uuid.uuid4().hex[:12]}"
        self.rooms: dict[str, RoomSub] = {}
        self.expires = 0.0  # monotonic

    @property
    def queued(self) -> int:
        """Nothing is ever queued (0)."""
        return 0

    @property
    def closing(self) -> bool:
        """Never: it holds presence until its polls stop, across a shard's restart (re-attached)."""
        return False

    def offer(self, env: Any, text: str) -> bool:
        """Takes nothing (False)."""
        return False

    def flush(self) -> None:
        """Nothing to write."""

    def close(self, why: HubError | None = None, *, flush: bool = False) -> None:
        """Nothing to close: when the relay restarts its clients (the shard restarted, or dropped this
        ingress's feed), the relay's re-attach counts this holder in again (`closing` is never true), so
        its educator stays present without a leave and a join (no flicker for the others)."""

    async def wait_closed(self) -> None:
        """Nothing to wait for."""

    def trim_idle(self, idle_since: float) -> bool:
        """No compressor (False)."""
        return False


class PollPresence:
    """The polling educators present in rooms on this ingress: (educator, room) -> a holder joined with
    `presence: true`, kept until its polls stop for longer than twice their timeout (swept each second)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.held: dict[tuple[str, str], _PresenceHolder] = {}
        self._task: asyncio.Task[None] | None = None

    async def hold(self, educator_id: str, room: str, info: dict[str, Any] | None, ttl: float) -> None:
        """Keep `educator_id` present in `room` for `ttl` more seconds (joining it on the first poll).
        UpstreamError when the room's shard does not answer the join."""
        key = (educator_id, room)
        holder = self.held.get(key)
        until = time.monotonic() + max(ttl, MIN_PRESENCE)
        if holder is None:
            holder = self.held[key] = _PresenceHolder(educator_id)
            holder.expires = until  # before the join's wait: the sweep must not take it meanwhile
            try:
                reply = await self.relay.join_room(holder, room, None, True, info)
            except BaseException:
                if self.held.get(key) is holder:
                    del self.held[key]
                raise
            sub = holder.rooms.get(room)
            if sub is not None:  # (gone if a restart or the sweep took the holder meanwhile)
                sub.start(reply.position, [])
        holder.expires = max(holder.expires, until)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while self.held:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for key, holder in list(self.held.items()):
                if holder.expires <= now:
                    del self.held[key]
                    self.relay.leave_room(holder, key[1])

    def close(self) -> None:
        """Stop sweeping (the ingress stops: detaching from the shards ends its presence there)."""
        if self._task is not None:
            self._task.cancel()


async def poll_with_rooms(
    relay: Relay,
    presence: PollPresence,
    identity: Identity,
    resume: StreamPosition | None,
    specs: list[JoinSpec],
    timeout: float,
    *,
    max_messages: int,
    max_rooms: int,
    metrics: IngressMetrics,
) -> Response:
    """One long-poll with rooms: `{epoch, seq, resumed, messages, snapshot?, rooms}` (PROTOCOL.md section
    7, `POST /api/events`): `rooms` holds one `joined` or `error` object per entry of `specs`; the answer
    comes at once when a stream was not resumed or something is there, else within `timeout` seconds."""
    timeout = min(timeout, MAX_TIMEOUT)
    answers, wanted = plan_joins(identity, specs, max_rooms, metrics)
    for room, spec in wanted.items():
        if spec.presence:
            await presence.hold(identity.sub, room, spec.info, 2 * timeout)
    waiter = PollWaiter(identity.sub, max_messages, metrics)
    try:
        joins = [relay.join_room(waiter, room, resume_of(s), False, None) for room, s in wanted.items()]
        reply, *replies = await asyncio.gather(relay.join(waiter, resume), *joins)
        by_room: dict[str, RoomJoinReply] = dict(zip(wanted, replies, strict=True))
        rooms = [
            a if a is not None else joined_of(specs[i].room, by_room[specs[i].room]) for i, a in enumerate(answers)
        ]
        for room, room_reply in by_room.items():
            waiter.start_room(room, room_reply.position, room_reply.messages)
        if reply.resumed:
            waiter.start(resume.seq if resume is not None else 0, reply.messages)
        # At once when there is news for the client: a stream not resumed (a snapshot, a new `joined`),
        # a refused room (its `error`), or messages.
        refused = any(a is not None for a in answers)
        at_once = not reply.resumed or refused or any(not r.resumed for r in by_room.values()) or waiter.messages
        if not at_once:
            try:
                await asyncio.wait_for(waiter.event.wait(), timeout)
            except TimeoutError:
                pass
        epoch, seq = reply.position
        head: dict[str, Any] = {"epoch": epoch, "seq": waiter.last_seq if reply.resumed else seq}
        head["resumed"] = reply.resumed
        if not reply.resumed:
            head["snapshot"] = reply.snapshot
            if reply.snapshot_truncated:
                head["snapshotTruncated"] = True
        head["rooms"] = rooms
        return answer_poll(head, waiter.messages)
    finally:
        relay.leave(waiter)
