"""Task links: how a job's Ray task reports to its job's monitor (issue 15, item 3). Pure: the frame
codec and the monitor's bookkeeping of its links; the socket (actors/tasklink.py) and the task's
side (jobs/tasklink.py) are adapters around it.

A task gets a link (made by its monitor: `JobContext.link`) and sends items through it: a frame over
a WebSocket to its monitor (plain on the node's loopback, TLS from another node; `bench/task_progress.py`:
a socket costs 0.3-0.5 x a streaming generator item's CPU at a quarter of its latency), else an actor
call to the monitor. Each frame is msgpack `[channel, item]`: the link's channel number and any
msgpack value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack


class LinkFrameError(ValueError):
    """A frame that is not a link frame: not binary, not msgpack, not [channel, item], or for a
    channel the monitor does not hold. The frame is dropped (and logged); the connection stays."""


def encode(channel: int, item: Any) -> bytes:
    """A link frame: msgpack [channel, item]. TypeError for an item msgpack cannot carry."""
    return bytes(msgpack.packb([channel, item]))


def decode(frame: bytes | str) -> tuple[int, Any]:
    """(channel, item) of a link frame; LinkFrameError saying what is wrong with one that is not."""
    if not isinstance(frame, bytes):
        raise LinkFrameError("a text frame: link frames are binary msgpack")
    try:
        value = msgpack.unpackb(frame)
    except Exception as exc:  # msgpack raises several kinds: ExtraData, FormatError, ValueError, ...
        raise LinkFrameError(f"not msgpack ({type(exc).__name__})") from None
    if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int):
        raise LinkFrameError("not a [channel, item] pair")
    return value[0], value[1]


class Links:
    """A monitor's links: per channel, the function items go to and whether a connection for it is
    open. Channels are numbered from 1 in the order made; a channel is never reused."""

    # Items by actor call a channel holds back at most, waiting for an earlier one (Ray runs an
    # async actor's calls in no set order); past it the item is refused.
    HOLD_MAX = 10_000

    def __init__(self) -> None:
        self._handlers: dict[int, Callable[[Any], None]] = {}
        self._open: dict[int, int] = {}  # channel -> connections open for it
        self._next_call: dict[int, int] = {}  # channel -> the number of the next actor-call item due
        self._held: dict[int, dict[int, Any]] = {}  # channel -> {number: item} that came early

    def add(self, on_item: Callable[[Any], None]) -> int:
        """A new channel whose items go to `on_item`; returns its number."""
        channel = len(self._handlers) + 1
        self._handlers[channel] = on_item
        return channel

    def knows(self, channel: int) -> bool:
        """True for a channel `add` made."""
        return channel in self._handlers

    def deliver(self, channel: int, item: Any) -> None:
        """Give `item` to the channel's function (what it raises comes out); LinkFrameError for a
        channel this monitor did not make."""
        handler = self._handlers.get(channel)
        if handler is None:
            raise LinkFrameError(f"no link {channel!r} at this monitor")
        handler(item)

    def deliver_call(self, channel: int, number: int, item: Any) -> None:
        """Give the actor-call path's item `number` (0, 1, ... per channel) to the channel's function
        in number order: one that comes early is held until those before it came; one that came
        before (a retried call) is dropped. LinkFrameError for an unknown channel or a number more
        than HOLD_MAX ahead. What the function raises comes out (the items held behind it stay)."""
        if channel not in self._handlers:
            raise LinkFrameError(f"no link {channel!r} at this monitor")
        due = self._next_call.get(channel, 0)
        if number < due:
            return
        if number - due > self.HOLD_MAX:
            raise LinkFrameError(f"item {number} of link {channel} is too far ahead of {due}")
        held = self._held.setdefault(channel, {})
        held[number] = item
        while due in held:
            item = held.pop(due)
            due += 1
            self._next_call[channel] = due
            self._handlers[channel](item)

    def opened(self, channel: int) -> None:
        """A connection for `channel` was accepted (before the task can send on it)."""
        self._open[channel] = self._open.get(channel, 0) + 1

    def closed(self, channel: int) -> None:
        """A connection for `channel` ended, every frame before its end delivered."""
        self._open[channel] -= 1
        if not self._open[channel]:
            del self._open[channel]

    def busy(self, channel: int) -> bool:
        """True while a connection for `channel` is open: frames may still be on their way."""
        return channel in self._open
