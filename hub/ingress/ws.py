"""`GET /ws`: the handshake (origin, subprotocol, hello, token) and the read loop of one client.
Errors become error frames here, in one place; those that end the connection become its close frame
through hub.ingress.connection.close_frame (their `close_code`, hub.core.closecodes)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.auth import TOKEN_EXPIRED, Identity, verify_refresh, verify_token
from hub.core.codecs import MSGPACK_SUBPROTOCOL, Frames, MsgpackFrames, select_subprotocol
from hub.core.errors import (
    AuthError,
    BadFrame,
    ClientError,
    Forbidden,
    HelloTimeout,
    HubError,
    RateLimited,
    ServiceRestart,
    SlowConsumer,
    TokenExpired,
    TooManyConnections,
    UpstreamError,
)
from hub.core.limits import ConnectionCaps, TokenBucket
from hub.core.outbox import Outbox
from hub.core.protocol import (
    MESSAGE_TYPES,
    ROOM_OPS,
    AnyClientOp,
    Cancel,
    Hello,
    Join,
    Leave,
    Ping,
    Publish,
    Refresh,
    Subscribe,
    Typing,
    Unsubscribe,
    error_frame,
    pong_frame,
    refreshed_frame,
    welcome_frame,
)
from hub.core.rooms import is_room_id
from hub.core.stream import StreamPosition
from hub.ingress.connection import JSON_FRAMES, Connection, close_frame
from hub.ingress.relay import Relay
from hub.ingress.roomops import RoomOps
from hub.ingress.wsproto import WRITER_KEY
from hub.metrics import IngressMetrics
from hub.settings import Settings

log = logging.getLogger("hub.ws")

REGISTRY_UNAVAILABLE = (
    "registry unavailable: reconnect and resume"  # the reason of a 1012 for a shard that did not answer
)

_LOOPBACK_ORIGIN = re.compile(r"^https?://(localhost|127(?:\.\d{1,3}){3}|\[::1\])(:\d+)?$")


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """No Origin (a non-browser client), same origin, an allowed one, or loopback when none is set."""
    if not origin:
        return True
    origin = origin.rstrip("/")
    if allowed:
        return origin in allowed or "*" in allowed
    if host and urlsplit(origin).netloc == host:
        return True
    return bool(_LOOPBACK_ORIGIN.match(origin))


@dataclass
class WsContext:
    """What every `/ws` connection of one ingress shares: the `settings`, the token-signing `secret`, the
    `relay` connections join, the `metrics`, `cancel` (async (identity, job_id) -> None, the job desk's;
    raises a ClientError when the job cannot be cancelled) and `caps` (the per-token and per-process
    connection caps: Settings.max_connections_per_token, Settings.max_connections); `msgpack`, the
    MessagePack frames (and their packing memo) its `hub.v1.msgpack` connections share."""

    settings: Settings
    secret: str
    relay: Relay
    metrics: IngressMetrics
    cancel: Callable[[Identity, str], Awaitable[None]]  # raises ClientError
    caps: ConnectionCaps
    msgpack: MsgpackFrames = field(default_factory=MsgpackFrames)


async def serve_websocket(ws: WebSocket, ctx: WsContext) -> None:
    """One `/ws` connection from upgrade to close (PROTOCOL.md section 2): accept it, selecting the first of
    the client's subprotocols the hub speaks (`hub.v1`: JSON text frames; `hub.v1.msgpack`: MessagePack
    binary frames, section 8); refuse it with its close code when the Origin is not allowed (4403), no
    frame arrives within Settings.hello_timeout seconds (4408), the first frame is not a valid `hello`
    of the connection's kind (4400), the token is refused (4401), a connection cap is reached (4429) or
    the registry does not answer the hello (1012); else send the welcome and carry out ops until the
    client goes. An op's error is answered with an `error` frame; what ends the connection, with its
    close frame (close_frame)."""
    settings, metrics = ctx.settings, ctx.metrics
    session = uuid.uuid4().hex[:12]
    subprotocol = select_subprotocol(ws.scope.get("subprotocols") or [])
    frames: Frames = ctx.msgpack if subprotocol == MSGPACK_SUBPROTOCOL else JSON_FRAMES
    await ws.accept(subprotocol=subprotocol)
    metrics.connections_total.inc()
    metrics.ws_protocols.inc(protocol=frames.subprotocol)
    if not origin_allowed(ws.headers.get("origin"), ws.headers.get("host"), settings.origins):
        log.warning("[%s] origin %s refused", session, ws.headers.get("origin"), extra={"session": session})
        return await _refuse(ws, metrics, Forbidden("origin not allowed"))

    try:
        first = await asyncio.wait_for(_receive(ws), settings.hello_timeout)
    except TimeoutError:
        return await _refuse(ws, metrics, HelloTimeout(f"no hello within {settings.hello_timeout:g}s"))
    except (WebSocketDisconnect, _Gone):
        return
    try:
        hello = frames.parse(first)  # a frame of the other kind (text, binary) included: 4400
        if not isinstance(hello, Hello):
            raise BadFrame(f"the first frame must be hello, not {hello.op}", ref=hello.op)
    except BadFrame as exc:
        return await _refuse(ws, metrics, exc)
    try:
        identity = verify_token(ctx.secret, hello.token, leeway=settings.token_leeway)
    except ClientError as exc:
        return await _refuse(ws, metrics, exc)

    refused = ctx.caps.admit(identity.sub)
    if refused is not None:
        return await _refuse(ws, metrics, TooManyConnections(refused))
    try:
        await _serve(ws, ctx, session, identity, hello, frames)
    finally:
        ctx.caps.release(identity.sub)


async def _serve(ws: WebSocket, ctx: WsContext, session: str, identity: Identity, hello: Hello, frames: Frames) -> None:
    settings, metrics = ctx.settings, ctx.metrics
    conn = Connection(
        ws,
        session=session,
        educator_id=identity.sub,
        types=set(hello.types) if hello.types is not None else None,
        outbox=Outbox(settings.send_queue_limit, settings.conflate_after),
        batch_max=settings.batch_max,
        metrics=metrics,
        writer=ws.scope.get(WRITER_KEY),
        frames=frames,
    )
    resume = StreamPosition(hello.resume.epoch, hello.resume.seq) if hello.resume else None
    rooms = RoomOps(conn, ctx.relay, settings, metrics)
    answers: list[dict[str, Any]] | None = None
    starts: list[Any] = []
    try:
        if hello.rooms is None:
            reply = await ctx.relay.join(conn, resume)
        else:  # the educator's stream and the rooms in one round trip (PROTOCOL.md section 7)
            joining = asyncio.ensure_future(rooms.at_hello(identity, hello.rooms))
            try:
                reply = await ctx.relay.join(conn, resume)
            finally:
                answers, starts = await joining
    except UpstreamError as exc:
        ctx.relay.leave(conn)  # the rooms joined meanwhile
        log.error("[%s] hello failed: %s", session, exc, extra={"session": session, "educator": identity.sub})
        return await _refuse(ws, metrics, ServiceRestart(REGISTRY_UNAVAILABLE))
    conn.start(
        welcome_frame(
            session=session,
            educator_id=identity.sub,
            epoch=reply.position.epoch,
            seq=reply.position.seq,
            heartbeat=settings.heartbeat,
            resumed=reply.resumed,
            snapshot=reply.snapshot,
            snapshot_truncated=reply.snapshot_truncated,
            rooms=answers,
        ),
        reply.position,
        reply.messages,
    )
    rooms.started(starts)
    log.info(
        "[%s] %s connected (resumed=%s, seq=%d)",
        session,
        identity.sub,
        reply.resumed,
        reply.position.seq,
        extra={"session": session, "educator": identity.sub},
    )
    expiry = TokenExpiry(conn, settings.token_leeway)
    expiry.arm(identity.exp)
    try:
        await _read_loop(ws, conn, identity, ctx, expiry, rooms)
    finally:
        expiry.cancel()
        ctx.relay.leave(conn)
        await conn.finish(5.0)


class TokenExpiry:
    """Closes a connection 4401 when its token expires (`exp` + leeway, PROTOCOL.md section 2,
    "Token expiry"). One `loop.call_at` timer handle per connection (no task), re-armed when a
    `refresh` moves `exp` on. Ops are also checked against `exp` as they arrive (Identity.expired),
    so none runs after it even when the loop is late to fire the timer."""

    __slots__ = ("_conn", "_leeway", "_handle")

    def __init__(self, conn: Connection, leeway: float) -> None:
        self._conn = conn
        self._leeway = leeway
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, exp: int | None) -> None:
        """(Re)start the timer for `exp` (Unix seconds; None: never)."""
        self.cancel()
        if exp is None:
            return
        loop = asyncio.get_running_loop()
        left = exp + self._leeway - time.time()
        self._handle = loop.call_at(loop.time() + max(0.0, left), self._conn.close, TokenExpired(TOKEN_EXPIRED))

    def cancel(self) -> None:
        """Stop the timer (nothing happens when none runs)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _Gone(Exception):
    pass


