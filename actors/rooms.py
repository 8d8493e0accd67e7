"""The rooms of a registry shard (PROTOCOL.md section 7): streams keyed by room id, their presence and
typing. A mixin of actors.registry.RegistryShard, which owns the feeds and the delivery: a room's
envelopes go to each ingress feed that watches the room, as an educator's go to those that watch it.

Ids are checked and permissions enforced by the ingress (hub.core.rooms) before a call arrives here:
the data plane and Ray admit only the hub's own processes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from hub.core.config import ShardConfig
from hub.core.feed import IngressFeed
from hub.core.handles import RoomJoinRequest
from hub.core.records import RoomJoinReply, RoomMember
from hub.core.room import Room
from hub.core.stream import Envelope

log = logging.getLogger("hub.shard")

TYPING_SWEEP = 0.25  # seconds between sweeps of lapsed typing (the 6 s of PROTOCOL.md, to a quarter second)


class ShardRooms:
    """Room methods of a registry shard. Expects of its class: `epoch`, `config` (ShardConfig), `clock`,
    `feeds` (ingress id -> IngressFeed), `_feed(ingress_id)` and `_deliver(envelope)`."""

    epoch: str
    config: ShardConfig
    clock: Callable[[], float]
    feeds: dict[str, IngressFeed]
    rooms: dict[str, Room]
    _rooms_made: int
    presence_changes: int
    room_messages: int
    _typing_rooms: set[str]
    _typing_task: asyncio.Task[None] | None

    def _feed(self, ingress_id: str) -> IngressFeed:
        raise NotImplementedError

    def _deliver(self, env: Envelope) -> None:
        raise NotImplementedError

    def _init_rooms(self) -> None:
        self.rooms = {}
        self._rooms_made = 0
        self.presence_changes = 0
        self.room_messages = 0
        self._typing_rooms = set()
        self._typing_task = None

    def _room(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            # Each incarnation of a room in this shard's life has an epoch of its own: one forgotten
            # (`_forget_idle_rooms`) and made again starts at seq 1, and a client's position in the old
            # one must not resume into the new.
            self._rooms_made += 1
            room = self.rooms[room_id] = Room(
                room_id,
                f"{self.epoch}.{self._rooms_made}",
                max_messages=self.config.history_max,
                max_age=self.config.history_age,
            )
        return room

    def _forget_idle_rooms(self) -> int:
        """Drop the rooms that hold nothing any more: no member, no one typing, no ingress watching, and
        no history left (aged out: ShardConfig.history_age); how many. A room exists while it has
        members or history (PROTOCOL.md section 7)."""
        now = self.clock()
        watched = {room for feed in self.feeds.values() for room in feed.rooms}
        idle = []
        for room_id, room in self.rooms.items():
            if room_id in watched or len(room.presence) or room.typing:
                continue
            room.stream.trim(now)
            if not len(room.stream):
                idle.append(room_id)
        for room_id in idle:
            del self.rooms[room_id]
        return len(idle)

    def _send(self, envs: list[Envelope]) -> None:
        for env in envs:
            if env.type == "presence":
                self.presence_changes += 1
            elif env.type == "room_message":
                self.room_messages += 1
            self._deliver(env)

    async def room_join_many(self, ingress_id: str, requests: list[RoomJoinRequest]) -> list[RoomJoinReply]:
        """Join each connection to its room for `ingress_id`, in order: the feed watches the room (per
        connection: a second join of one connection changes nothing but its `info`), a present
        connection counts in its presence (a `presence` join when it is its educator's first), and
        each gets its `joined` answer (RoomJoinReply), atomically: what the answer does not hold, the
        feed will."""
        feed = self._feed(ingress_id)
        now = self.clock()
        limit = self.config.room_members_listed
        out = []
        for room_id, session, educator_id, present, info, resume in requests:
            feed.watch_room(room_id, session)
            room = self._room(room_id)
            self._send(room.join(ingress_id, session, educator_id, present, info, now))
            out.append(room.answer(resume, now, limit))
        return out

    async def room_leave_many(self, ingress_id: str, leaves: list[tuple[str, str]]) -> list[None]:
        """Each (room, session) leaves for `ingress_id`: one watch fewer, and its presence counted out
        (`typing: false` and a `presence` leave when it was its educator's last connection)."""
        feed = self.feeds.get(ingress_id)
        now = self.clock()
        for room_id, session in leaves:
            if feed is not None:
                feed.unwatch_room(room_id, session)
            room = self.rooms.get(room_id)
            if room is not None:
                self._send(room.leave(ingress_id, session, now))
        return [None] * len(leaves)

    def _rooms_attach(self, ingress_id: str, members: list[RoomMember]) -> None:
        """Re-attach an ingress's room memberships (after this shard restarted, or the ingress's lease
        lapsed): watches and presence as they were, under this incarnation's epoch."""
        feed = self._feed(ingress_id)
        now = self.clock()
        for room_id, session, educator_id, present, info in members:
            feed.watch_room(room_id, session)
            self._send(self._room(room_id).join(ingress_id, session, educator_id, present, info, now))

    def _rooms_drop(self, ingress_id: str, feed: IngressFeed) -> None:
        """An ingress's feed is gone (lease lapsed, detached): its connections leave every room."""
        now = self.clock()
        for room_id in list(feed.rooms):
            room = self.rooms.get(room_id)
            if room is not None:
                self._send(room.drop_ingress(ingress_id, now))

    async def room_publish(
        self, room: str, educator_id: str, session: str, event: str, data: dict[str, Any], ephemeral: bool
    ) -> int:
        """A `room_message` in `room` from `educator_id`'s `session`; its seq (0 when ephemeral)."""
        env = self._room(room).publish(educator_id, session, event, data, ephemeral, self.clock())
        self._send([env])
        return env.seq

    async def room_typing(self, room: str, educator_id: str, session: str, typing: bool) -> None:
        """A typing indicator in `room` (Room.set_typing); lapses are swept by this shard's clock."""
        r = self._room(room)
        env = r.set_typing(educator_id, typing, session, self.clock())
        if env is not None:
            self._send([env])
        if r.typing:
            self._typing_rooms.add(room)
            if self._typing_task is None or self._typing_task.done():
                self._typing_task = asyncio.get_running_loop().create_task(self._sweep_typing())

    async def _sweep_typing(self) -> None:
        while self._typing_rooms:
            await asyncio.sleep(TYPING_SWEEP)
            now = self.clock()
            for room_id in list(self._typing_rooms):
                room = self.rooms.get(room_id)
                if room is None:
                    self._typing_rooms.discard(room_id)
                    continue
                self._send(room.expire_typing(now))
                if not room.typing:
                    self._typing_rooms.discard(room_id)

    async def room_members(self, room: str) -> tuple[list[dict[str, Any]], int]:
        """(the first Settings.room_members_listed member entries, the exact member count) of a room."""
        r = self.rooms.get(room)
        if r is None:
            return [], 0
        return r.presence.entries(self.config.room_members_listed), len(r.presence)

    def _room_figures(self) -> tuple[int, int]:
        return len(self.rooms), sum(len(r.presence) for r in self.rooms.values())
