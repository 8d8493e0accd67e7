"""uvicorn's httptools HTTP/1.1 protocol with a header timeout.

uvicorn bounds the wait *between* requests on a kept-alive connection (`timeout_keep_alive`) but
not the wait for a request's headers: a client that opens a connection and sends nothing, or a byte
every few seconds (slowloris), holds a socket and its memory for ever. This protocol gives each
request's header block `header_timeout` seconds, counted from the moment the connection is made
(the first request) or the request's first byte arrives (later requests on a kept-alive
connection), and answers `408 Request Timeout` and closes when they are not all there by then.
The WebSocket upgrade request arrives as HTTP first, so it is covered too; after the upgrade the
hub's `hello_timeout` takes over. Bodies are not covered: the routes that read one bound its size.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("hub.http")

_TIMEOUT_TEXT = b"the request's headers did not arrive in time"
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TIMEOUT_TEXT), _TIMEOUT_TEXT)
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that closes a connection whose request headers take over `header_timeout`
    seconds. Made per server with `with_timeout` (uvicorn builds one protocol per connection from
    the class given as `uvicorn.Config(http=...)`)."""

    header_timeout: float = 15.0
    on_timeout: Any = None  # called with no argument each time a connection is closed for it (a counter)

    @classmethod
    def with_timeout(cls, seconds: float, on_timeout: Any = None) -> type[HeaderTimeoutProtocol]:
        """A subclass whose connections get `seconds` (> 0) for each request's headers."""
        if seconds <= 0:
            raise ValueError("header_timeout must be positive")
        return type(cls.__name__, (cls,), {"header_timeout": seconds, "on_timeout": staticmethod(on_timeout)})

    _header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """uvicorn's hook for a new connection: the first request's `header_timeout` starts now."""
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        """httptools' hook at a request's first byte: a later request on a kept-alive connection gets its own
        `header_timeout` from now (the first request's, started at connection_made, runs on)."""
        super().on_message_begin()
        self._arm()  # a later request on a kept-alive connection: its own time from its first byte

    def on_headers_complete(self) -> None:
        """httptools' hook: the request's headers are all there, so the timer stops."""
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn's hook when the connection ends: the timer stops."""
        self._disarm()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.on_timeout is not None:
            self.on_timeout()
        log.info("closed a connection from %s: no complete request headers in %gs", self.client, self.header_timeout)
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier (pipelined) request is still being answered: let it finish, then close.
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            return
        self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()
