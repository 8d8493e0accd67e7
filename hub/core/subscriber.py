"""What the relay delivers to: one interface for every kind of connection (a WebSocket connection,
hub.ingress.connection.Connection; a waiting long-poll, hub.ingress.polling.PollWaiter), so the relay
asks no `hasattr` of them (DESIGN.md, centrifuge's `Transport`). Pure: a typing.Protocol only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.core.errors import HubError
from hub.core.stream import Envelope, StreamPosition


@dataclass(slots=True)
class RoomSub:
    """One subscriber's place in one room (PROTOCOL.md section 7): whether it counts in the room's
    presence and the `info` it joined with; until its `joined` is queued (`ready`) the room's envelopes
    wait in `early`; then `last_seq` is the room seq delivered last (duplicates are dropped)."""

    present: bool
    info: dict[str, Any] | None = None
    ready: bool = False
    last_seq: int = 0
    early: list[tuple[Envelope, str]] = field(default_factory=list)
    joining: Any = None  # the join's call at the shard while it may be under way (an asyncio future)

    def admit(self, env: Envelope, text: str, session: str) -> bool:
        """Whether `env` (of this room) goes to the subscriber now: not before `joined` (then held in
        `early`), never back to the connection it came from (`origin`), never a seq already delivered;
        an ephemeral one (seq 0) always, once ready."""
        if not self.ready:
            self.early.append((env, text))
            return False
        if env.origin == session:
            return False
        if env.seq:
            if env.seq <= self.last_seq:
                return False
            self.last_seq = env.seq
        return True

    def start(self, position: StreamPosition, backlog: list[Envelope]) -> list[tuple[Envelope, str | None]]:
        """The join is answered at `position` with `backlog` (the missed envelopes, empty unless resumed):
        ready from here; returns what to offer now, in order (the backlog, texts None: made by the
        caller, then what arrived meanwhile, kept ones in seq order)."""
        self.ready = True
        self.last_seq = backlog[0].seq - 1 if backlog else position.seq
        early, self.early = self.early, []
        early.sort(key=lambda pair: pair[0].seq)
        return [*((env, None) for env in backlog), *early]


class Subscriber(Protocol):
    """One educator's subscriber on this ingress, held by the relay from `join` to `leave`."""

    @property
    def educator_id(self) -> str:
        """Whose stream it receives."""
        ...

    @property
    def session(self) -> str:
        """An id for log lines (a WebSocket's session id, a poll's)."""
        ...

    @property
    def rooms(self) -> dict[str, RoomSub]:
        """The rooms it is in (room id -> RoomSub), the relay routes room envelopes by."""
        ...

    @property
    def queued(self) -> int:
        """Messages waiting to be sent (0 for a poll: it answers with what it holds)."""
        ...

    @property
    def closing(self) -> bool:
        """Whether it was closed (or asked to close) and is going: it leaves the relay soon, so a shard the
        relay attaches to again is not told of its rooms (PROTOCOL.md section 7: presence exact)."""
        ...

    def offer(self, env: Envelope, text: str) -> bool:
        """Take one envelope and its JSON text (made once by the relay for everyone); True when this
        made the subscriber need a `flush`. Duplicates (seq already seen) are dropped here."""
        ...

    def flush(self) -> None:
        """Write what the offers queued (called once per pull, after the offers)."""
        ...

    def close(self, why: HubError | None = None, *, flush: bool = False) -> None:
        """End it with `why`'s close code and message (None: a normal close, 1000); with `flush`,
        after sending what is queued."""
        ...

    async def wait_closed(self) -> None:
        """After `close`: until the close is done (the close frame sent, the poll answered)."""
        ...

    def trim_idle(self, idle_since: float) -> bool:
        """Give back the compressor's memory when nothing was written since `idle_since` (a
        monotonic time); True when it did."""
        ...