async def _receive(ws: WebSocket) -> str | bytes:
    """The next frame: str for a text frame, bytes for a binary one (the connection's Frames parse it)."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise _Gone()
    text = message.get("text")
    return text if text is not None else message.get("bytes") or b""


async def _read_loop(
    ws: WebSocket, conn: Connection, identity: Identity, ctx: WsContext, expiry: TokenExpiry, rooms: RoomOps
) -> None:
    """Read until the client goes (or the sender closed the socket and the client acknowledged)."""
    metrics, settings = ctx.metrics, ctx.settings
    bucket = TokenBucket(settings.inbound_rate, settings.inbound_burst, time.monotonic())
    strikes = 0
    while True:
        op: str | None = None  # the op being carried out, for an error's `ref`
        room: str | None = None  # the room of a room op, for an error's `room`
        text: str | bytes = ""
        try:
            text = await _receive(ws)
            if identity.expired(time.time(), settings.token_leeway):
                conn.close(TokenExpired(TOKEN_EXPIRED))  # never carry out an op of an expired identity
                continue  # keep reading until the client acknowledges the close
            # Parsed first, so that a refusal names its op (and room), and `publish` and `typing` go
            # by their own per-connection rate (PROTOCOL.md section 7: `rate_limited` past it, never
            # a close); every other frame, a malformed one included, by the connection's frame rate.
            try:
                frame: AnyClientOp | None = conn.frames.parse(text)
                malformed: BadFrame | None = None
            except BadFrame as exc:
                frame, malformed = None, exc
            if frame is not None:
                op = frame.op
                room = frame.room if isinstance(frame, Join | Leave | Publish | Typing) else None
            if not isinstance(frame, Publish | Typing) and not bucket.take(time.monotonic()):
                strikes += 1
                if strikes > settings.inbound_strikes:
                    conn.close(RateLimited("inbound rate limit exceeded"))
                    continue  # keep reading until the client acknowledges the close
                raise RateLimited(
                    f"more than {settings.inbound_rate:g} frames a second; slow down",
                    bucket.retry_after(time.monotonic()),
                )
            strikes = 0
            if conn.pending_control > settings.max_control:
                conn.close(SlowConsumer("not reading answers: reconnect and resume"))
                continue
            if malformed is not None:
                raise malformed
            assert frame is not None
            metrics.ops_in.inc(op=frame.op)
            if isinstance(frame, Join | Leave | Publish | Typing):
                room = frame.room
                try:
                    if isinstance(frame, Join):
                        await rooms.join(identity, frame)
                    elif isinstance(frame, Leave):
                        rooms.leave(frame)
                    elif isinstance(frame, Publish):
                        await rooms.publish(identity, frame)
                    else:
                        await rooms.typing(identity, frame)
                except UpstreamError as exc:
                    # Not one of a room op's error codes (PROTOCOL.md section 7): the room's shard did
                    # not answer, so the client reconnects and resumes (1012), its rooms in its hello.
                    log.warning("[%s] %s in %s failed: %s", conn.session, frame.op, room, exc)
                    conn.close(ServiceRestart(REGISTRY_UNAVAILABLE))
                    continue
            elif isinstance(frame, Ping):
                conn.send_control(pong_frame(frame.id))
            elif isinstance(frame, Subscribe):
                if conn.types is not None:
                    conn.types |= set(frame.types)
            elif isinstance(frame, Unsubscribe):
                conn.types = (set(MESSAGE_TYPES) if conn.types is None else conn.types) - set(frame.types)
            elif isinstance(frame, Cancel):
                await ctx.cancel(identity, frame.job_id)
            elif isinstance(frame, Refresh):
                if conn.state.closing:  # the expiry timer (or a limit) closed it meanwhile:
                    continue  # no `refreshed` for a connection that is closing
                try:
                    identity = verify_refresh(ctx.secret, identity, frame.token, leeway=settings.token_leeway)
                except AuthError as exc:  # an error frame below; the connection keeps identity and expiry
                    raise AuthError(f"refresh refused: {exc.message}") from None
                expiry.arm(identity.exp)
                conn.send_control(refreshed_frame(identity.exp or 0))
            else:
                raise BadFrame("hello was already received", ref="hello")
        except (_Gone, WebSocketDisconnect):
            return
        except HubError as exc:
            metrics.errors.inc(code=exc.code)
            ref = exc.ref or op
            if room is None and ref in ROOM_OPS:
                room = _room_of(conn.frames, text)
            conn.send_control(error_frame(exc.code, exc.message, ref, room))


def _room_of(frames: Frames, frame: str | bytes) -> str | None:
    """The `room` string of a frame that failed to parse, when a lenient reader finds one (an error's `room`)."""
    room = frames.lenient_field(frame, "room")
    return room if isinstance(room, str) and is_room_id(room) else None


async def _refuse(ws: WebSocket, metrics: IngressMetrics, why: HubError) -> None:
    """Close a connection that never joined the relay, with `why`'s close frame."""
    code, reason = close_frame(why)
    metrics.closes.inc(code=str(code))
    try:
        await ws.close(code, reason)
    except (RuntimeError, OSError, WebSocketDisconnect):
        pass
