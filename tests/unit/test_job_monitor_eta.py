"""The job monitor's ETA before the first progress (hub.core.eta), with a fake shard and store: the first
`processing` carries `etaSeconds` when the kind has a recorded pace, none when not; the pace is read in
one store call (with a custom kind's code) that a slow or failing store cannot hold up or break; a
completed job records its pace, a failed, cancelled or restarted one does not."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.job_monitor import JobMonitor
from hub.core.config import MonitorConfig
from hub.core.errors import UpstreamError
from hub.core.eta import KindPace
from hub.core.jobstate import JobState
from hub.core.records import PublishReply
from jobs.context import JobContext
from jobs.kinds import JobKind, Params, register_kind
from tests.unit import test_job_monitor


class SizedParams(Params):
    items: int = 4
    wait: float = 0.0  # seconds the job waits before its one progress tick
    tick: float = 2.0  # that tick's percent
    fail: bool = False

    def job_size(self) -> float:
        return float(self.items)


async def sized_runner(ctx: JobContext, params: SizedParams) -> dict[str, int]:
    await asyncio.sleep(params.wait)
    if params.fail:
        raise ValueError("broke")
    ctx.progress(params.tick, "Working")
    await asyncio.sleep(0.01)
    return {"items": params.items}


SIZED = register_kind(JobKind("unit_eta_sized", SizedParams, sized_runner))


class Shard:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    async def publish(self, updates: list[dict[str, Any]]) -> PublishReply:
        self.updates.extend(dict(u) for u in updates)
        return PublishReply("e", list(range(len(updates))))

    async def publish_message(self, *args: Any) -> int:
        return 0

    async def ping(self) -> str:
        return "e"

    async def job(self, job_id: str) -> JobState | None:
        return None  # a restarted monitor asks what the shard holds: nothing here

    def first(self, status: str) -> dict[str, Any]:
        return next(u for u in self.updates if u["status"] == status)


class Store:
    """A job store that knows one pace (seconds per item) and, optionally, one custom kind's blob."""

    def __init__(self, pace: float | None = None, *, delay: float = 0.0, fails: bool = False, blob: Any = None) -> None:
        self.pace, self.delay, self.fails, self.blob = pace, delay, fails, blob
        self.reads: list[tuple[str, bool, int]] = []
        self.recorded: list[tuple[str, str, float, int]] = []
        self.record: dict[str, Any] | None = None  # a job as a lost monitor last recorded it
        self.kind_calls = 0

    async def save(self, state: dict[str, Any], result: Any = None) -> None:
        pass

    async def get(self, job_id: str) -> JobState | None:
        return JobState.model_validate(self.record) if self.record else None

    async def items(self, job_id: str) -> list[tuple[int, int | None, Any]]:
        return []  # no partial results kept (actors.job_items)

    async def educator_stats(self, educator_id: str) -> dict[str, Any]:
        return {}

    async def kind(self, name: str) -> Any:
        self.kind_calls += 1
        return self.blob

    async def kind_pace(self, name: str, blob: bool, last: int) -> KindPace:
        self.reads.append((name, blob, last))
        await asyncio.sleep(self.delay)
        if self.fails:
            raise UpstreamError("the hub's job store did not answer; try again in a moment")
        return KindPace(self.pace, self.blob if blob else None)

    async def record_pace(self, job_id: str, kind: str, seconds_per_item: float, keep: int) -> None:
        self.recorded.append((job_id, kind, seconds_per_item, keep))


def queued(kind: str = SIZED.name) -> dict[str, Any]:
    return test_job_monitor.queued(kind)


def run(
    store: Store,
    params: dict[str, Any],
    *,
    kind: str = SIZED.name,
    config: MonitorConfig | None = None,
    restarted: bool = False,
    cancel_after: float | None = None,
) -> tuple[Shard, str]:
    """Run one job; returns the shard and the final status."""
    shard = Shard()
    config = config or MonitorConfig(progress_interval=0.0)

    async def go() -> str:
        monitor = JobMonitor(queued(kind), params, shard, store, config=config, restarted=restarted)  # type: ignore[arg-type]
        task = asyncio.ensure_future(monitor.run())
        if cancel_after is not None:
            await asyncio.sleep(cancel_after)
            await monitor.cancel()
        return await task

    return shard, asyncio.run(go())


def test_the_first_processing_of_a_kind_with_a_recorded_pace_carries_its_prior() -> None:
    store = Store(pace=0.5)
    shard, status = run(store, {"items": 8})
    assert status == "completed"
    first = shard.first("processing")
    assert first["progress"] == 1.0 and first["etaSeconds"] == pytest.approx(4.0, abs=0.05)  # 0.5 s x 8 items
    assert store.reads == [(SIZED.name, False, MonitorConfig().eta_pace_jobs)]  # one read, no blob for a built-in


