"""Coalescing calls into one actor, by DESIGN.md's batching rule: a call goes out at once when
nothing is in flight; while one is under way, what arrives waits and leaves as one batch call when
it returns. So an idle hub adds no delay, and a burst (a reconnect storm, an ingress draining)
costs a few actor calls instead of one per connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """`await call(item)` -> this item's result, from `send(items) -> results` (one per item, in
    order) called with everything that queued while the previous send was under way."""

    def __init__(self, send: Callable[[list[T]], Awaitable[list[R]]], max_batch: int = 100) -> None:
        self._send = send
        self.max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self.calls = 0  # batch calls made (for tests and metrics)

    async def call(self, item: T) -> R:
        """This item's result: sent at once when no batch is in flight, else with the next batch (at
        most `max_batch` items a call). Needs a running event loop. Raises what `send` raised for the
        whole batch (every caller of that batch gets the same exception), RuntimeError when `send`
        returned another number of results than items, CancelledError when the batch task is cancelled
        (the loop is closing). A caller that stops waiting does not stop the batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if self._task is None:
            self._task = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                self.calls += 1
                try:
                    results = await self._send([item for item, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"{len(results)} results for {len(batch)} calls")
                except Exception as exc:  # every caller of the batch gets the failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # a caller that gave up (its client left) is skipped
                        future.set_result(result)
        except BaseException:  # cancelled (the loop is closing): so is every caller still waiting
            for _, future in batch + self._queue:
                future.cancel()
            self._queue = []
            raise
        finally:
            self._task = None
