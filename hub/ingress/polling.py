"""`GET /api/events`: the long-poll fallback. A poll joins the relay like a connection for as long
as it waits, so it gets the same envelopes, resume rules and ordering as a WebSocket."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.ingress.relay import Relay
from hub.stream import Envelope

MAX_TIMEOUT = 30.0
MAX_MESSAGES = 1000


class PollWaiter:
    """What the relay offers envelopes to while one poll waits (duck-typed like Connection)."""

    def __init__(self, educator_id: str) -> None:
        self.educator_id = educator_id
        self.last_seq = 0
        self.ready = False
        self.messages: list[dict[str, Any]] = []
        self._early: list[Envelope] = []
        self.event = asyncio.Event()

    def offer(self, env: Envelope, text: str = "") -> None:
        if not self.ready:
            self._early.append(env)
        elif env.seq > self.last_seq and len(self.messages) < MAX_MESSAGES:
            self.last_seq = env.seq
            self.messages.append(env.wire())
            self.event.set()

    def start(self, after: int, backlog: list[Envelope]) -> None:
        self.last_seq = after
        self.ready = True
        for env in [*backlog, *sorted(self._early, key=lambda e: e.seq)]:
            self.offer(env)
        self._early = []

    @property
    def queued(self) -> int:
        return 0  # a poll answers with what it holds at once: nothing waits to be sent

    def close(self, code: int, reason: str, *, flush: bool = False) -> None:
        self.event.set()  # the stream restarted under us: answer now, the next poll re-syncs


async def poll_events(
    relay: Relay, educator_id: str, epoch: str | None, after: int | None, timeout: float
) -> dict[str, Any]:
    waiter = PollWaiter(educator_id)
    resume = (epoch, after) if epoch is not None and after is not None else None
    reply = await relay.join(waiter, resume)  # type: ignore[arg-type]
    try:
        if not reply["resumed"]:
            answer = {
                "epoch": reply["epoch"],
                "seq": reply["seq"],
                "resumed": False,
                "messages": [],
                "snapshot": reply["snapshot"],
            }
            if reply.get("snapshotTruncated"):
                answer["snapshotTruncated"] = True  # the snapshot holds the newest jobs only
            return answer
        waiter.start(after or 0, reply.get("messages", []))
        if not waiter.messages:
            try:
                await asyncio.wait_for(waiter.event.wait(), min(timeout, MAX_TIMEOUT))
            except TimeoutError:
                pass
        return {"epoch": reply["epoch"], "seq": waiter.last_seq, "resumed": True, "messages": waiter.messages}
    finally:
        relay.leave(waiter)  # type: ignore[arg-type]