def test_the_prior_scales_with_the_jobs_size() -> None:
    small = run(Store(pace=0.25), {"items": 6})[0].first("processing")["etaSeconds"]
    large = run(Store(pace=0.25), {"items": 12})[0].first("processing")["etaSeconds"]
    assert large == pytest.approx(2 * small, rel=0.02)


def test_a_kind_never_run_before_has_no_eta_in_its_first_processing() -> None:
    shard, status = run(Store(pace=None), {"items": 8})
    assert status == "completed" and "etaSeconds" not in shard.first("processing")


def test_the_prior_counts_down_until_progress_gives_the_jobs_own_rate() -> None:
    shard, _ = run(Store(pace=0.5), {"items": 8, "wait": 0.3, "tick": 2.0})
    ticks = [u for u in shard.updates if u["status"] == "processing"]
    assert len(ticks) == 2
    first, second = ticks[0]["etaSeconds"], ticks[1]["etaSeconds"]
    took = ticks[1]["updatedAt"] - ticks[0]["updatedAt"]
    assert took >= 0.25 and second == pytest.approx(first - took, abs=0.05)  # counted down by the clock


def test_a_slow_store_does_not_hold_up_processing_and_the_eta_comes_with_the_next_message() -> None:
    """The store answers the pace only once `processing` has gone out: that message goes without it (after
    eta_pace_wait), the next one carries it."""

    class HeldStore(Store):
        async def kind_pace(self, name: str, blob: bool, last: int) -> KindPace:
            while "processing" not in [u["status"] for u in shard.updates]:
                await asyncio.sleep(0.01)
            return await super().kind_pace(name, blob, last)

    shard = Shard()
    store = HeldStore(pace=0.5)
    config = MonitorConfig(progress_interval=0.0, eta_pace_wait=0.05)

    async def go() -> str:
        monitor = JobMonitor(queued(), {"items": 8, "wait": 0.3}, shard, store, config=config)  # type: ignore[arg-type]
        return await asyncio.wait_for(monitor.run(), 10)

    assert asyncio.run(go()) == "completed"
    first, later = [u for u in shard.updates if u["status"] == "processing"]
    assert "etaSeconds" not in first
    took = later["updatedAt"] - first["updatedAt"]
    assert later["etaSeconds"] == pytest.approx(4.0 - took, abs=0.05)


def test_a_pace_the_store_cannot_read_leaves_the_job_running_without_a_prior() -> None:
    shard, status = run(Store(pace=0.5, fails=True), {"items": 8})
    assert status == "completed" and "etaSeconds" not in shard.first("processing")


def test_a_custom_kinds_code_and_pace_come_in_the_same_store_call() -> None:
    from ray import cloudpickle

    custom = JobKind("unit_eta_custom", SizedParams, sized_runner)  # not registered in this process
    store = Store(pace=1.5, blob=cloudpickle.dumps(custom))
    shard, status = run(store, {"items": 2}, kind=custom.name)
    assert status == "completed"
    assert store.reads == [(custom.name, True, MonitorConfig().eta_pace_jobs)] and store.kind_calls == 0
    assert shard.first("processing")["etaSeconds"] == pytest.approx(3.0, abs=0.05)


def test_a_completed_job_records_its_seconds_per_item() -> None:
    store = Store(pace=None)
    config = MonitorConfig(progress_interval=0.0, eta_pace_jobs=7)
    shard, status = run(store, {"items": 4, "wait": 0.2}, config=config)
    assert status == "completed" and len(store.recorded) == 1
    job_id, kind, pace, keep = store.recorded[0]
    took = shard.first("completed")["updatedAt"] - shard.first("processing")["updatedAt"]
    assert (job_id, kind, keep) == ("j1", SIZED.name, 7)
    assert pace == pytest.approx(took / 4, abs=0.005) and pace > 0.2 / 4


def test_failed_cancelled_and_restarted_jobs_record_no_pace() -> None:
    failed = Store(pace=0.5)
    assert run(failed, {"fail": True})[1] == "failed" and failed.recorded == []
    cancelled = Store(pace=0.5)
    assert run(cancelled, {"wait": 1.0}, cancel_after=0.1)[1] == "cancelled" and cancelled.recorded == []
    restarted = Store(pace=0.5)
    restarted.record = {**queued(), "status": "processing", "progress": 40.0}
    shard, status = run(restarted, {"items": 8}, restarted=True)
    assert status == "completed" and shard.first("processing")["attempt"] == 2
    assert restarted.recorded == []  # its time counts from the restart, not the job's start
    # but it has its prior, for the share still left: it goes on from 40 % (hub.core.eta.run_eta)
    assert shard.first("processing")["progress"] == 40.0
    assert shard.first("processing")["etaSeconds"] == pytest.approx(0.5 * 8 * 0.6, abs=0.05)
