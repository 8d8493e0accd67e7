"""Task links (issue 15 item 3): the frame codec, a monitor's link bookkeeping, and a job monitor
taking its tasks' items by the actor-call path (no Ray, no socket here: tests/integration runs the
socket and Ray)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgpack
import pytest

from actors.job_monitor import JobMonitor
from hub.core.config import MonitorConfig
from hub.core.eta import KindPace
from hub.core.tasklink import LinkFrameError, Links, decode, encode
from jobs.context import JobContext
from jobs.kinds import JobKind, Params, register_kind
from jobs.tasklink import TaskLink


def test_a_frame_round_trips_channel_and_item() -> None:
    item = [0.5, "Reading page 3 of 6", {"stage": "parsing"}]
    assert decode(encode(7, item)) == (7, item)
    assert decode(encode(1, None)) == (1, None)


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ("[1, 2]", "text frame"),
        (b"\xc1", "not msgpack"),
        (b"", "not msgpack"),
        (msgpack.packb([1, 2]) + b"\x00", "not msgpack"),  # trailing bytes
        (msgpack.packb({"channel": 1}), "pair"),
        (msgpack.packb([1]), "pair"),
        (msgpack.packb(["1", "x"]), "pair"),
        (msgpack.packb([True, "x"]), "pair"),  # a bool is not a channel number
        (msgpack.packb([1.0, "x"]), "pair"),
    ],
)
def test_a_frame_that_is_not_a_link_frame_is_refused_with_a_reason(frame: bytes | str, says: str) -> None:
    with pytest.raises(LinkFrameError, match=says):
        decode(frame)


def test_an_item_msgpack_cannot_carry_is_refused_at_the_sender() -> None:
    with pytest.raises(TypeError):
        encode(1, object())


def test_links_deliver_to_their_own_handler_and_know_only_their_channels() -> None:
    links = Links()
    got: dict[str, list[Any]] = {"a": [], "b": []}
    a, b = links.add(got["a"].append), links.add(got["b"].append)
    assert (a, b) == (1, 2) and links.knows(1) and not links.knows(3)
    links.deliver(b, "x")
    links.deliver(a, "y")
    assert got == {"a": ["y"], "b": ["x"]}
    with pytest.raises(LinkFrameError, match="no link 3"):
        links.deliver(3, "z")


def test_a_link_is_busy_while_any_connection_for_it_is_open() -> None:
    links = Links()
    ch = links.add(lambda item: None)
    assert not links.busy(ch)
    links.opened(ch)
    links.opened(ch)  # a task that reconnected
    links.closed(ch)
    assert links.busy(ch)
    links.closed(ch)
    assert not links.busy(ch)


def test_actor_call_items_are_handled_in_number_order_whatever_order_they_come_in() -> None:
    """Ray runs an async actor's calls in no set order (seen: a task's ticks 2, 3, 1, 4, 5)."""
    links = Links()
    got: list[str] = []
    ch = links.add(got.append)
    for number in (1, 2, 0, 4, 3, 2, 5):  # 2 comes twice: a retried call
        links.deliver_call(ch, number, f"t{number}")
    assert got == ["t0", "t1", "t2", "t3", "t4", "t5"]
    with pytest.raises(LinkFrameError, match="too far ahead"):
        links.deliver_call(ch, 6 + Links.HOLD_MAX + 1, "far")
    with pytest.raises(LinkFrameError, match="no link 9"):
        links.deliver_call(9, 0, "x")
    links.deliver_call(ch, 6, "t6")
    assert got[-1] == "t6"


# -- a monitor taking its tasks' items --------------------------------------------------------------


class NoShard:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    async def publish(self, updates: list[dict[str, Any]]) -> Any:
        from hub.core.records import PublishReply

        self.updates.extend(dict(u) for u in updates)
        return PublishReply("e", list(range(len(updates))))

    async def publish_message(self, *args: Any) -> int:
        return 0

    async def ping(self) -> str:
        return "e"


class NoStore:
    def __init__(self) -> None:
        self.result: Any = None

    async def save(self, state: dict[str, Any], result: Any = None) -> None:
        if result is not None:
            self.result = result

    async def educator_stats(self, educator_id: str) -> dict[str, Any]:
        return {}

    async def kind(self, name: str) -> Any:
        return None

    async def kind_pace(self, name: str, blob: bool, last: int) -> KindPace:
        return KindPace(None, None)

    async def record_pace(self, job_id: str, kind: str, seconds_per_item: float, keep: int) -> None:
        pass


class LinkParams(Params):
    items: list[Any] = []
    own_handler: bool = False


async def link_runner(ctx: JobContext, params: LinkParams) -> dict[str, Any]:
    """Makes a link and plays the task's side by the actor-call path (JobMonitor.link_item)."""
    seen: list[Any] = []
    link = await ctx.link(seen.append if params.own_handler else None)
    assert isinstance(link, TaskLink) and link.endpoint is None and link.monitor is None  # off Ray: no socket
    monitor: Any = ctx
    for number, item in enumerate(params.items):
        await monitor.link_item(link.channel, number, item)
    await monitor.link_item(link.channel + 99, 0, "for nobody")
    await ctx.drained(link)  # no connection open: at once
    return {"seen": seen}


register_kind(JobKind("unit_link", LinkParams, link_runner))


