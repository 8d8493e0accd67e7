"""`GET /api/events`: the long-poll fallback. A poll joins the relay like a connection for as long
as it waits, so it gets the same envelopes, resume rules and ordering as a WebSocket; and the same
bytes: each message is the envelope text the relay made for the WebSocket connections (strict JSON,
made safe the one way: hub.ingress.connection.envelope_text), so no transport differs on a value."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from starlette.responses import Response

from hub.core import strictjson
from hub.core.errors import HubError
from hub.core.stream import Envelope, StreamPosition
from hub.core.subscriber import RoomSub
from hub.ingress.connection import envelope_text
from hub.ingress.relay import Relay
from hub.metrics import IngressMetrics

# The contract's bound on a poll's `timeout` (PROTOCOL.md, `GET /api/events`: "max 30 s"), which
# clients rely on: a fact of the protocol, not an operator setting.
MAX_TIMEOUT = 30.0


class PollWaiter:
    """What the relay offers envelopes to while one poll waits: a Subscriber (hub.core.subscriber),
    as a WebSocket connection is."""

    def __init__(self, educator_id: str, max_messages: int, metrics: IngressMetrics | None = None) -> None:
        self.educator_id = educator_id
        self.session = f"poll-{uuid.uuid4().hex[:12]}"  # for log lines
        self.max_messages = max_messages  # Settings.poll_max_messages: the most one answer carries
        self.metrics = metrics
        self.last_seq = 0
        self.ready = False
        self.messages: list[str] = []  # envelope JSON texts, as the relay made them
        self._early: list[tuple[Envelope, str | None]] = []
        self.event = asyncio.Event()
        self.rooms: dict[str, RoomSub] = {}  # the rooms this poll reads (PROTOCOL.md section 7)
        self.closing = False  # answered early by `close`: it leaves the relay when the answer is made

    def offer(self, env: Envelope, text: str | None = None) -> bool:
        """Hold one envelope (its text made here when None); never needs a `flush` (False). A room's goes
        by its RoomSub (hub.core.subscriber)."""
        if env.room is not None:
            sub = self.rooms.get(env.room)
            if text is None:
                text = envelope_text(env, self.metrics)
            if sub is not None and sub.admit(env, text, self.session) and len(self.messages) < self.max_messages:
                self.messages.append(text)
                self.event.set()
            return False
        if not self.ready:
            self._early.append((env, text))
        elif env.seq > self.last_seq and len(self.messages) < self.max_messages:
            self.last_seq = env.seq
            self.messages.append(text if text is not None else envelope_text(env, self.metrics))
            self.event.set()
        return False

    def flush(self) -> None:
        """Nothing to write: the poll answers with what it holds."""

    def start_room(self, room: str, position: StreamPosition, backlog: list[Envelope]) -> None:
        """The poll's join of `room` is answered: take the room's missed envelopes, then what came meanwhile."""
        sub = self.rooms.get(room)
        if sub is not None:
            for env, text in sub.start(position, backlog):
                self.offer(env, text)

    def start(self, after: int, backlog: list[Envelope]) -> None:
        """The relay has answered and the poll resumes after seq `after`: take `backlog` (the stream's envelopes
        after it), then what was offered meanwhile, in seq order, up to `max_messages` in all."""
        self.last_seq = after
        self.ready = True
        for env, text in [*((e, None) for e in backlog), *sorted(self._early, key=lambda pair: pair[0].seq)]:
            self.offer(env, text)
        self._early = []

    @property
    def queued(self) -> int:
        """Messages waiting to be sent: always 0 (a poll answers at once with what it holds)."""
        return 0  # a poll answers with what it holds at once: nothing waits to be sent

    def close(self, why: HubError | None = None, *, flush: bool = False) -> None:
        """Answer now (the stream restarted under us, or the server stops): the next poll re-syncs."""
        self.closing = True
        self.event.set()

    async def wait_closed(self) -> None:
        """Nothing to wait for: the poll answers as soon as it is woken."""

    def trim_idle(self, idle_since: float) -> bool:
        """No compressor to give back (False)."""
        return False


def answer_poll(head: dict[str, Any], messages: list[str]) -> Response:
    """`head` with `messages` (already strict JSON texts) spliced in, as an application/json answer."""
    text = strictjson.dumps_safe(head)[0]
    return Response(text[:-1] + ',"messages":[' + ",".join(messages) + "]}", media_type="application/json")


async def poll_events(
    relay: Relay, educator_id: str, epoch: str | None, after: int | None, timeout: float, max_messages: int
) -> Response:
    """One long-poll: `{epoch, seq, resumed, messages, snapshot?}` (PROTOCOL.md section 5), with at
    most `max_messages` messages (Settings.poll_max_messages; the next poll gets the rest)."""
    waiter = PollWaiter(educator_id, max_messages, relay.metrics)
    resume = StreamPosition(epoch, after) if epoch is not None and after is not None else None
    reply = await relay.join(waiter, resume)
    try:
        if not reply.resumed:
            epoch, seq = reply.position
            head = {"epoch": epoch, "seq": seq, "resumed": False, "snapshot": reply.snapshot}
            if reply.snapshot_truncated:
                head["snapshotTruncated"] = True  # the snapshot holds the newest jobs only
            return answer_poll(head, [])
        waiter.start(after or 0, reply.messages)
        if not waiter.messages:
            try:
                await asyncio.wait_for(waiter.event.wait(), min(timeout, MAX_TIMEOUT))
            except TimeoutError:
                pass
        return answer_poll({"epoch": reply.position.epoch, "seq": waiter.last_seq, "resumed": True}, waiter.messages)
    finally:
        relay.leave(waiter)
