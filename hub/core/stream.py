"""A keyed ordered stream (an educator's, or a room's: PROTOCOL.md sections 2 and 7): epoch, seq and a
bounded history for resume. Pure: `now` is passed in."""

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
    """One message of one stream: an educator's (`room` None; `educator_id` is the educator) or a room's
    (`room` and `educator_id` are both the room id: the stream's key).

    `job_id` and `tick` are routing facts that never go on the wire: a `tick` is a progress update
    that a later tick of the same job supersedes (the only kind of message conflation may drop).
    `seq` 0: an ephemeral room envelope (typing, an ephemeral publish; PROTOCOL.md section 7), kept in
    no history, sent without `seq`. `origin`: the session of the connection that caused it (a room
    publish or typing), which never receives it back; never on the wire.

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
    room: str | None = None
    origin: str | None = None

    def wire(self) -> dict[str, Any]:
        """The envelope as a client sees it (PROTOCOL.md section 2, Envelope; section 7 for rooms):
        `{"seq", "type", "ts", "data"}`, plus `room` for a room's (and no `seq` when ephemeral);
        `educator_id`, `job_id`, `tick` and `origin` stay off the wire. Shares `data`, not a copy."""
        if self.room is None:
            return {"seq": self.seq, "type": self.type, "ts": self.ts, "data": self.data}
        out: dict[str, Any] = {"seq": self.seq} if self.seq else {}
        out.update(type=self.type, ts=self.ts, data=self.data, room=self.room)
        return out

    @property
    def ephemeral(self) -> bool:
        """An envelope kept in no history (seq 0): typing, an ephemeral room publish."""
        return self.seq == 0

    @property
    def stream(self) -> str:
        """The key of the stream a connection dedupes it in: "" for its educator stream, else the room id."""
        return "" if self.room is None else self.room


class EducatorStream:
    """Assigns seqs and keeps the newest messages, bounded by count and by age. `educator_id` is the
    stream's key: an educator's id, or with `room` true a room's id (its envelopes then carry `room`)."""

    __slots__ = ("educator_id", "room", "epoch", "max_messages", "max_age", "last_seq", "_history")

    def __init__(self, educator_id: str, epoch: str, *, max_messages: int, max_age: float, room: bool = False) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.educator_id = educator_id
        self.room = educator_id if room else None
        self.epoch = epoch
        self.max_messages = max_messages
        self.max_age = max_age
        self.last_seq = 0
        self._history: deque[Envelope] = deque(maxlen=max_messages)

    def append(
        self,
        mtype: str,
        data: dict[str, Any],
        now: float,
        *,
        job_id: str | None = None,
        tick: bool = False,
        origin: str | None = None,
    ) -> Envelope:
        """Give the message the next seq, keep it in the history (the oldest dropped past `max_messages`,
        then `trim(now)`) and return its Envelope. `now`: the shard clock's time in seconds, the
        envelope's `ts`; `job_id`, `tick` and `origin` as on Envelope (a tick may be conflated, a transition
        never)."""
        self.last_seq += 1
        env = Envelope(self.educator_id, self.last_seq, mtype, now, data, job_id, tick, self.room, origin)
        self._history.append(env)
        self.trim(now)
        return env

    def ephemeral(self, mtype: str, data: dict[str, Any], now: float, origin: str | None = None) -> Envelope:
        """An envelope of this stream that takes no seq and is kept nowhere (seq 0: typing, an
        ephemeral room publish); `origin` as on Envelope."""
        return Envelope(self.educator_id, 0, mtype, now, data, None, False, self.room, origin)

    def trim(self, now: float) -> None:
        """Drop the history older than `max_age` seconds before `now` (seconds, the clock of `append`);
        `last_seq` stays, so a resume from before what is left gets a snapshot (`since` answers None)."""
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
