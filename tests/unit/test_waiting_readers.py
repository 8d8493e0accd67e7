"""Who publishes `waiting` (PROTOCOL.md section 9), as plain classes with Ray's answers faked at their
one Ray-reading method: a registry shard for a queued job whose monitor Ray cannot place, a job's
monitor for its own tasks."""

from __future__ import annotations

import asyncio
from typing import Any

from actors.job_monitor import JobMonitor
from actors.registry import MONITOR_REGISTERED_WITHIN, Placement, RegistryShard
from hub.core.config import MonitorConfig, ShardConfig
from hub.core.stream import Envelope
from hub.core.waiting import NodeResources, PendingTasks
from jobs.context import JobContext
from jobs.kinds import JobKind, Params, register_kind
from tests.unit.conftest import FakeClock
from tests.unit.test_job_monitor import FakeShard, queued

NODES = [NodeResources({"CPU": 2.0}, {"CPU": 2.0})]


class PlacingShard(RegistryShard):
    """A shard whose monitor_placement answers from `answers` (job -> list of answers, one per read)."""

    def __init__(self, clock: FakeClock, answers: list[Any]) -> None:
        super().__init__(0, ShardConfig(waiting_grace=0.0, waiting_interval=0.01), clock)
        self.answers = answers
        self.reads = 0

    async def monitor_placement(self, job_id: str) -> Placement:
        self.reads += 1
        answer = self.answers[min(self.reads, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def job(status: str, **kw: Any) -> dict[str, Any]:
    return {**queued(), "status": status, "createdAt": 100.0, **kw}


async def messages(shard: RegistryShard) -> list[dict[str, Any]]:
    reply = await shard.pull("ing", 0, timeout=0.01)
    return [Envelope._make(raw).data for _, raw in reply.items]


def test_shard_says_why_a_queued_monitor_waits_then_stops_once_it_is_placed(clock: FakeClock) -> None:
    async def go() -> None:
        shard = PlacingShard(clock, ["absent"] + [({"some_custom_resource": 1.0}, NODES)] * 3 + ["placed"])
        await shard.attach("ing", ["alice"])
        await shard.publish([job("queued")])
        await asyncio.sleep(0.1)
        data = await messages(shard)
        assert [d["status"] for d in data] == ["queued", "queued", "queued"]
        assert "waiting" not in data[0]
        reason = "waiting for 1 some_custom_resource: the cluster's one node has none"
        assert data[1]["waiting"] == {"reason": reason, "since": 100.0}  # since: its monitor was asked for
        assert "waiting" not in data[2]  # placed: gone, and no more reads
        assert shard.reads == 5
        state = await shard.job("j1")
        assert state is not None and state.waiting is None

    asyncio.run(go())


def test_shard_counts_its_waiting_jobs_for_metrics(clock: FakeClock) -> None:
    from hub.metrics import IngressMetrics, shard_families

    async def go() -> None:
        shard = PlacingShard(clock, [({"GPU": 1.0}, NODES)])
        await shard.attach("ing", ["alice"])
        await shard.publish([job("queued"), {**job("queued"), "jobId": "j2"}])
        await asyncio.sleep(0.05)
        stats = await shard.stats()
        assert stats.jobs_waiting == 2
        text = IngressMetrics().render(shard_families([stats], "ing"))
        assert 'hub_jobs_waiting{shard="0"} 2.0' in text
        await shard.update_job("j2", {"status": "cancelled"})
        assert (await shard.stats()).jobs_waiting == 1

    asyncio.run(go())


def test_shard_stops_reading_when_the_monitor_starts_and_its_processing_carries_no_waiting(clock: FakeClock) -> None:
    async def go() -> None:
        shard = PlacingShard(clock, [({"GPU": 1.0}, NODES)])
        await shard.attach("ing", ["alice"])
        await shard.publish([job("queued")])
        await asyncio.sleep(0.05)
        assert (await shard.job("j1")).waiting is not None  # type: ignore[union-attr]
        await shard.publish([job("processing", progress=1.0)])
        reads = shard.reads
        await asyncio.sleep(0.05)
        assert shard.reads <= reads + 1 and not shard._placing
        state = await shard.job("j1")
        assert state is not None and state.status == "processing" and state.waiting is None
        assert "waiting" not in (await messages(shard))[-1]

    asyncio.run(go())


def test_shard_stops_looking_for_a_monitor_ray_never_had(clock: FakeClock) -> None:
    async def go() -> None:
        shard = PlacingShard(clock, ["absent"])  # a job a back end drives: no monitor
        await shard.attach("ing", ["alice"])
        await shard.publish([job("queued")])
        await asyncio.sleep(0.2)
        assert shard.reads == MONITOR_REGISTERED_WITHIN + 1 and not shard._placing
        assert [d.get("waiting") for d in await messages(shard)] == [None]

    asyncio.run(go())


def test_cancelling_a_waiting_job_drops_waiting(clock: FakeClock) -> None:
    async def go() -> None:
        shard = PlacingShard(clock, [({"GPU": 1.0}, NODES)])
        await shard.attach("ing", ["alice"])
        await shard.publish([job("queued")])
        await asyncio.sleep(0.05)
        cancelled = await shard.update_job("j1", {"status": "cancelled", "message": "Cancelled"})
        assert cancelled is not None and cancelled.waiting is None
        assert "waiting" not in (await messages(shard))[-1]
        await asyncio.sleep(0.05)
        assert not shard._placing

    asyncio.run(go())


def test_shard_goes_on_after_an_unreadable_ray_and_skips_placeable_monitors(clock: FakeClock) -> None:
    async def go() -> None:
        placeable = ({"CPU": 1.0}, NODES)  # pending but a node has it free: not waiting for resources
        shard = PlacingShard(clock, [RuntimeError("GCS away"), placeable, ({"CPU": 4.0}, NODES), "placed"])
        await shard.attach("ing", ["alice"])
        await shard.publish([job("queued")])
        await asyncio.sleep(0.1)
        data = await messages(shard)
        assert [d.get("waiting", {}).get("reason") for d in data] == [
            None,
            "waiting for 4 CPUs: the cluster's one node has fewer than 4 CPUs",
            None,  # placed
        ]

    asyncio.run(go())


class WaitParams(Params):
    pass


async def waits_on_tasks(ctx: JobContext, params: WaitParams) -> dict[str, Any]:
    ctx.track("task-1")  # a stand-in for a Ray ref: the faked reader below never looks at it
    await asyncio.sleep(0.2)
    ctx.progress(50, "half")
    await asyncio.sleep(0.1)
    return {}


register_kind(JobKind("unit_waits_on_tasks", WaitParams, waits_on_tasks))


class WaitingMonitor(JobMonitor):
    def __init__(
        self, shard: FakeShard, answers: list[Any], kind: str = "unit_waits_on_tasks", interval: float = 0.02
    ) -> None:
        config = MonitorConfig(progress_interval=0.0, waiting_grace=0.0, waiting_interval=interval)
        super().__init__(queued(kind), {}, shard, shard.store, config=config)  # type: ignore[arg-type]
        self.answers = answers
        self.reads = 0

    async def _tasks_waiting(self, refs: list[Any]) -> tuple[list[PendingTasks], list[NodeResources]] | None:
        assert refs == ["task-1"]
        self.reads += 1
        return self.answers[min(self.reads, len(self.answers)) - 1]


def test_monitor_says_why_its_tasks_wait_and_clears_it_once_they_run() -> None:
    shard = FakeShard()
    gpu = [PendingTasks({"CPU": 1.0, "GPU": 1.0}, 2, 123.0)]

    async def go() -> None:
        monitor = WaitingMonitor(shard, [(gpu, NODES)] * 5 + [([], NODES)])
        assert await monitor.run() == "completed"

    asyncio.run(go())
    updates = shard.updates
    assert updates[0]["status"] == "processing" and "waiting" not in updates[0]
    waits = [u.get("waiting") for u in updates]
    reason = "2 tasks waiting for 1 CPU and 1 GPU each: the cluster's one node has no GPU"
    assert {"reason": reason, "since": 123.0} in waits
    first = waits.index({"reason": reason, "since": 123.0})
    cleared = next(i for i in range(first, len(waits)) if waits[i] is None)
    assert updates[cleared]["status"] == "processing"  # gone while it still runs, before it ends
    assert "waiting" not in updates[-1] and updates[-1]["status"] == "completed"
    half = next(u for u in updates if u["progress"] == 50)
    assert half["status"] == "processing"


def test_monitor_without_tracked_tasks_reads_nothing() -> None:
    from tests.unit.test_job_monitor import run_monitor

    shard = run_monitor({"steps": 3})
    assert all("waiting" not in u for u in shard.updates)


def test_the_store_keeps_waiting_like_other_fields_and_recovery_ends_it(tmp_path: Any, clock: FakeClock) -> None:
    from actors.store import JobStore

    store = JobStore(tmp_path / "jobs.db", clock)
    why = {"reason": "1 task waiting for 1 GPU: the cluster's one node has none", "since": 90.0}
    store.save(job("processing", progress=5.0, waiting=why))
    kept = store.get("j1")
    assert kept is not None and kept.waiting is not None and kept.waiting.wire() == why
    store.recover(alive=lambda job_id: False)  # the hub stopped under it: failed, no longer waiting
    ended = store.get("j1")
    assert ended is not None and ended.status == "failed" and ended.waiting is None


class FinishingMonitor(WaitingMonitor):
    """Its tracked task waits at every reading, until the task has finished (`finished`): as Ray's task
    events would still say for a while after the task ran."""

    finished = False

    def _tasks_unfinished(self) -> bool:
        return not self.finished


async def waits_then_runs(ctx: JobContext, params: WaitParams) -> dict[str, Any]:
    ctx.track("task-1")
    await asyncio.sleep(0.2)  # the readings find it waiting
    monitor: Any = ctx
    monitor.finished = True  # the task has run
    ctx.progress(95, "Ran")
    return {}


register_kind(JobKind("unit_waits_then_runs", WaitParams, waits_then_runs))


def test_monitor_drops_waiting_from_the_first_update_after_its_tasks_ran() -> None:
    """PROTOCOL.md section 9: `waiting` is absent once they run, not left until the next reading."""
    shard = FakeShard()
    gpu = [PendingTasks({"GPU": 1.0}, 1, 123.0)]

    async def go() -> None:
        # one reading at once, the next long after the job has ended
        monitor = FinishingMonitor(shard, [(gpu, NODES)], "unit_waits_then_runs", interval=10.0)
        assert await monitor.run() == "completed"
        assert monitor.reads == 1

    asyncio.run(go())
    waits = [u for u in shard.updates if "waiting" in u]
    assert waits and all(u["progress"] < 95 for u in waits)  # it waited, before it ran
    ran = next(u for u in shard.updates if u["progress"] == 95)
    assert ran["status"] == "processing" and "waiting" not in ran