def thread_link_runner(ctx: Any, params: LinkParams) -> dict[str, Any]:
    """A plain-function kind (on a worker thread): link and drained block instead of being awaited."""
    seen: list[Any] = []
    link = ctx.link(seen.append)
    assert isinstance(link, TaskLink) and link.channel == 1
    ctx.drained(link)
    return {"channel": link.channel, "seen": seen}


register_kind(JobKind("unit_thread_link", LinkParams, thread_link_runner))


def run_link_job(params: dict[str, Any], kind: str = "unit_link") -> tuple[NoShard, str, Any]:
    """Run a `unit_link` job; returns (its shard, its final status, its result)."""
    shard = NoShard()
    store = NoStore()

    async def go() -> str:
        state = {
            "jobId": "j1",
            "kind": kind,
            "educatorId": "alice",
            "status": "queued",
            "progress": 0,
            "message": "",
            "createdAt": 1.0,
            "updatedAt": 1.0,
        }
        monitor = JobMonitor(state, params, shard, store, config=MonitorConfig(progress_interval=0.0))  # type: ignore[arg-type]
        return await monitor.run()

    status = asyncio.run(go())
    return shard, status, store.result


def test_a_links_items_without_a_handler_are_progress_calls_and_malformed_ones_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "hub.job")
    items = [
        [20, "a fifth"],
        [40.5, "stage two", {"stage": "indexing"}],
        ["x", "no percent"],
        [50],
        "text",
        [60, "more"],
    ]
    shard, status, _ = run_link_job({"items": items})
    assert status == "completed"
    got = [(u["progress"], u["message"]) for u in shard.updates if u["status"] == "processing"][1:]
    assert got == [(20, "a fifth"), (40.5, "stage two"), (60, "more")]
    assert [u.get("stage") for u in shard.updates if u["message"] == "stage two"] == ["indexing"]
    assert sum("not [percent, message(, fields)]" in r.getMessage() for r in caplog.records) == 3
    assert any("no link 100" in r.getMessage() for r in caplog.records)


def test_a_links_items_go_to_its_own_handler_in_order() -> None:
    items = [["stage", "parsing"], [0.5, "half"], {"any": ["msgpack", 1]}]
    shard, status, result = run_link_job({"items": items, "own_handler": True})
    assert status == "completed"
    assert result == {"seen": items}
    assert [u["status"] for u in shard.updates] == ["processing", "completed"]  # "Starting": no progress calls


def test_a_plain_function_kind_makes_and_drains_links_from_its_thread() -> None:
    _, status, result = run_link_job({}, kind="unit_thread_link")
    assert status == "completed" and result == {"channel": 1, "seen": []}


def test_drained_waits_for_an_open_connection_and_gives_up_after_task_link_drain(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def go() -> tuple[float, float]:
        monitor = JobMonitor(
            {
                "jobId": "j2",
                "kind": "unit_link",
                "educatorId": "alice",
                "status": "queued",
                "progress": 0,
                "message": "",
                "createdAt": 1.0,
                "updatedAt": 1.0,
            },
            {},
            NoShard(),  # type: ignore[arg-type]
            NoStore(),  # type: ignore[arg-type]
            config=MonitorConfig(task_link_drain=0.2),
        )
        link = await monitor.link(lambda item: None)
        links = monitor._links
        loop = asyncio.get_running_loop()
        links.opened(link.channel)  # as the link server does when a task connects

        def close() -> None:
            links.closed(link.channel)
            monitor._links_idle()

        loop.call_later(0.05, close)
        t0 = loop.time()
        await monitor.drained(link)
        closed_after = loop.time() - t0
        links.opened(link.channel)  # a connection that never closes
        t0 = loop.time()
        await monitor.drained(link)
        return closed_after, loop.time() - t0

    caplog.set_level(logging.WARNING, "hub.job")
    closed_after, gave_up_after = asyncio.run(go())
    assert 0.04 <= closed_after < 0.2
    assert 0.19 <= gave_up_after < 1.0
    assert any("still open after its task" in r.getMessage() for r in caplog.records)


# -- the task's side, by the actor-call path (no endpoint: no socket is tried) ----------------------


class RecordingHandle:
    """Stands for the monitor's actor handle: `link_item.remote(...)` records its arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.link_item = self

    def remote(self, *args: Any) -> tuple[Any, ...]:
        self.calls.append(args)
        return args


def test_a_reporter_without_a_socket_numbers_its_actor_calls_from_zero() -> None:
    from jobs.tasklink import Reporter

    monitor = RecordingHandle()
    report = Reporter(TaskLink(3, None, monitor))
    assert report.transport == "actor calls"
    report.send(["stage", "parsing"])
    report.progress(12.5, "Reading page 1 of 8")
    report.progress(20, "Indexing", stage="indexing")
    assert monitor.calls == [
        (3, 0, ["stage", "parsing"]),
        (3, 1, [12.5, "Reading page 1 of 8"]),
        (3, 2, [20.0, "Indexing", {"stage": "indexing"}]),
    ]
    assert report.sent == 3
    with pytest.raises(TypeError):
        report.send(object())  # refused before anything goes
    assert report.sent == 3


def test_a_reporter_with_nothing_to_report_to_says_so() -> None:
    from jobs.tasklink import Reporter

    with pytest.raises(RuntimeError, match="no socket and no monitor handle"):
        Reporter(TaskLink(1, None, None)).send([1, "x"])
