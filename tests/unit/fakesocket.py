"""A WebSocket stand-in for the connection's unit tests, and a Connection built on it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgpack
from starlette.websockets import WebSocketState

from hub.core.codecs import Frames
from hub.core.outbox import Outbox
from hub.core.stream import StreamPosition
from hub.ingress.connection import Connection, FrameWriter
from hub.metrics import IngressMetrics


class FakeSocket:
    """Records what the connection sends (`sent`, JSON-decoded) and its close (`closed`: code,
    reason); `send_delay` seconds per send stand for a slow client."""

    def __init__(self, send_delay: float = 0.0) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.send_delay = send_delay
        self.application_state = WebSocketState.CONNECTED

    async def send_text(self, text: str) -> None:
        await asyncio.sleep(self.send_delay)  # a send yields to the loop, as a real one does
        self.sent.append(json.loads(text))

    async def send_bytes(self, data: bytes) -> None:
        """A binary frame (a MessagePack connection's): recorded unpacked, and in `binary`."""
        await asyncio.sleep(self.send_delay)
        self.sent.append(msgpack.unpackb(data, raw=False))
        self.binary = getattr(self, "binary", 0) + 1

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = (code, reason)
        self.application_state = WebSocketState.DISCONNECTED


def make_connection(
    ws: FakeSocket | None = None,
    *,
    limit: int = 1000,
    conflate_after: int = 1000,
    types: set[str] | None = None,
    writer: FrameWriter | None = None,
    start: bool = True,
    frames: Frames | None = None,
    educator: str = "alice",
    session: str = "s",
    metrics: IngressMetrics | None = None,
) -> Connection:
    """`educator`'s connection (session `session`) on `ws` (a new FakeSocket when None), with an outbox of
    `limit` messages conflating past `conflate_after`; started at position ("e", 0) unless `start` is False."""
    conn = Connection(
        ws if ws is not None else FakeSocket(),  # type: ignore[arg-type]
        session=session,
        educator_id=educator,
        types=types,  # type: ignore[arg-type]
        outbox=Outbox(limit, conflate_after),
        batch_max=500,
        metrics=metrics if metrics is not None else IngressMetrics(),
        writer=writer,
        **({"frames": frames} if frames is not None else {}),
    )
    if start:
        conn.start('{"op":"welcome"}', StreamPosition("e", 0), [])
    return conn
