"""The job monitor as a plain class with a fake shard and a job kind that needs no Ray."""

import asyncio
from typing import Any

from actors.job_monitor import JobMonitor
from jobs.context import JobContext
from jobs.kinds import JobKind, Params, register_kind


class CountParams(Params):
    steps: int = 5
    fail_at: int | None = None


async def count_runner(ctx: JobContext, params: CountParams) -> dict[str, int]:
    for i in range(params.steps):
        ctx.check_cancelled()
        if params.fail_at == i:
            raise ValueError(f"step {i} broke")
        ctx.progress(100 * (i + 1) / params.steps, f"Step {i + 1} of {params.steps}")
        await asyncio.sleep(0.001)
    return {"steps": params.steps}


register_kind(JobKind("unit_count", CountParams, count_runner, lambda p: {}))


class FakeShard:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    async def publish(self, updates: list[dict[str, Any]]) -> list[int]:
        self.batches.append([dict(u) for u in updates])
        await asyncio.sleep(0.002)  # a publish call takes time: ticks coalesce meanwhile
        return list(range(len(updates)))

    @property
    def updates(self) -> list[dict[str, Any]]:
        return [u for b in self.batches for u in b]


def queued() -> dict[str, Any]:
    return {"jobId": "j1", "kind": "unit_count", "educatorId": "alice", "status": "queued",
            "progress": 0, "message": "", "createdAt": 1.0, "updatedAt": 1.0}


def run_monitor(params: dict[str, Any], interval: float = 0.0, cancel: bool = False) -> FakeShard:
    shard = FakeShard()

    async def go() -> None:
        monitor = JobMonitor(queued(), params, shard, progress_interval=interval)
        if cancel:
            await monitor.cancel()
        await monitor.run()

    asyncio.run(go())
    return shard


def test_completes_with_every_transition_and_rising_progress() -> None:
    shard = run_monitor({"steps": 20})
    statuses = [u["status"] for u in shard.updates]
    assert statuses[0] == "processing" and statuses[-1] == "completed"
    assert shard.updates[-1]["result"] == {"steps": 20} and shard.updates[-1]["progress"] == 100
    progress = [u["progress"] for u in shard.updates]
    assert progress == sorted(progress)
    assert all(u["progress"] < 100 for u in shard.updates[:-1])


def test_ticks_are_coalesced_before_they_leave() -> None:
    shard = run_monitor({"steps": 200}, interval=0.05)
    assert len(shard.updates) < 50  # 200 ticks + 2 transitions, paced to one publish per 50 ms
    assert shard.updates[-1]["status"] == "completed"


def test_failure_is_published_with_its_reason() -> None:
    shard = run_monitor({"steps": 5, "fail_at": 2})
    last = shard.updates[-1]
    assert last["status"] == "failed" and last["error"] == "step 2 broke"
    assert "step 2 broke" in last["message"]


def test_cancelled_job_ends_cancelled() -> None:
    shard = run_monitor({"steps": 5}, cancel=True)
    assert [u["status"] for u in shard.updates][-1] == "cancelled"
