"""The monitor's side of task links (hub.core.tasklink): a WebSocket server (the websockets library)
started when the job makes its first link, with the data plane's credentials (actors.dataplane.keys:
a self-signed certificate and JWTs of the monitor's own, new each incarnation): TLS on the node's
address for tasks on other nodes, plain on 127.0.0.1 for tasks on the monitor's node. A connection
must carry a token the monitor signed (`Authorization: Bearer <JWT>`, checked before the upgrade:
401 otherwise) and name a link the monitor made (`/<channel>`: 404 otherwise); each binary msgpack
frame [channel, item] of it is delivered in order. A frame that is not one, or names another link,
is dropped with a log line; one over `max_frame` bytes closes that connection (1009), whose task
then reports by actor calls. Nothing a connection sends stops the monitor."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from actors.dataplane.keys import ServerKeys
from hub.core.records import DataPlaneEndpoint
from hub.core.tasklink import LinkFrameError, Links, decode

log = logging.getLogger("hub.job")


class LinkServer:
    """Serves `links` (the monitor's Links) for job `job_id`; `on_closed()` is called after a
    connection ended and every frame it carried was delivered; frames over `max_frame` bytes close
    their connection. Counters: `refused` upgrades, `dropped` frames."""

    def __init__(self, links: Links, on_closed: Callable[[], None], *, job_id: str, max_frame: int) -> None:
        self.links = links
        self.on_closed = on_closed
        self.job_id = job_id
        self.max_frame = max_frame
        self.keys: ServerKeys | None = None
        self.host = ""
        self._servers: list[Any] = []
        self.refused = 0
        self.dropped = 0

    async def start(self, host: str) -> None:
        """Listen on `host` (TLS) and 127.0.0.1 (plain), free ports. OSError when one cannot be bound."""
        from actors.dataplane.server import serve_pair

        self.keys = ServerKeys(host)
        self.host = host
        self._servers = await serve_pair(self._serve, self.keys, host, self._check, self.max_frame)

    def endpoint(self, ttl: float) -> DataPlaneEndpoint:
        """How a task reaches this server: its ports, certificate and a token good for `ttl` seconds."""
        assert self.keys is not None, "start() first"
        from actors.dataplane.server import bound_ports

        tls, loopback = bound_ports(self._servers)
        return DataPlaneEndpoint(self.host, tls, loopback, self.keys.cert_pem, self.keys.token(ttl, "task link"))

    def _channel(self, path: str) -> int | None:
        name = path.lstrip("/")
        return int(name) if name.isdigit() and self.links.knows(int(name)) else None

    def _check(self, connection: Any, request: Any) -> Any:
        assert self.keys is not None
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not self.keys.accepts(token):
            self.refused += 1
            log.warning(
                "job %s: task link connection from %s refused: no valid token", self.job_id, connection.remote_address
            )
            return connection.respond(HTTPStatus.UNAUTHORIZED, "A valid task link token is required.\n")
        channel = self._channel(request.path)
        if channel is None:
            self.refused += 1
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
                    self.dropped += 1
                    log.warning("job %s: task link frame dropped: %s", self.job_id, exc)
                except Exception:  # the link's handler failed on this item: the next ones still go
                    log.exception("job %s: task link item dropped: its handler failed", self.job_id)
        except ConnectionClosed as exc:
            log.warning("job %s: task link %d connection lost: %s", self.job_id, channel, exc)
        finally:
            self.links.closed(channel)
            self.on_closed()

    async def close(self) -> None:
        """Stop listening and close every connection."""
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers = []
