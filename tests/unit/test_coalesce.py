"""actors.coalesce: calls go out at once when idle and coalesce while one is under way."""

from __future__ import annotations

import asyncio

import pytest

from actors.coalesce import Coalescer


class Recorder:
    """A batch call that holds until released, recording each batch."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail = fail

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return [10 * i for i in items]


def test_an_idle_call_goes_alone_and_a_burst_waits_for_one_batch() -> None:
    async def go() -> None:
        rec = Recorder()
        c: Coalescer[int, int] = Coalescer(rec, max_batch=3)
        first = asyncio.ensure_future(c.call(1))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert rec.batches == [[1]]  # sent at once, nothing held back
        rest = [asyncio.ensure_future(c.call(i)) for i in range(2, 7)]
        await asyncio.sleep(0)
        assert rec.batches == [[1]]  # while it is under way the others wait
        rec.release.set()
        assert await first == 10
        assert await asyncio.gather(*rest) == [20, 30, 40, 50, 60]
        assert rec.batches == [[1], [2, 3, 4], [5, 6]]  # in order, at most max_batch a call
        assert c.calls == 3
        assert await c.call(7) == 70  # idle again: a new call goes at once
        assert rec.batches[-1] == [7]

    asyncio.run(go())


def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_still_goes() -> None:
    async def go() -> None:
        rec = Recorder(fail=RuntimeError("shard down"))
        c: Coalescer[int, int] = Coalescer(rec)
        calls = [asyncio.ensure_future(c.call(i)) for i in range(3)]
        await asyncio.sleep(0)
        rec.release.set()
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        rec.fail = None
        assert await c.call(5) == 50

    asyncio.run(go())


def test_a_caller_that_gives_up_does_not_disturb_the_others() -> None:
    async def go() -> None:
        rec = Recorder()
        c: Coalescer[int, int] = Coalescer(rec)
        gone = asyncio.ensure_future(c.call(1))
        kept = asyncio.ensure_future(c.call(2))
        await asyncio.sleep(0)
        gone.cancel()
        rec.release.set()
        assert await kept == 20
        with pytest.raises(asyncio.CancelledError):
            await gone

    asyncio.run(go())


def test_a_wrong_number_of_results_fails_the_batch_instead_of_misrouting() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    async def go() -> None:
        c: Coalescer[int, int] = Coalescer(short)
        calls = [asyncio.ensure_future(c.call(i)) for i in range(2)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)

    asyncio.run(go())


def test_cancelling_the_batch_task_cancels_its_callers() -> None:
    async def go() -> None:
        rec = Recorder()
        c: Coalescer[int, int] = Coalescer(rec)
        calls = [asyncio.ensure_future(c.call(i)) for i in range(2)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert c._task is not None
        c._task.cancel()
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)

    asyncio.run(go())
