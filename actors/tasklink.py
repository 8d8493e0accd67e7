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

from actors.dataplane.server import PairedServer
from hub.core.records import DataPlaneEndpoint
from hub.core.tasklink import LinkFrameError, Links, decode

log = logging.getLogger("hub.job")


class LinkServer(PairedServer):
    """Serves `links` (the monitor's Links) for job `job_id`; `on_closed()` is called after a
    connection ended and every frame it carried was delivered; frames over `max_frame` bytes close
    their connection. Counters: `refused` upgrades, `dropped` frames."""

    refusal = "A valid task link token is required.\n"
    log = log

    def __init__(self, links: Links, on_closed: Callable[[], None], *, job_id: str, max_frame: int) -> None:
        super().__init__(f"job {job_id}: task link", max_frame)
        self.links = links
        self.on_closed = on_closed
        self.job_id = job_id
        self.dropped = 0

    def endpoint(self, ttl: float) -> DataPlaneEndpoint:
        """How a task reaches this server: its ports, certificate and a token good for `ttl` seconds."""
        return self.endpoint_for(ttl, "task link")

    def _channel(self, path: str) -> int | None:
        name = path.lstrip("/")
        return int(name) if name.isdigit() and self.links.knows(int(name)) else None

    def _check(self, connection: Any, request: Any) -> Any:
        refused = self._token_refusal(connection, request)
        if refused is not None:
            return refused
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
