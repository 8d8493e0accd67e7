"""An educator's ordered stream: epoch, seq and a bounded history for resume. Pure: `now` is passed in."""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple


class StreamPosition(NamedTuple):
    """A place in an ordered stream: the stream's `epoch` (a shard incarnation's id; a new epoch
    means the history before it is gone) and the last `seq` seen in it (0 before the first message).

    An educator's stream (a client's resume point, a hello's answer) and an ingress's feed from a
    shard (the shard's epoch and the feed number the ingress last acknowledged) are both positions.
    Crosses processes (hub.core.records re-exports it), so it lives at module top level.
    """

    epoch: str
    seq: int


class Envelope(NamedTuple):
    """One message of one educator's stream.

    `job_id` and `tick` are routing facts that never go on the wire: a `tick` is a progress update
    that a later tick of the same job supersedes (the only kind of message conflation may drop).

    A named tuple, not a dataclass: thousands cross Ray every second, and `tuple(env)` pickles in
    a tenth of the time of a frozen dataclass (docs/benchmarks.md); `Envelope._make` rebuilds one.
    """

    educator_id: str
    seq: int
    type: str
    ts: float
    data: dict[str, Any]
    job_id: str | None = None
    tick: bool = False

    def wire(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "ts": self.ts, "data": self.data}


class EducatorStream:
    """Assigns seqs and keeps the newest messages, bounded by count and by age."""

    __slots__ = ("educator_id", "epoch", "max_messages", "max_age", "last_seq", "_history")

    def __init__(self, educator_id: str, epoch: str, *, max_messages: int, max_age: float) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.educator_id = educator_id
        self.epoch = epoch
        self.max_messages = max_messages
        self.max_age = max_age
        self.last_seq = 0
        self._history: deque[Envelope] = deque(maxlen=max_messages)

    def append(
        self, mtype: str, data: dict[str, Any], now: float, *, job_id: str | None = None, tick: bool = False
    ) -> Envelope:
        self.last_seq += 1
        env = Envelope(self.educator_id, self.last_seq, mtype, now, data, job_id, tick)
        self._history.append(env)
        self.trim(now)
        return env

    def trim(self, now: float) -> None:
        horizon = now - self.max_age
        history = self._history
        while history and history[0].ts < horizon:
            history.popleft()

    @property
    def first_retained_seq(self) -> int:
        """The oldest seq still held; last_seq + 1 when nothing is held."""
        return self._history[0].seq if self._history else self.last_seq + 1

    @property
    def position(self) -> StreamPosition:
        """Where the stream is now: its epoch and its last seq."""
        return StreamPosition(self.epoch, self.last_seq)

    def since(self, position: StreamPosition, now: float) -> list[Envelope] | None:
        """Every message after `position` when a client there can resume; None when it cannot (another
        epoch, a seq from the future, or one whose successors aged out of the history)."""
        self.trim(now)
        epoch, seq = position
        if epoch != self.epoch or seq > self.last_seq or seq < self.first_retained_seq - 1:
            return None
        if seq == self.last_seq:
            return []
        skip = seq - self.first_retained_seq + 1
        return [env for i, env in enumerate(self._history) if i >= skip]

    def __len__(self) -> int:
        return len(self._history)
