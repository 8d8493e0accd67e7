"""The caller's side of a shard's data plane: one websockets connection per (process, shard),
opened on first use with what the shard answered over Ray (DataPlaneEndpoint), carrying many calls
at once (each request numbered; replies matched by number, in whatever order they finish).

What a caller (actors.handles.ShardClient) is told, by exception:
- `NoSocket`: no connection could be made (the port is blocked, the upgrade refused, the shard
  serves none): make this call over Ray; the socket is tried again after DataPlaneConfig.dataplane_retry.
- `NotCarried`: this call's arguments have no MessagePack form: make it over Ray.
- `Broken`: the connection closed with the call in flight; whether the shard did it is unknown
  (the caller retries, as after a failed Ray call: at least once). The next call reconnects,
  asking Ray again, so a shard restarted at another address is found.
- `Failed`: the shard answered that the call failed (a sentence)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from actors.dataplane.keys import client_context
from hub.core import wire
from hub.core.config import DataPlaneConfig
from hub.core.records import DataPlaneEndpoint

log = logging.getLogger("hub.dataplane")


class NoSocket(Exception):
    """No data-plane connection to the shard now: use Ray for this call."""


class NotCarried(Exception):
    """The call's arguments have no MessagePack form: use Ray for this call."""


class Broken(Exception):
    """The connection closed while the call was in flight."""


class Failed(Exception):
    """The shard answered that the call failed; the message is its sentence."""


class DataPlaneClient:
    """Calls into one shard over its socket. `discover()` asks the shard over Ray where its socket is
    (a DataPlaneEndpoint, or None when it serves none; it raises what a failed Ray call raises).
    `local_host`: this process's node address (a shard on the same address is reached on its
    loopback port when DataPlaneConfig.dataplane_tls is "auto"). `name`: for log lines. Bound to the
    event loop it first connects on; on another loop it connects again. Counters: `connects`,
    `fallback_calls` (calls told NoSocket), `fallback_since` (monotonic time the socket was last
    found unreachable, None while it works)."""

    def __init__(
        self,
        discover: Callable[[], Awaitable[DataPlaneEndpoint | None]],
        config: DataPlaneConfig,
        local_host: str,
        name: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._discover = discover
        self.config = config
        self.local_host = local_host
        self.name = name
        self.clock = clock
        self._ws: ClientConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[tuple[bool, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock: asyncio.Lock | None = None
        self._retry_at = 0.0
        self.connects = 0
        self.fallback_calls = 0
        self.fallback_since: float | None = None

    @property
    def in_fallback(self) -> bool:
        """Whether calls go over Ray now because the socket could not be made."""
        return self.fallback_since is not None

    async def call(self, method: str, args: list[Any]) -> Any:
        """`method(*args)` on the shard over the socket; its reply as the records of hub.core.records
        (hub.core.wire.REPLY_IN). Raises NoSocket, NotCarried, Broken or Failed (module docstring),
        or what `discover` raises."""
        try:
            call_id = next(self._ids)
            frame = wire.request(call_id, method, args)
        except (TypeError, ValueError, OverflowError) as exc:
            log.debug("%s: %s not carried by the data plane: %s", self.name, method, exc)
            raise NotCarried(str(exc)) from None
        ws = await self._connection()
        future: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            await ws.send(frame)
            ok, value = await future
        except ConnectionClosed:
            raise Broken(f"{self.name}: the data-plane connection closed") from None
        finally:
            self._pending.pop(call_id, None)
        if not ok:
            raise Failed(str(value))
        read = wire.REPLY_IN.get(method)
        return read(value) if read else value

    async def _connection(self) -> ClientConnection:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new event loop: nothing of the old one is usable
            self._loop, self._lock, self._ws, self._pending = loop, asyncio.Lock(), None, {}
        assert self._lock is not None
        async with self._lock:
            ws = self._ws
            if ws is not None and self._reader is not None and not self._reader.done():
                return ws
            if self.clock() < self._retry_at:
                self.fallback_calls += 1
                raise NoSocket(self.name)
            endpoint = await self._discover()
            try:
                if endpoint is None:
                    raise OSError("the shard serves no data-plane socket")
                ws = await self._open(endpoint)
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                self._retry_at = self.clock() + self.config.dataplane_retry
                if self.fallback_since is None:
                    self.fallback_since = self.clock()
                    log.warning(
                        "%s: no data-plane socket (%s: %s); using Ray calls, trying again in %gs",
                        self.name,
                        type(exc).__name__,
                        exc,
                        self.config.dataplane_retry,
                    )
                self.fallback_calls += 1
                raise NoSocket(self.name) from None
            if self.fallback_since is not None:
                since = self.clock() - self.fallback_since
                log.info("%s: data-plane socket back after %.0fs on Ray calls", self.name, since)
                self.fallback_since = None
            self.connects += 1
            self._ws = ws
            self._reader = loop.create_task(self._read(ws))
            return ws

    async def _open(self, endpoint: DataPlaneEndpoint) -> ClientConnection:
        local = self.config.dataplane_tls == "auto" and endpoint.host == self.local_host
        uri = f"ws://127.0.0.1:{endpoint.loopback_port}" if local else f"wss://{endpoint.host}:{endpoint.port}"
        return await connect(
            uri,
            additional_headers={"Authorization": f"Bearer {endpoint.token}"},
            ssl=None if local else client_context(endpoint.cert_pem),
            compression=None,
            max_size=None,  # replies come from the authenticated shard (a hello's snapshots can be large)
            open_timeout=self.config.dataplane_connect_timeout,
            proxy=None,
            user_agent_header=None,
        )

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                try:
                    call_id, ok, value = wire.read_reply(frame)
                except wire.BadFrame as exc:
                    log.warning("%s: dropped a data-plane reply: %s", self.name, exc)
                    continue
                future = self._pending.get(call_id)
                if future is not None and not future.done():
                    future.set_result((ok, value))
        except ConnectionClosed:
            pass
        finally:
            if self._ws is ws:
                self._ws = None
            for future in list(self._pending.values()):
                if not future.done():
                    future.set_exception(Broken(f"{self.name}: the data-plane connection closed"))

    async def close(self) -> None:
        """Close the connection (calls in flight fail with Broken)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
