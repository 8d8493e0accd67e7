"""The registry shard as a plain class: streams, job states, long-poll feeds. No Ray."""

import asyncio
from typing import Any

from actors.registry import RegistryShard
from hub.settings import ShardConfig
from tests.unit.conftest import FakeClock


def state(job: str, status: str, progress: float = 0.0, educator: str = "alice", **kw: Any) -> dict[str, Any]:
    return {"jobId": job, "kind": "quiz_generation", "educatorId": educator, "quizId": "q",
            "status": status, "progress": progress, "message": status, "createdAt": 1.0,
            "updatedAt": 1.0, **kw}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def shard(clock: FakeClock, **cfg: Any) -> RegistryShard:
    return RegistryShard(0, ShardConfig(**cfg), clock)


def test_publish_assigns_seqs_marks_ticks_and_keeps_latest_state(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        await s.attach("ing", ["alice"])
        seqs = await s.publish([state("j1", "queued"), state("j1", "processing", 10),
                                state("j1", "processing", 20), state("j1", "completed", 100, result={"ok": 1})])
        assert seqs == [1, 2, 3, 4]
        reply = await s.pull("ing", 0)
        ticks = [env.tick for _, env in reply["items"]]
        assert ticks == [False, False, True, False]
        assert (await s.job("j1"))["status"] == "completed"
        assert (await s.result("j1"))[1] == {"ok": 1}
    run(go())


def test_late_update_cannot_undo_a_terminal_status(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        await s.publish([state("j1", "queued"), state("j1", "cancelled")])
        assert await s.publish([state("j1", "processing", 50)]) == [0]
        assert (await s.job("j1"))["status"] == "cancelled"
    run(go())


def test_hello_snapshot_then_resume(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        await s.publish([state("j1", "queued"), state("j2", "queued")])
        fresh = await s.hello("ing", "alice", None)
        assert not fresh["resumed"] and fresh["seq"] == 2
        assert [j["jobId"] for j in fresh["snapshot"]] == ["j2", "j1"]  # newest first
        await s.publish([state("j1", "processing", 5)])
        resumed = await s.hello("ing", "alice", (fresh["epoch"], 2))
        assert resumed["resumed"] and [e.seq for e in resumed["messages"]] == [3]
        stale = await s.hello("ing", "alice", ("old-epoch", 2))
        assert not stale["resumed"] and stale["snapshot"]
    run(go())


def test_pull_waits_then_returns_everything_new_only_for_watched_educators(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        assert (await s.pull("ing", 0))["unknown"]
        await s.attach("ing", ["alice"])
        waiter = asyncio.ensure_future(s.pull("ing", 0, 5.0))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        await s.publish([state("j9", "queued", educator="bob"), state("j1", "queued"), state("j2", "queued")])
        reply = await asyncio.wait_for(waiter, 1.0)
        assert [env.data["jobId"] for _, env in reply["items"]] == ["j1", "j2"]
        empty = await s.pull("ing", reply["items"][-1][0], 0.01)
        assert empty["items"] == [] and not empty["unknown"]
    run(go())


def test_lapsed_ingress_is_detached(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock, ingress_lease=10.0)
        await s.attach("dead", ["alice"])
        await s.attach("live", ["alice"])
        clock.advance(11)
        await s.pull("live", 0, 0.01)
        assert "dead" not in s.feeds and "live" in s.feeds
    run(go())


def test_history_and_jobs_are_bounded(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock, history_max=5, jobs_per_educator=3)
        for i in range(10):
            await s.publish([state(f"j{i}", "queued"), state(f"j{i}", "failed", error="x")])
        assert len(s.streams["alice"]) == 5
        assert len(await s.jobs_of("alice")) == 3
    run(go())
