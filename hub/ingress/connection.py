"""One client connection's delivery side: filter, dedupe, bounded queue and the writes.

Two ways out, one order: `flush` writes what a pull brought straight to the socket from the relay's
turn of the event loop (no task switch per message) when the socket can take it; otherwise (the
transport is paused by a slow reader, control frames wait, the connection is closing, or the server
is not uvicorn with the hub's protocol) the connection's sender task writes, after waiting for the
socket. Both write whole frames synchronously, so frames never interleave.

A write that fails on one connection for any reason other than the client leaving (a frame that
cannot be encoded, a bug) closes that connection with 1011 (WriteFailed) and a log line; it never
reaches the relay or another connection.

Every close goes through an error that carries its code (hub.core.errors), made a close frame in one
place (`close_frame`); the connection's states are one table (hub.core.connstate).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from hub.core import strictjson
from hub.core.closecodes import CloseCode
from hub.core.codecs import Frames, JsonFrames
from hub.core.connstate import ConnEvent, ConnState, next_state, takes_close
from hub.core.errors import HubError, SlowConsumer, WriteFailed
from hub.core.outbox import Delivery, Outbox
from hub.core.protocol import envelope_json
from hub.core.stream import Envelope, StreamPosition
from hub.core.subscriber import RoomSub
from hub.metrics import IngressMetrics

log = logging.getLogger("hub.conn")

INTERNAL = "internal error: reconnect and resume"


def close_frame(why: HubError | None) -> tuple[CloseCode, str]:
    """The one mapping from what ends a connection to its close frame: (code, reason). `why`: the
    error that ends it (its `close_code` and `message`, cut to fit: `fit_reason`); None: a normal
    close (1000, no reason), the answer to the client's own close or end."""
    if why is None:
        return CloseCode.NORMAL, ""
    return why.close_code, fit_reason(why.message)


def fit_reason(reason: str) -> str:
    """A close reason cut to the 123 UTF-8 bytes a close frame holds (RFC 6455 5.5: a control frame
    carries at most 125 bytes, 2 of them the code); a longer one makes the close itself fail."""
    raw = reason.encode("utf-8", "replace")
    if len(raw) <= 123:
        return reason
    return raw[:120].decode("utf-8", "ignore") + "..."


def data_json(data: object, metrics: IngressMetrics | None = None) -> str:
    """An envelope's `data` as strict JSON. Data that strict JSON cannot carry (registry shards make
    it safe where it enters, so only from an older shard or a bug) is made safe the same way for
    every transport (hub.core.strictjson.safe), counted and logged, rather than failing the write."""
    text, problem = strictjson.dumps_safe(data)
    if problem is not None:
        log.warning("message data made safe for strict JSON: %s", problem)
        if metrics is not None:
            metrics.made_safe.inc(where="ingress")
    return text


def envelope_text(env: Envelope, metrics: IngressMetrics | None = None) -> str:
    """One envelope as the strict JSON text that every transport (WebSocket, long-poll) carries."""
    return envelope_json(env.seq, env.type, env.ts, env.data, data_json(env.data, metrics), env.room)


class FrameWriter(Protocol):
    """Direct access to the socket under a WebSocket (hub.ingress.wsproto.HubWebSocketProtocol)."""

    def can_write(self) -> bool:
        """Whether a frame can be written now without waiting: the transport is not paused and the socket is
        open."""

    def write_text(self, text: str) -> None:
        """Frame `text` as one text message (compressed when negotiated) and hand it to the transport now. An
        OSError (uvicorn's ClientDisconnected) when the socket is closing or gone."""

    def write_binary(self, data: bytes) -> None:
        """As write_text, one binary message (a MessagePack connection's frames, PROTOCOL.md section 8)."""

    async def wait_writable(self) -> None:
        """Until the transport takes more (it is paused while the client reads too slowly)."""

    def trim(self) -> bool:
        """Free the connection's compressor, if it keeps one between messages; True when one was freed."""


JSON_FRAMES = JsonFrames()  # stateless: shared by every JSON connection


def _write(writer: FrameWriter, frame: str | bytes) -> None:
    if isinstance(frame, bytes):
        writer.write_binary(frame)
    else:
        writer.write_text(frame)


