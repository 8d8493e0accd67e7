"""The monitor's side of task links (hub.core.tasklink): a WebSocket server (the websockets library)
on the monitor's node's loopback, started when the job makes its first link. A connection must
carry the monitor's token (`Authorization: Bearer <token>`, checked before the upgrade: 401
otherwise) and name a link the monitor made (`/<channel>`: 404 otherwise); each binary msgpack
frame [channel, item] of it is delivered in order. A frame that is not one, or names another link,
is dropped with a log line; one over `max_frame` bytes closes that connection (1009), whose task
then reports by actor calls. Nothing a connection sends stops the monitor."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from hub.core.tasklink import LinkAddress, LinkFrameError, Links, decode

log = logging.getLogger("hub.job")


class LinkServer:
    """Serves `links` (the monitor's Links) for job `job_id`; `on_closed()` is called after a
    connection ended and every frame it carried was delivered; frames over `max_frame` bytes close
    their connection."""

    def __init__(self, links: Links, on_closed: Callable[[], None], *, job_id: str, max_frame: int) -> None:
        self.links = links
        self.on_closed = on_closed
        self.job_id = job_id
        self.max_frame = max_frame
        self.token = secrets.token_urlsafe(32)
        self._server: Any = None

    async def start(self, node_id: str) -> LinkAddress:
        """Bind 127.0.0.1 on a free port and serve; returns the address tasks connect to."""
        from websockets.asyncio.server import serve

        self._server = await serve(
            self._serve,
            "127.0.0.1",
            0,
            process_request=self._check,
            compression=None,
            max_size=self.max_frame,
        )
        port = self._server.sockets[0].getsockname()[1]
        return LinkAddress(f"ws://127.0.0.1:{port}", self.token, node_id)

    def _channel(self, path: str) -> int | None:
        name = path.lstrip("/")
        return int(name) if name.isdigit() and self.links.knows(int(name)) else None

    def _check(self, connection: Any, request: Any) -> Any:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            log.warning("job %s: task link connection without the monitor's token refused", self.job_id)
            return connection.respond(HTTPStatus.UNAUTHORIZED, "A valid task link token is required.\n")
        channel = self._channel(request.path)
        if channel is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "No such task link at this monitor.\n")
        self.links.opened(channel)  # before the task can send: `busy` covers its frames from here
        return None

    async def _serve(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        channel = self._channel(ws.request.path)
        assert channel is not None  # _check let it through
        try:
            async for frame in ws:
                try:
                    got, item = decode(frame)
                    if got != channel:
                        raise LinkFrameError(f"a frame for link {got} on link {channel}'s connection")
                    self.links.deliver(channel, item)
                except LinkFrameError as exc:
                    log.warning("job %s: task link frame dropped: %s", self.job_id, exc)
                except Exception:  # the link's handler failed on this item: the next ones still go
                    log.exception("job %s: task link item dropped: its handler failed", self.job_id)
        except ConnectionClosed as exc:
            if exc.rcvd is None or exc.rcvd.code != 1000:
                log.warning("job %s: task link %d closed: %s", self.job_id, channel, exc)
        finally:
            self.links.closed(channel)
            self.on_closed()

    async def close(self) -> None:
        """Stop serving and close every connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
