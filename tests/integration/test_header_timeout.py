"""The header timeout (hub/ingress/httpproto.py) against a real uvicorn server built by the hub's own
`uvicorn_config`, serving a small app (the session hub's timeout is the default 15 s; these tests
need a short one). Raw sockets play the slow clients."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect

from hub.ingress.httpproto import HeaderTimeoutProtocol
from hub.metrics import IngressMetrics
from hub.server import LocalHub, uvicorn_config
from hub.settings import Settings
from tests.conftest import scaled

TIMEOUT = scaled(1.0)


async def hello(request: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    while True:
        text = await ws.receive_text()
        await ws.send_text(text)


METRICS = IngressMetrics()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    import uvicorn

    app = Starlette(routes=[Route("/", hello), WebSocketRoute("/ws", echo)])
    app.state.metrics = METRICS  # where uvicorn_config finds the counter, as on the hub's app
    settings = Settings(port=0, header_timeout=TIMEOUT, log_level="warning")
    config = uvicorn_config(app, settings, lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield "127.0.0.1", port
    srv.should_exit = True
    thread.join(timeout=10)


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and when it closed (monotonic)."""
    sock.settimeout(limit)
    got = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return got, time.monotonic()
        got += chunk


def test_a_connection_that_sends_nothing_is_closed(server: tuple[str, int]) -> None:
    before = METRICS.errors.get(code="header_timeout")
    start = time.monotonic()
    with socket.create_connection(server) as sock:
        got, closed = read_until_closed(sock, TIMEOUT * 5)
    assert TIMEOUT * 0.9 <= closed - start < TIMEOUT * 3
    assert got.startswith(b"HTTP/1.1 408 ")
    assert METRICS.errors.get(code="header_timeout") == before + 1  # hub_errors_total{code="header_timeout"}


def test_the_hub_serves_with_the_configured_header_timeout(hub: LocalHub) -> None:
    protocol = hub.server.config.http
    assert isinstance(protocol, type) and issubclass(protocol, HeaderTimeoutProtocol)
    assert protocol.header_timeout == hub.settings.header_timeout == Settings().header_timeout


@pytest.mark.parametrize("request_line", [b"GET / HTTP/1.1\r\nHost: x\r\n", b"GET /ws HTTP/1.1\r\nHost: x\r\n"])
def test_a_request_that_trickles_its_headers_is_closed(server: tuple[str, int], request_line: bytes) -> None:
    """A byte every TIMEOUT/4 (a slowloris): never a full header block; closed at the timeout. The
    second case is the start of a WebSocket upgrade, which arrives as HTTP too."""
    upgrade = b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    data = request_line + upgrade + b"X-Padding: " + b"a" * 200
    start = time.monotonic()
    closed_at = None
    with socket.create_connection(server) as sock:
        sock.settimeout(TIMEOUT / 4)
        for byte in data:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(4096) == b"":
                    closed_at = time.monotonic()
                    break
            except TimeoutError:
                continue  # nothing yet: keep trickling
            except OSError:
                closed_at = time.monotonic()
                break
    assert closed_at is not None, "the trickling connection was never closed"
    assert TIMEOUT * 0.9 <= closed_at - start < TIMEOUT * 3


def test_normal_requests_and_websockets_are_untouched(server: tuple[str, int]) -> None:
    host, port = server
    with httpx.Client(base_url=f"http://{host}:{port}") as client:
        assert client.get("/").text == "hello"
        time.sleep(TIMEOUT * 1.5)  # headers of the first request done: the timer is off
        assert client.get("/").text == "hello"  # a second request on the kept-alive connection

    async def talk() -> str:
        async with connect(f"ws://{host}:{port}/ws") as ws:
            await asyncio.sleep(TIMEOUT * 1.5)  # an upgraded connection is not timed
            await ws.send("still here")
            return str(await asyncio.wait_for(ws.recv(), 5))

    assert asyncio.run(talk()) == "still here"


def test_a_slow_second_request_on_a_kept_alive_connection_is_closed(server: tuple[str, int]) -> None:
    """The first request is answered; the second's headers never finish: its own timeout closes it."""
    with socket.create_connection(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 ")
        start = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost")
        got, closed = read_until_closed(sock, TIMEOUT * 5)
    assert got.startswith(b"HTTP/1.1 408 ")
    assert TIMEOUT * 0.9 <= closed - start < TIMEOUT * 3