class Connection:
    """Everything the relay hands to a client goes through `offer`, then `flush`."""

    __slots__ = (
        "ws",
        "writer",
        "session",
        "educator_id",
        "types",
        "outbox",
        "batch_max",
        "metrics",
        "epoch",
        "last_seq",
        "last_sent",
        "state",
        "_early",
        "_control",
        "_dirty",
        "_sender",
        "close_code",
        "close_reason",
        "_flush_on_close",
        "rooms",
        "frames",
    )

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
        writer: FrameWriter | None = None,
        frames: Frames = JSON_FRAMES,
    ) -> None:
        self.ws = ws
        self.frames = frames  # JSON text or MessagePack binary frames (hub.core.codecs)
        self.writer = writer
        self.session = session
        self.educator_id = educator_id
        self.types = types  # None: every type
        self.outbox = outbox
        self.batch_max = batch_max
        self.metrics = metrics
        self.epoch: str | None = None
        self.last_seq = 0
        self.last_sent = 0.0  # monotonic time of the last frame written (idle compression trim)
        self.state = ConnState.JOINING  # until the welcome is queued offers wait in `_early`
        self._early: list[tuple[Envelope, str]] = []
        self._control: list[str] = []
        self._dirty = False
        self._sender: asyncio.Task[None] | None = None  # exists only while it has work
        self.close_code: CloseCode | None = None  # set by the close that counts (hub.core.connstate)
        self.close_reason = ""
        self._flush_on_close = False
        self.rooms: dict[str, RoomSub] = {}  # the rooms it joined (PROTOCOL.md section 7)

    # -- called by the relay ---------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the welcome is queued (or a close came first): offers are taken, not held back."""
        return self.state is not ConnState.JOINING

    def offer(self, env: Envelope, text: str) -> bool:
        """Queue one envelope; True when this made the connection need a `flush`. A room's envelope
        (`env.room`) goes by its RoomSub (hub.core.subscriber): dropped when the room is not joined."""
        if env.room is not None:
            sub = self.rooms.get(env.room)
            if sub is None or self.close_code is not None or not sub.admit(env, text, self.session):
                return False
            return self._queue(env, text)
        if not self.ready:
            self._early.append((env, text))
            return False
        if env.seq <= self.last_seq or self.close_code is not None:
            return False  # already delivered (at least once: the relay may see a message twice)
        self.last_seq = env.seq
        if self.types is not None and env.type not in self.types:
            return False
        return self._queue(env, text)

    def _queue(self, env: Envelope, text: str) -> bool:
        if not self.outbox.push(Delivery(env.seq, env.job_id, env.tick, text, env.ts)):
            self.close(SlowConsumer("slow consumer: reconnect and resume"))
            return False
        if self._dirty:
            return False
        self._dirty = True
        return True

    def flush(self) -> None:
        """Write what is queued now if the socket can take it (control frames first), else hand it to
        the sender task."""
        self._dirty = False
        writer = self.writer
        if writer is None or self._sender is not None or self.close_code is not None:
            self._kick()
            return
        try:
            while self._control and writer.can_write():
                _write(writer, self.frames.control(self._control.pop(0)))
                self.metrics.frames_control.inc()
            if not self._control:
                self._write_batches(writer)
        except OSError:  # the client is gone; its read loop ends the connection
            return
        except Exception:
            self.fail("direct write")
            return
        if len(self.outbox) or self._control:
            self._kick()  # the transport paused: the sender waits for it

    def start(self, welcome: str, position: StreamPosition, backlog: list[Envelope]) -> None:
        """Queue the welcome, then the resumed backlog, then whatever arrived meanwhile, in seq order.
        `position`: the stream's (epoch, seq) the welcome announces; `backlog`: the envelopes after
        the client's resume point (empty for a fresh start)."""
        self._control.append(welcome)
        self.epoch = position.epoch
        self.last_seq = backlog[0].seq - 1 if backlog else position.seq
        self.state = next_state(self.state, ConnEvent.START)
        early, self._early = self._early, []
        for env in backlog:
            self.offer(env, envelope_text(env, self.metrics))
        for env, text in sorted(early, key=lambda pair: pair[0].seq):
            self.offer(env, text)
        self._dirty = False
        self._kick()

    def start_room(self, room: str, position: StreamPosition, backlog: list[Envelope], joined: str | None) -> None:
        """The room join is answered: queue its `joined` frame (`joined`; None when the welcome carries
        it), then the room's missed envelopes (`backlog`), then what arrived meanwhile, in seq order."""
        sub = self.rooms.get(room)
        if sub is None:
            return  # left (or closed) while the join was under way
        if joined is not None:
            self._control.append(joined)
        for env, text in sub.start(position, backlog):
            self.offer(env, text if text is not None else envelope_text(env, self.metrics))
        # Written now where the socket takes it: a task's turn could come after a whole fan-out (the
        # join's own `presence` message to every member of a large room, hub.ingress.relay._fan_out).
        self.flush()

    @property
    def queued(self) -> int:
        """Messages waiting to be sent."""
        return len(self.outbox)

    @property
    def closing(self) -> bool:
        """A close was asked for (or the client is gone): it leaves the relay soon."""
        return self.state.closing

    @property
    def pending_control(self) -> int:
        """Control frames (the welcome, pong, error) waiting to be sent; past Settings.max_control the read
        loop closes the connection 4409 (hub.ingress.ws)."""
        return len(self._control)

    def send_control(self, frame: str) -> None:
        """pong, error: sent before pending batches (they are answers, not stream messages)."""
        self._control.append(frame)
        self._kick()

    def fail(self, where: str) -> None:
        """A write failed for a reason other than the client leaving (call from an `except`): log
        it with its traceback and close this connection with 1011 (WriteFailed); nothing else is
        affected."""
        why = WriteFailed(INTERNAL)
        log.exception(
            "[%s] %s failed; closing %d",
            self.session,
            where,
            why.close_code,
            extra={"session": self.session, "educator": self.educator_id, "code": int(why.close_code)},
        )
        self._move(ConnEvent.FAIL, why)
        self._flush_on_close = False
        self._control.clear()
        self._kick()

    def close(self, why: HubError | None = None, *, flush: bool = False) -> None:
        """Close with `why`'s close code and message (None: a normal close, 1000); with `flush`,
        after sending what is queued (a graceful drain), else at once (a slow consumer's queue is
        the problem, not something to send). The first close counts; later ones change nothing."""
        if self._move(ConnEvent.DRAIN if flush else ConnEvent.CLOSE, why):
            self._flush_on_close = flush
            self._kick()

    def trim_idle(self, idle_since: float) -> bool:
        """Free the compressor's memory when nothing was written since `idle_since` (monotonic)."""
        return self.writer is not None and self.last_sent < idle_since and self.writer.trim()

    def _move(self, event: ConnEvent, why: HubError | None) -> bool:
        """Apply `event` (hub.core.connstate); True when it set the close code and reason."""
        takes = takes_close(self.state, event)
        self.state = next_state(self.state, event)
        if takes:
            self.close_code, self.close_reason = close_frame(why)
        return takes

    async def wait_closed(self) -> None:
        """After `close`: until the close frame is sent (or the socket is gone)."""
        if self._sender is not None:
            await asyncio.shield(self._sender)

    async def finish(self, timeout: float) -> None:
        """The client's read side ended: close if not yet, and let the writer end within `timeout`."""
        self.close()
        sender = self._sender
        if sender is not None:
            try:
                await asyncio.wait_for(asyncio.shield(sender), timeout)
            except TimeoutError:
                sender.cancel()

    # -- writing ---------------------------------------------------------------------------

    def _write_batches(self, writer: FrameWriter) -> None:
        """Everything queued, as batch frames, while the socket takes it (synchronous)."""
        outbox, metrics = self.outbox, self.metrics
        while len(outbox) and writer.can_write():
            texts, skipped, oldest = outbox.drain(self.batch_max)
            _write(writer, self.frames.batch(texts, skipped))
            metrics.sent_batch(len(texts), skipped, oldest)
            self.last_sent = time.monotonic()

    async def _send(self, frame: str | bytes) -> None:
        if self.writer is None:
            await (self.ws.send_bytes(frame) if isinstance(frame, bytes) else self.ws.send_text(frame))
        else:
            await self.writer.wait_writable()
            _write(self.writer, frame)
        self.last_sent = time.monotonic()

    def _hard_closing(self) -> bool:
        return self.close_code is not None and not self._flush_on_close

    def _kick(self) -> None:
        """Make sure a sender task will look at this connection (one at most, only while needed)."""
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._run_sender())

    async def _run_sender(self) -> None:
        """The fallback writer: control frames, backpressure, closing. Ends when it has nothing to do."""
        metrics = self.metrics
        try:
            while True:
                while self._control:
                    await self._send(self.frames.control(self._control.pop(0)))
                    metrics.frames_control.inc()
                if self._hard_closing():
                    break
                while len(self.outbox) and not self._control and not self._hard_closing():
                    texts, skipped, oldest = self.outbox.drain(self.batch_max)
                    await self._send(self.frames.batch(texts, skipped))
                    metrics.sent_batch(len(texts), skipped, oldest)
                if self._control or self._hard_closing():
                    continue
                if self.close_code is not None:
                    break  # a graceful close: everything queued was sent
                self._sender = None  # idle: the next offer writes directly or starts a new sender
                return
        except (OSError, RuntimeError) as exc:  # the client left mid-send (ClientDisconnected, a reset)
            log.debug("[%s] send failed: %r", self.session, exc)
        except WebSocketDisconnect:
            pass
        except Exception:  # not the client leaving: a frame that cannot be written (never silently)
            self.fail("send")
        await self._close_ws()

    async def _close_ws(self) -> None:
        code = self.close_code or CloseCode.NORMAL
        self.state = next_state(self.state, ConnEvent.GONE)
        self.metrics.closes.inc(code=str(code))
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            try:
                await self.ws.close(code, self.close_reason)
            except (RuntimeError, OSError, WebSocketDisconnect):  # the client is gone already: frames
                pass  # written straight to the transport leave Starlette unaware that it went
        log.info(
            "[%s] closed %d %s",
            self.session,
            code,
            self.close_reason,
            extra={"session": self.session, "educator": self.educator_id, "code": int(code)},
        )
