"""A connection's bounded send queue and its batching decisions. Pure.

The sender takes everything pending each time it is free, so a message waits only while an earlier
send is under way: no delay when idle, coalescing while busy. Past `conflate_after` pending messages
a progress tick supersedes the pending tick of the same job (counted as skipped); status transitions
and other types are never dropped. Past `limit` the queue overflows and the connection must close
(4409) so that the client resumes from the stream's history.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(slots=True)
class Delivery:
    """One envelope queued for one connection. `seq`: its seq in the stream; `job_id`: the job it reports on
    (None: not a job's message); `tick`: a progress update that a newer tick of the same job may supersede
    (status transitions and other types never are); `text`: the envelope's JSON, shared by every connection
    that gets it; `ts`: the envelope's time (Unix seconds; drain hands the oldest on for latency);
    `dropped`: superseded, so `drain` skips it."""

    seq: int
    job_id: str | None
    tick: bool
    text: str  # the envelope's JSON, shared by every connection that gets it
    ts: float = 0.0
    dropped: bool = False


class Outbox:
    """One connection's send queue: at most `limit` live deliveries (Settings.send_queue_limit) before
    `push` says the connection must close 4409; past `conflate_after` live ones (Settings.conflate_after,
    capped at `limit`) a job's new tick supersedes its pending one. `skipped` counts the superseded ticks
    not yet reported by `drain` (a batch's `skipped`, PROTOCOL.md section 2); `len()` is the live count."""

    __slots__ = ("limit", "conflate_after", "_queue", "_live", "_ticks", "skipped")

    def __init__(self, limit: int, conflate_after: int) -> None:
        self.limit = limit
        self.conflate_after = min(conflate_after, limit)
        self._queue: deque[Delivery] = deque()
        self._live = 0
        self._ticks: dict[str, Delivery] = {}  # job -> its pending tick
        self.skipped = 0

    def push(self, item: Delivery) -> bool:
        """Queue one delivery; False when the queue is over its bound (the caller closes 4409)."""
        if item.tick and item.job_id is not None:
            older = self._ticks.get(item.job_id)
            if older is not None and self._live >= self.conflate_after:
                older.dropped = True
                self._live -= 1
                self.skipped += 1
            self._ticks[item.job_id] = item
        elif item.job_id is not None:
            self._ticks.pop(item.job_id, None)
        self._queue.append(item)
        self._live += 1
        return self._live <= self.limit

    def drain(self, max_items: int | None = None) -> tuple[list[str], int, float]:
        """Take up to `max_items` pending envelopes (JSON texts), the count skipped before them and
        the timestamp of the oldest taken (for latency accounting)."""
        out: list[str] = []
        oldest = 0.0
        queue = self._queue
        while queue and (max_items is None or len(out) < max_items):
            item = queue.popleft()
            if item.dropped:
                continue
            if not out:
                oldest = item.ts
            out.append(item.text)
            if item.tick and self._ticks.get(item.job_id or "") is item:
                del self._ticks[item.job_id or ""]
        self._live -= len(out)
        skipped, self.skipped = self.skipped, 0
        return out, skipped, oldest

    def __len__(self) -> int:
        return self._live
