"""Task links over real sockets (actors.tasklink.LinkServer, the monitor's side; jobs.tasklink.Reporter,
the task's side), no Ray: the server's Links deliver to plain functions, the Reporter runs on a
thread as in a task. Like tests/adapters/test_dataplane.py (and unlike the rest of this folder) it
opens sockets, on 127.0.0.1 only: what a task link must do is what happens on one (issue 15, items
3, 5 and 6): items in order over the loopback port and over TLS to the pinned certificate; an
upgrade without a token the monitor signed refused (401), a link it did not make refused (404); a
malformed frame dropped with a log line and the connection serving on; an oversized one closing
that connection (1009) with a log line, the task going on by actor calls; TLS refused to a task
that pins another certificate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import jwt
import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from actors.dataplane.keys import ServerKeys
from actors.tasklink import LinkServer
from hub.core.tasklink import Links
from jobs.tasklink import TaskLink
from tests.conftest import scaled

LOOP = "127.0.0.1"


def run(coro: Awaitable[Any], limit: float = 30.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, scaled(limit))

    return asyncio.run(bounded())


class Monitor:
    """A monitor's links and its LinkServer on 127.0.0.1 (TLS and plain); `got[channel]` is what
    each link's handler received; `closed` counts connection ends."""

    def __init__(self, max_frame: int = 1 << 20) -> None:
        self.links = Links()
        self.got: dict[int, list[Any]] = {}
        self.closed = 0
        self.server = LinkServer(self.links, self._on_closed, job_id="j1", max_frame=max_frame)

    def _on_closed(self) -> None:
        self.closed += 1

    def link(self, monitor_handle: Any = None, *, tls: bool = False) -> TaskLink:
        got: list[Any] = []
        channel = self.links.add(got.append)
        self.got[channel] = got
        return TaskLink(channel, self.server.endpoint(60), monitor_handle, tls_always=tls)

    async def until_idle(self, channel: int) -> None:
        while self.links.busy(channel):
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def serving(max_frame: int = 1 << 20) -> AsyncIterator[Monitor]:
    monitor = Monitor(max_frame)
    await monitor.server.start(LOOP)
    try:
        yield monitor
    finally:
        await monitor.server.close()


