"""A registry shard's data-plane server: the websockets library serving the shard's hot methods
(hub.core.wire.METHODS) as MessagePack request/reply frames, each request run as its own task (a
pull waits while the same connection's hellos and unwatches go on), replies sent as they finish.

Two listening sockets, one service: TLS on the node's address (for callers on other nodes) and
plain TCP on 127.0.0.1 (for callers on this node: nothing leaves the machine). Both open only to a
JWT this server signed (ServerKeys.token, handed out over Ray); a connection without one is refused
at the upgrade with 401 and nothing else. What arrives is only ever MessagePack-decoded and checked
(hub.core.wire.read_request, checked_args) before the shard sees it: a malformed frame is dropped
with a log line (a request whose number could be read, its arguments of the wrong types, is also
answered with a failure, so that its caller does not wait for ever), an over-long one closes that
connection (1009); neither reaches the shard."""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from actors.dataplane.keys import ServerKeys
from hub.core import wire
from hub.core.config import DataPlaneConfig
from hub.core.records import DataPlaneEndpoint

log = logging.getLogger("hub.dataplane")

REFUSED = "A valid data-plane token is required.\n"
LOGGED_PER_CONNECTION = 10  # malformed frames logged at warning per connection; the rest at debug


class PairedServer:
    """One service on the data plane's two listening sockets: TLS with a per-process self-signed
    certificate (ServerKeys) on the node's address, plain on 127.0.0.1, each on a free port, no
    compression, frames up to `max_frame` bytes, and an upgrade opened only by a JWT these keys
    signed (else 401 with `refusal`, counted in `refused`, logged: the first few at warning, then
    every hundredth, so a stranger knocking cannot flood the log). Subclasses serve connections
    (`_serve`) and may check more at the upgrade (`_check`, calling `_token_refusal` first): a
    registry shard's data plane (DataPlaneServer), a job monitor's task links
    (actors.tasklink.LinkServer). `name`: for log lines."""

    refusal = REFUSED  # the 401's body: one sentence, nothing else
    log = log

    def __init__(self, name: str, max_frame: int) -> None:
        self.name = name
        self.max_frame = max_frame
        self.keys: ServerKeys | None = None
        self.host = ""
        self._servers: list[Server] = []
        self.refused = 0

    async def start(self, host: str) -> None:
        """Listen on `host` (TLS) and on 127.0.0.1 (plain), free ports. OSError when a socket cannot be
        bound."""
        self.keys = ServerKeys(host)
        self.host = host
        common: dict[str, Any] = {
            "process_request": self._check,
            "max_size": self.max_frame,
            "compression": None,
            "server_header": None,
        }
        self._servers = [
            await serve(self._serve, host, 0, ssl=self.keys.server_context(), **common),
            await serve(self._serve, "127.0.0.1", 0, **common),
        ]

    @property
    def ports(self) -> tuple[int, int]:
        """(TLS port, loopback port)."""
        tls, loopback = (int(s.sockets[0].getsockname()[1]) for s in self._servers)
        return tls, loopback

    def endpoint_for(self, ttl: float, subject: str = "hub") -> DataPlaneEndpoint:
        """How a caller reaches this server now, with a token good for `ttl` seconds."""
        assert self.keys is not None, "start() first"
        tls, loopback = self.ports
        return DataPlaneEndpoint(self.host, tls, loopback, self.keys.cert_pem, self.keys.token(ttl, subject))

    async def close(self) -> None:
        """Stop listening and close every connection."""
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers = []

    def _token_refusal(self, connection: ServerConnection, request: Request) -> Response | None:
        """None when the upgrade carries one valid token of these keys; else the 401 to answer."""
        assert self.keys is not None
        given = request.headers.get_all("Authorization")  # two of them: refused (Headers.get would raise)
        token = given[0].removeprefix("Bearer ").strip() if len(given) == 1 else ""
        if self.keys.accepts(token):
            return None
        self.refused += 1
        level = logging.WARNING if self.refused <= LOGGED_PER_CONNECTION or self.refused % 100 == 0 else logging.DEBUG
        self.log.log(
            level,
            "%s: upgrade from %s refused: no valid token (%d refused so far)",
            self.name,
            connection.remote_address,
            self.refused,
        )
        return connection.respond(HTTPStatus.UNAUTHORIZED, self.refusal)

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        return self._token_refusal(connection, request)

    async def _serve(self, ws: ServerConnection) -> None:
        raise NotImplementedError


