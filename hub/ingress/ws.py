"""`GET /ws`: the handshake (origin, subprotocol, hello, token) and the read loop of one client.
Errors are mapped to close codes and error frames here, in one place."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.auth import verify_token
from hub.errors import BadFrame, ClientError, HubError, RateLimited, UpstreamError
from hub.ingress.connection import Connection, fit_reason
from hub.ingress.relay import Relay
from hub.ingress.wsproto import WRITER_KEY
from hub.limits import ConnectionCaps, TokenBucket
from hub.metrics import IngressMetrics
from hub.outbox import Outbox
from hub.protocol import (
    MESSAGE_TYPES,
    SUBPROTOCOL,
    Cancel,
    Hello,
    Ping,
    Subscribe,
    Unsubscribe,
    error_frame,
    parse_client_frame,
    pong_frame,
    welcome_frame,
)
from hub.settings import Settings

log = logging.getLogger("hub.ws")

MAX_CONTROL = 256  # answers (pong, error) waiting to be sent before the client is deemed not reading
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
    settings: Settings
    secret: str
    relay: Relay
    metrics: IngressMetrics
    cancel: Any  # async (identity, job_id) -> None; raises ClientError
    caps: ConnectionCaps


async def serve_websocket(ws: WebSocket, ctx: WsContext) -> None:
    settings, metrics = ctx.settings, ctx.metrics
    session = uuid.uuid4().hex[:12]
    offered = ws.scope.get("subprotocols") or []
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    metrics.connections_total.inc()
    if not origin_allowed(ws.headers.get("origin"), ws.headers.get("host"), settings.origins):
        log.warning("[%s] origin %s refused", session, ws.headers.get("origin"), extra={"session": session})
        return await _refuse(ws, metrics, 4403, "origin not allowed")

    try:
        first = await asyncio.wait_for(_receive_text(ws), settings.hello_timeout)
    except TimeoutError:
        return await _refuse(ws, metrics, 4408, f"no hello within {settings.hello_timeout:g}s")
    except (WebSocketDisconnect, _Gone):
        return
    except BadFrame as exc:  # a binary first frame
        return await _refuse(ws, metrics, 4400, exc.message)
    try:
        hello = parse_client_frame(first)
        if not isinstance(hello, Hello):
            raise BadFrame(f"the first frame must be hello, not {hello.op}", ref=hello.op)
    except BadFrame as exc:
        return await _refuse(ws, metrics, 4400, exc.message)
    try:
        identity = verify_token(ctx.secret, hello.token)
    except ClientError as exc:
        return await _refuse(ws, metrics, exc.close_code, exc.message)

    refused = ctx.caps.admit(identity.sub)
    if refused is not None:
        return await _refuse(ws, metrics, 4429, refused)
    try:
        await _serve(ws, ctx, session, identity, hello)
    finally:
        ctx.caps.release(identity.sub)


async def _serve(ws: WebSocket, ctx: WsContext, session: str, identity: Any, hello: Hello) -> None:
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
    )
    resume = (hello.resume.epoch, hello.resume.seq) if hello.resume else None
    try:
        reply = await ctx.relay.join(conn, resume)
    except UpstreamError as exc:
        log.error("[%s] hello failed: %s", session, exc, extra={"session": session, "educator": identity.sub})
        return await _refuse(ws, metrics, 1012, "registry unavailable: reconnect and resume")
    conn.start(
        welcome_frame(
            session=session,
            educator_id=identity.sub,
            epoch=reply["epoch"],
            seq=reply["seq"],
            heartbeat=settings.heartbeat,
            resumed=reply["resumed"],
            snapshot=reply.get("snapshot"),
            snapshot_truncated=reply.get("snapshotTruncated", False),
        ),
        reply["epoch"],
        reply["seq"],
        reply.get("messages", []),
    )
    log.info(
        "[%s] %s connected (resumed=%s, seq=%d)",
        session,
        identity.sub,
        reply["resumed"],
        reply["seq"],
        extra={"session": session, "educator": identity.sub},
    )
    try:
        await _read_loop(ws, conn, identity, ctx)
    finally:
        ctx.relay.leave(conn)
        await conn.finish(5.0)


class _Gone(Exception):
    pass


async def _receive_text(ws: WebSocket) -> str:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise _Gone()
    text = message.get("text")
    if text is None:
        raise BadFrame("frames must be text (JSON)")
    return text


async def _read_loop(ws: WebSocket, conn: Connection, identity: Any, ctx: WsContext) -> None:
    """Read until the client goes (or the sender closed the socket and the client acknowledged)."""
    metrics, settings = ctx.metrics, ctx.settings
    bucket = TokenBucket(settings.inbound_rate, settings.inbound_burst, time.monotonic())
    strikes = 0
    while True:
        try:
            text = await _receive_text(ws)
            if not bucket.take(time.monotonic()):
                strikes += 1
                if strikes > settings.inbound_strikes:
                    conn.close(4429, "inbound rate limit exceeded")
                    continue  # keep reading until the client acknowledges the close
                raise RateLimited(
                    f"more than {settings.inbound_rate:g} frames a second; slow down",
                    bucket.retry_after(time.monotonic()),
                )
            strikes = 0
            if conn.pending_control > MAX_CONTROL:
                conn.close(4409, "not reading answers: reconnect and resume")
                continue
            frame = parse_client_frame(text)
            metrics.ops_in.inc(op=frame.op)
            if isinstance(frame, Ping):
                conn.send_control(pong_frame(frame.id))
            elif isinstance(frame, Subscribe):
                if conn.types is not None:
                    conn.types |= set(frame.types)
            elif isinstance(frame, Unsubscribe):
                conn.types = (set(MESSAGE_TYPES) if conn.types is None else conn.types) - set(frame.types)
            elif isinstance(frame, Cancel):
                await ctx.cancel(identity, frame.job_id)
            else:
                raise BadFrame("hello was already received", ref="hello")
        except (_Gone, WebSocketDisconnect):
            return
        except HubError as exc:
            metrics.errors.inc(code=exc.code)
            conn.send_control(error_frame(exc.code, exc.message, getattr(exc, "ref", None)))


async def _refuse(ws: WebSocket, metrics: IngressMetrics, code: int, reason: str) -> None:
    metrics.closes.inc(code=str(code))
    try:
        await ws.close(code, fit_reason(reason))
    except (RuntimeError, OSError, WebSocketDisconnect):
        pass