class RecordingHandle:
    """The monitor's actor handle as a task holds it: `link_item.remote(...)` records its call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.link_item = self

    def remote(self, *args: Any) -> None:
        self.calls.append(args)


def report(link: TaskLink, items: list[Any]) -> str:
    """What a task does (on a thread here): open the link, send `items`, close it; returns which way
    they went (Reporter.transport)."""
    reporter = link.open()
    for item in items:
        reporter.send(item)
    transport = reporter.transport
    reporter._close_socket()  # close() would also wait for actor calls through Ray
    return transport


@pytest.mark.parametrize("tls", [False, True])
def test_a_tasks_items_reach_the_links_handler_in_order(tls: bool) -> None:
    items = [["stage", "parsing"], [0.25, "Reading page 1 of 4"], {"any": [1, 2.5, None, True]}, "last"]

    async def go() -> tuple[str, list[Any]]:
        async with serving() as monitor:
            link = monitor.link(tls=tls)
            transport = await asyncio.to_thread(report, link, items)
            await monitor.until_idle(link.channel)  # every frame before the close is delivered
            return transport, monitor.got[link.channel]

    transport, got = run(go())
    assert got == items
    assert transport == "tls"  # off Ray a task counts as on another node: TLS, even with tls=False


def test_an_upgrade_without_the_monitors_token_or_for_another_link_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "hub.job")
    forged = jwt.encode({"aud": "hub-dataplane", "exp": 4_000_000_000}, "another-key-" + "x" * 32, "HS256")
    other = ServerKeys(LOOP).token(60)  # a token another server signed

    async def go() -> dict[str, Any]:
        async with serving() as monitor:
            link = monitor.link()
            assert link.endpoint is not None
            url = f"ws://{LOOP}:{link.endpoint.loopback_port}"
            answers: dict[str, Any] = {}
            for name, path, token in [
                ("none", f"/{link.channel}", None),
                ("forged", f"/{link.channel}", forged),
                ("another_servers", f"/{link.channel}", other),
                ("unknown_link", "/99", link.endpoint.token),
                ("not_a_link", "/x", link.endpoint.token),
            ]:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                try:
                    async with connect(url + path, additional_headers=headers):
                        answers[name] = "accepted"
                except InvalidStatus as exc:
                    answers[name] = (exc.response.status_code, exc.response.body)
            assert monitor.got[link.channel] == [] and not monitor.links.busy(link.channel)
            answers["refused"] = monitor.server.refused
            return answers

    answers = run(go())
    assert answers.pop("refused") == 5
    token_refused = (401, b"A valid task link token is required.\n")
    assert answers == {
        "none": token_refused,
        "forged": token_refused,
        "another_servers": token_refused,
        "unknown_link": (404, b"No such task link at this monitor.\n"),
        "not_a_link": (404, b"No such task link at this monitor.\n"),
    }
    assert sum("refused: no valid token" in r.getMessage() for r in caplog.records) == 3


def test_tls_to_a_monitor_is_refused_to_a_task_pinning_another_certificate() -> None:
    async def go() -> None:
        async with serving() as monitor:
            link = monitor.link(tls=True)
            assert link.endpoint is not None
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.load_verify_locations(cadata=ServerKeys(LOOP).cert_pem)  # another server's
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(
                    f"wss://{LOOP}:{link.endpoint.port}/{link.channel}",
                    additional_headers={"Authorization": f"Bearer {link.endpoint.token}"},
                    ssl=context,
                )

    run(go())


def test_malformed_frames_are_dropped_with_a_log_line_and_the_connection_serves_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "hub.job")

    async def go() -> tuple[list[Any], int]:
        async with serving() as monitor:
            link = monitor.link()
            assert link.endpoint is not None
            auth = {"Authorization": f"Bearer {link.endpoint.token}"}
            async with connect(
                f"ws://{LOOP}:{link.endpoint.loopback_port}/{link.channel}", additional_headers=auth
            ) as ws:
                await ws.send(msgpack.packb([link.channel, "first"]))
                await ws.send("a text frame")
                await ws.send(b"\xc1")
                await ws.send(msgpack.packb({"not": "a pair"}))
                await ws.send(msgpack.packb([link.channel + 1, "for another link"]))
                await ws.send(msgpack.packb(["1", "a channel that is not a number"]))
                await ws.send(msgpack.packb([link.channel, "after them"]))
            await monitor.until_idle(link.channel)
            return monitor.got[link.channel], monitor.server.dropped

    got, dropped = run(go())
    assert got == ["first", "after them"]
    assert dropped == 5
    lines = [r.getMessage() for r in caplog.records if "task link frame dropped" in r.getMessage()]
    assert len(lines) == 5 and any("text frame" in line for line in lines) and any("link 2" in line for line in lines)


def test_an_oversized_frame_closes_that_connection_and_the_task_goes_on_by_actor_calls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "hub.job")
    handle = RecordingHandle()

    async def go() -> tuple[list[Any], str]:
        async with serving(max_frame=4096) as monitor:
            link = monitor.link(handle)

            def task() -> str:
                reporter = link.open()
                reporter.send("before")
                reporter.send("x" * 10_000)  # over max_frame: the monitor closes the connection
                import time

                time.sleep(scaled(0.5))  # the close reaches the task
                reporter.send("after")
                reporter.send("and after")
                return reporter.transport

            transport = await asyncio.to_thread(task)
            await monitor.until_idle(link.channel)
            return monitor.got[link.channel], transport

    got, transport = run(go())
    assert got == ["before"]  # the oversized item never reached the handler
    assert transport == "actor calls"
    assert [c[1:] for c in handle.calls] == [(0, "after"), (1, "and after")]  # numbered from 0, in order
    assert any("1009" in r.getMessage() and "connection lost" in r.getMessage() for r in caplog.records)


def test_where_no_socket_can_be_made_the_task_reports_by_actor_calls_at_once() -> None:
    handle = RecordingHandle()

    async def go() -> str:
        async with serving() as monitor:
            link = monitor.link(handle)
            assert link.endpoint is not None
        # The server is closed: nothing listens on its ports any more.
        return await asyncio.to_thread(report, link, ["one", "two"])

    assert run(go()) == "actor calls"
    assert [c[1:] for c in handle.calls] == [(0, "one"), (1, "two")]