class DataPlaneServer(PairedServer):
    """Serves `target`'s methods named in hub.core.wire.METHODS (an actors.registry.RegistryShard)
    to authenticated callers. `config`: the frame limit and token lifetime (DataPlaneConfig).
    `start(host)` binds; `endpoint()` says how to reach it; `close()` stops it. Counters for
    operators: `connections` open now, `dropped` malformed frames, `refused` upgrades without a
    valid token."""

    # Requests of one connection running at once; past it the server reads no more frames from that
    # connection until one answers (TCP then pushes back on the caller). The hub's callers keep a
    # few in flight (an ingress: one pull, a batch of hellos and of unwatches; a monitor: one publish).
    max_in_flight = 256

    def __init__(self, target: Any, config: DataPlaneConfig, name: str) -> None:
        super().__init__(name, config.dataplane_max_frame)
        self.target = target
        self.config = config
        self.connections = 0
        self.dropped = 0

    async def start(self, host: str) -> None:
        """PairedServer.start, logged."""
        await super().start(host)
        log.info("%s: data plane on %s:%d (TLS) and 127.0.0.1:%d", self.name, host, *self.ports)

    def endpoint(self) -> DataPlaneEndpoint:
        """How a caller reaches this server now, with a fresh token (DataplaneConfig.dataplane_token_ttl)."""
        return self.endpoint_for(self.config.dataplane_token_ttl)

    async def _serve(self, ws: ServerConnection) -> None:
        self.connections += 1
        running: set[asyncio.Task[None]] = set()
        bad = 0
        max_len = self.config.dataplane_max_frame
        try:
            async for frame in ws:
                call_id: int | None = None
                try:
                    call_id, method, args = wire.read_request(frame, max_len)
                    args = wire.checked_args(method, args)
                except wire.BadFrame as exc:
                    self.dropped += 1
                    bad += 1
                    level = logging.WARNING if bad <= LOGGED_PER_CONNECTION else logging.DEBUG
                    log.log(level, "%s: dropped a data-plane frame from %s: %s", self.name, ws.remote_address, exc)
                    if call_id is None:
                        continue
                    # A numbered request (its arguments of the wrong types): its caller is told, rather
                    # than waiting for ever for an answer.
                    reply = self._send(ws, wire.failure(call_id, f"the registry shard refused the request: {exc}"))
                else:
                    reply = self._answer(ws, call_id, method, args)
                task = asyncio.get_running_loop().create_task(reply)
                running.add(task)
                task.add_done_callback(running.discard)
                if len(running) >= self.max_in_flight:  # backpressure: read on once some have answered
                    await asyncio.wait(set(running), return_when=asyncio.FIRST_COMPLETED)
        except ConnectionClosed as exc:
            if 1009 in (exc.rcvd and exc.rcvd.code, exc.sent and exc.sent.code):
                peer = ws.remote_address
                log.warning("%s: closed a data-plane connection from %s: frame over the limit", self.name, peer)
        finally:
            self.connections -= 1
            for task in running:  # a waiting pull of a caller that went away
                task.cancel()

    async def _answer(self, ws: ServerConnection, call_id: int, method: str, args: list[Any]) -> None:
        try:
            value = await getattr(self.target, method)(*args)
            out = wire.REPLY_OUT.get(method)
            frame = wire.reply(call_id, out(value) if out else value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the caller gets a sentence; the shard goes on
            log.warning("%s: %s over the data plane failed: %s: %s", self.name, method, type(exc).__name__, exc)
            frame = wire.failure(call_id, f"the registry shard could not do {method} ({type(exc).__name__})")
        await self._send(ws, frame)

    async def _send(self, ws: ServerConnection, frame: bytes) -> None:
        try:
            await ws.send(frame)
        except ConnectionClosed:
            pass  # the caller went away; it asks again (at least once)
