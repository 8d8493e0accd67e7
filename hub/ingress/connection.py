"""One client connection's delivery side: filter, dedupe, bounded queue and the single sender task."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from starlette.websockets import WebSocket, WebSocketState

from hub.metrics import IngressMetrics
from hub.outbox import Delivery, Outbox
from hub.protocol import batch_frame, envelope_json
from hub.stream import Envelope

log = logging.getLogger("hub.conn")


class Connection:
    """Everything the relay hands to a client goes through `offer`; only `run_sender` writes."""

    def __init__(
        self,
        ws: WebSocket,
        *,
        session: str,
        educator_id: str,
        types: set[str] | None,
        outbox: Outbox,
        batch_max: int,
        metrics: IngressMetrics,
    ) -> None:
        self.ws = ws
        self.session = session
        self.educator_id = educator_id
        self.types = types  # None: every type
        self.outbox = outbox
        self.batch_max = batch_max
        self.metrics = metrics
        self.epoch: str | None = None
        self.last_seq = 0
        self.ready = False  # False until the welcome is queued; offers wait in `_early`
        self._early: list[tuple[Envelope, str]] = []
        self._control: deque[str] = deque()
        self._types_sent: dict[str, int] = {}
        self._wake = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self._flush_on_close = False
        self.closed = asyncio.Event()

    # -- called by the relay ---------------------------------------------------------------

    def offer(self, env: Envelope, text: str) -> None:
        if not self.ready:
            self._early.append((env, text))
            return
        if env.seq <= self.last_seq or self.close_code is not None:
            return  # already delivered (at least once: the relay may see a message twice)
        self.last_seq = env.seq
        if self.types is not None and env.type not in self.types:
            return
        if not self.outbox.push(Delivery(env.seq, env.job_id, env.tick, text, env.ts)):
            self.close(4409, "slow consumer: reconnect and resume")
            return
        self._wake.set()

    def start(self, welcome: str, epoch: str, seq: int, backlog: list[Envelope]) -> None:
        """Queue the welcome, then the resumed backlog, then whatever arrived meanwhile, in seq order."""
        self._control.append(welcome)
        self.epoch = epoch
        self.last_seq = backlog[0].seq - 1 if backlog else seq
        self.ready = True
        early, self._early = self._early, []
        for env in backlog:
            self.offer(env, envelope_json(env.seq, env.type, env.ts, env.data))
        for env, text in sorted(early, key=lambda pair: pair[0].seq):
            self.offer(env, text)
        self._wake.set()

    @property
    def queued(self) -> int:
        """Messages waiting to be sent."""
        return len(self.outbox)

    @property
    def pending_control(self) -> int:
        return len(self._control)

    def send_control(self, frame: str) -> None:
        """pong, error: sent before pending batches (they are answers, not stream messages)."""
        self._control.append(frame)
        self._wake.set()

    def close(self, code: int, reason: str, *, flush: bool = False) -> None:
        """Close with `code`; with `flush`, after sending what is queued (a graceful drain), else
        at once (a slow consumer's queue is the problem, not something to send)."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self._flush_on_close = flush
            self._wake.set()

    # -- the one writer --------------------------------------------------------------------

    async def run_sender(self) -> None:
        ws = self.ws
        metrics = self.metrics
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._control:
                await ws.send_text(self._control.popleft())
                metrics.frames_out.inc(op="control")
            if self.close_code is not None and not self._flush_on_close:
                break
            while len(self.outbox):
                texts, skipped, oldest = self.outbox.drain(self.batch_max)
                if skipped:
                    metrics.skipped.inc(skipped)
                await ws.send_text(batch_frame(texts, skipped))
                metrics.frames_out.inc(op="batch")
                metrics.batch_size.observe(len(texts))
                metrics.messages_out.inc(len(texts))
                metrics.latency.observe(time.time() - oldest)
                if self._control or (self.close_code is not None and not self._flush_on_close):
                    self._wake.set()
                    break
            if self.close_code is not None and not len(self.outbox):
                break
        await self._close_ws()

    async def _close_ws(self) -> None:
        code = self.close_code or 1000
        self.metrics.closes.inc(code=str(code))
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            try:
                await self.ws.close(code, self.close_reason)
            except (RuntimeError, OSError):
                pass
        self.closed.set()
        log.info("[%s] closed %d %s", self.session, code, self.close_reason)
