"""What a registry shard holds for one ingress process: the educators and rooms it watches and the messages
not yet acknowledged by its long-poll. Pure; the shard adapter owns the waiting.

At least once: a pull returns everything after the ingress's `ack`; items are dropped only once a
later pull acknowledges them, so a reply lost in transit is sent again.
"""

from __future__ import annotations

from collections import deque

from hub.core.stream import Envelope


class IngressFeed:
    """What one registry shard holds for one ingress process (`ingress_id`): how many of its connections
    watch each educator (`watching`: educator -> count, one per hello or attach not yet unwatched)
    and the envelopes queued for it, numbered 1, 2, ... (feed numbers, one sequence per feed,
    unrelated to the streams' seqs) until a pull acknowledges them.

    `limit`: the most envelopes queued (ShardConfig.feed_limit); past it the oldest go (`push`).
    `now`: the shard clock's time (seconds) at creation, counted as the first pull: a feed whose
    `last_pull` is older than ShardConfig.ingress_lease is dropped by the shard (a dead ingress).
    `feed_id`: this feed's identity, unique within the shard's life and across its restarts (the
    shard makes it from its epoch and a counter): an ack is a feed number of one feed only, so a
    pull naming another feed (one the shard dropped and made again) must not be acknowledged by it."""

    __slots__ = ("ingress_id", "feed_id", "limit", "watching", "rooms", "_items", "_next", "overflowed", "last_pull")

    def __init__(self, ingress_id: str, limit: int, now: float, feed_id: str = "") -> None:
        self.ingress_id = ingress_id
        self.feed_id = feed_id
        self.limit = limit
        self.watching: dict[str, int] = {}  # educator -> number of watch() calls not yet unwatched
        self.rooms: dict[str, set[str]] = {}  # room -> the sessions of this ingress's connections in it
        self._items: deque[tuple[int, Envelope]] = deque()
        self._next = 1
        self.overflowed = False
        self.last_pull = now

    def watch(self, educator_id: str) -> None:
        """Count one more connection of this ingress on `educator_id` (a hello, or an attach entry)."""
        self.watching[educator_id] = self.watching.get(educator_id, 0) + 1

    def unwatch(self, educator_id: str) -> None:
        """Count one connection fewer on `educator_id`; at zero the educator is no longer watched. An
        educator not watched is ignored."""
        left = self.watching.get(educator_id, 0) - 1
        if left > 0:
            self.watching[educator_id] = left
        else:
            self.watching.pop(educator_id, None)

    def watch_room(self, room: str, session: str) -> None:
        """Note that this ingress's connection `session` is in `room` (a join, or an attach entry);
        noting it again changes nothing (a connection that joins a room twice is in it once)."""
        self.rooms.setdefault(room, set()).add(session)

    def unwatch_room(self, room: str, session: str) -> None:
        """Connection `session` left `room`; with none left the room is no longer watched. A connection
        not in the room is ignored."""
        held = self.rooms.get(room)
        if held is not None:
            held.discard(session)
            if not held:
                del self.rooms[room]

    def wants_envelope(self, env: Envelope) -> bool:
        """Whether some connection of this ingress watches `env`'s stream (its room, or its educator)."""
        if env.room is not None:
            return env.room in self.rooms
        return env.educator_id in self.watching

    def wants(self, educator_id: str) -> bool:
        """Whether some connection of this ingress watches `educator_id` (the shard queues that educator's
        messages here only then)."""
        return educator_id in self.watching

    def push(self, env: Envelope) -> None:
        """Queue a message. Past the limit the feed is marked overflowed and the oldest dropped:
        the ingress then makes its clients resume from the stream's history."""
        self._items.append((self._next, env))
        self._next += 1
        if len(self._items) > self.limit:
            self._items.popleft()
            self.overflowed = True

    def take(self, ack: int, now: float) -> tuple[list[tuple[int, Envelope]], bool]:
        """Drop what `ack` confirms; return what is left and whether anything was lost since the last take."""
        self.last_pull = now
        items = self._items
        while items and items[0][0] <= ack:
            items.popleft()
        lost, self.overflowed = self.overflowed, False
        return list(items), lost

    @property
    def pending(self) -> int:
        """How many envelopes are queued, not yet acknowledged (ShardStats.pending; the
        hub_shard_feed_pending gauge at /metrics)."""
        return len(self._items)

    def has_after(self, ack: int) -> bool:
        """Whether an envelope with a feed number above `ack` is queued (a pull then answers at once
        instead of waiting)."""
        return bool(self._items) and self._items[-1][0] > ack
