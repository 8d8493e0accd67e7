"""The task's side of a task link (hub.core.tasklink): a job's Ray task reports to its job's monitor
through the TaskLink the monitor made (`JobContext.link`) and passed to it as an argument:

    @ray.remote
    def work(n: int, link: TaskLink) -> int:
        with link.open() as report:
            for i in range(n):
                report.progress(100 * i / n, f"step {i + 1} of {n}")   # or report.send(any msgpack value)
        return n

On the monitor's node each item is a WebSocket frame to the monitor (the websockets library, msgpack,
the monitor's token; loopback only, so nothing crosses a network); on another node, where no socket
can be made, or once one breaks, it is an actor call to the monitor (logged once). Items arrive in
the order sent (an item being sent when a socket breaks may arrive twice)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from hub.core.tasklink import LinkAddress, encode

log = logging.getLogger("hub.job")


@dataclass(frozen=True)
class TaskLink:
    """A link from a Ray task to its job's monitor (picklable: pass it to the task). `channel`: its
    number at the monitor; `address`: the monitor's link socket (None: it serves none, actor calls
    only); `monitor`: the monitor's Ray actor handle, for the actor-call path (None: no such path, as
    in unit tests)."""

    channel: int
    address: LinkAddress | None
    monitor: Any = None

    def open(self) -> Reporter:
        """Connect (at most `open_timeout`, 5 s, then the actor-call path) and return the Reporter; use
        it as a context manager so the link is closed when the task is done."""
        return Reporter(self)


class Reporter:
    """What a task sends items through (TaskLink.open). Not for use after `close`."""

    def __init__(self, link: TaskLink, open_timeout: float = 5.0) -> None:
        self.link = link
        self.sent = 0  # items sent, either way
        self._last_call: Any = None  # the newest actor call's ref (close waits for it)
        self._ws: Any = self._connect(open_timeout)

    def _connect(self, open_timeout: float) -> Any:
        address = self.link.address
        if address is None:
            return None
        import ray

        if ray.is_initialized() and ray.get_runtime_context().get_node_id() != address.node_id:
            return None  # the monitor's socket is on its node's loopback only: actor calls
        from websockets.sync.client import connect

        try:
            return connect(
                f"{address.url}/{self.link.channel}",
                additional_headers={"Authorization": f"Bearer {address.token}"},
                compression=None,
                open_timeout=open_timeout,
            )
        except Exception as exc:  # refused, timed out, rejected (4xx): the actor-call path instead
            log.warning(
                "task link %d: no socket to the job's monitor (%s); reporting by actor calls", self.link.channel, exc
            )
            return None

    @property
    def over_socket(self) -> bool:
        """True while items go over the socket (False: by actor calls)."""
        return self._ws is not None

    def send(self, item: Any) -> None:
        """Send `item` (any value msgpack carries: None, bool, int, float, str, bytes, lists, dicts
        with str keys) to the link's handler at the monitor. TypeError for a value msgpack cannot
        carry; RuntimeError when neither a socket nor the monitor's handle is there."""
        frame = encode(self.link.channel, item)
        if self._ws is not None:
            try:
                self._ws.send(frame)
                self.sent += 1
                return
            except Exception as exc:  # the socket broke: the rest go by actor calls
                log.warning("task link %d: socket lost (%s); reporting by actor calls", self.link.channel, exc)
                self._close_socket()
        if self.link.monitor is None:
            raise RuntimeError("this task link has no socket and no monitor handle to report to")
        self._last_call = self.link.monitor.link_item.remote(self.link.channel, item)
        self.sent += 1

    def progress(self, percent: float, message: str, **fields: Any) -> None:
        """A progress call for a link made with no handler of its own (`JobContext.link()`): the
        monitor calls `JobContext.progress(percent, message, **fields)` with it."""
        self.send([float(percent), message, fields] if fields else [float(percent), message])

    def _close_socket(self) -> None:
        ws, self._ws = self._ws, None
        try:
            ws.close()
        except Exception:  # already broken: nothing to close
            pass

    def close(self) -> None:
        """Close the socket (the monitor delivers every frame before it notices the close) and wait
        (up to 10 s) for the last actor call to have run, so whatever the task returns reaches the
        monitor after its items."""
        if self._ws is not None:
            self._close_socket()
        if self._last_call is not None:
            import ray

            try:
                ray.get(self._last_call, timeout=10)
            except Exception as exc:  # the monitor is gone or slow: the task's result still goes
                log.warning("task link %d: last report not confirmed (%s)", self.link.channel, exc)

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
