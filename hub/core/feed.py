"""What a registry shard holds for one ingress process: the educators it watches and the messages
not yet acknowledged by its long-poll. Pure; the shard adapter owns the waiting.

At least once: a pull returns everything after the ingress's `ack`; items are dropped only once a
later pull acknowledges them, so a reply lost in transit is sent again.
"""

from __future__ import annotations

from collections import deque

from hub.core.stream import Envelope


class IngressFeed:
    __slots__ = ("ingress_id", "limit", "watching", "_items", "_next", "overflowed", "last_pull")

    def __init__(self, ingress_id: str, limit: int, now: float) -> None:
        self.ingress_id = ingress_id
        self.limit = limit
        self.watching: dict[str, int] = {}  # educator -> number of watch() calls not yet unwatched
        self._items: deque[tuple[int, Envelope]] = deque()
        self._next = 1
        self.overflowed = False
        self.last_pull = now

    def watch(self, educator_id: str) -> None:
        self.watching[educator_id] = self.watching.get(educator_id, 0) + 1

    def unwatch(self, educator_id: str) -> None:
        left = self.watching.get(educator_id, 0) - 1
        if left > 0:
            self.watching[educator_id] = left
        else:
            self.watching.pop(educator_id, None)

    def wants(self, educator_id: str) -> bool:
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
        return len(self._items)

    def has_after(self, ack: int) -> bool:
        return bool(self._items) and self._items[-1][0] > ack
