"""The job monitor as a plain class with a fake shard and a job kind that needs no Ray."""

import asyncio
import logging
import re
from typing import Any

import pytest

from actors.job_monitor import JobMonitor
from hub.core.config import MonitorConfig
from hub.core.errors import InvalidInput
from hub.core.eta import KindPace
from hub.core.jobstate import JobState
from hub.core.records import PublishReply
from jobs.context import JobContext
from jobs.kinds import JobKind, Params, register_kind


class CountParams(Params):
    steps: int = 5
    fail_at: int | None = None
    bad_input_at: int | None = None


async def count_runner(ctx: JobContext, params: CountParams) -> dict[str, int]:
    for i in range(params.steps):
        ctx.check_cancelled()
        if params.fail_at == i:
            raise ValueError(f"step {i} broke in /srv/hub/jobs/secret.py (pid 4242)")
        if params.bad_input_at == i:
            raise InvalidInput(f"Row {i} of your spreadsheet has no answer column.")
        ctx.progress(100 * (i + 1) / params.steps, f"Step {i + 1} of {params.steps}")
        await asyncio.sleep(0.001)
    return {"steps": params.steps}


register_kind(JobKind("unit_count", CountParams, count_runner, lambda p: {}))


def slow_count(ctx: JobContext, params: CountParams) -> dict[str, int]:
    """A plain (not async) custom kind: runs on a thread, reports progress, checks cancellation."""
    import time

    for i in range(params.steps):
        if ctx.cancelled:
            return {"steps": i}
        ctx.progress(100 * (i + 1) / params.steps, f"Step {i + 1}")
        time.sleep(0.01)
    return {"steps": params.steps}


register_kind(JobKind("unit_thread", CountParams, slow_count))


class FakeStore:
    def __init__(self) -> None:
        self.saved: list[tuple[dict[str, Any], Any]] = []
        self.kept: list[tuple[int, int | None, Any]] = []  # save_items' items, in order

    async def save(self, state: dict[str, Any], result: Any = None) -> None:
        self.saved.append((dict(state), result))

    async def save_items(self, state: dict[str, Any], items: list[tuple[int, int | None, Any]]) -> None:
        self.saved.append((dict(state), None))
        self.kept.extend(items)

    async def items(self, job_id: str) -> list[tuple[int, int | None, Any]]:
        return list(self.kept)

    async def educator_stats(self, educator_id: str) -> dict[str, Any]:
        return {"jobsToday": len(self.saved)}

    async def kind(self, name: str) -> Any:
        return None

    async def kind_pace(self, name: str, blob: bool, last: int) -> KindPace:
        return KindPace(None, None)  # no kind has a recorded pace here (test_job_monitor_eta.py: with one)

    async def record_pace(self, job_id: str, kind: str, seconds_per_item: float, keep: int) -> None:
        pass


class FakeShard:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.messages: list[tuple[list[str], str, dict[str, Any]]] = []
        self.store = FakeStore()
        self.epoch = "e1"

    async def publish_message(self, educators: list[str], mtype: str, data: dict[str, Any]) -> int:
        self.messages.append((educators, mtype, data))
        return len(educators)

    async def publish(self, updates: list[dict[str, Any]]) -> PublishReply:
        self.batches.append([dict(u) for u in updates])
        await asyncio.sleep(0.002)  # a publish call takes time: ticks coalesce meanwhile
        return PublishReply(self.epoch, list(range(len(updates))))

    async def ping(self) -> str:
        return self.epoch

    async def job(self, job_id: str) -> JobState | None:
        """The job's state as the last update published it (None before any)."""
        found = [u for u in self.updates if u["jobId"] == job_id]
        return JobState.model_validate({k: v for k, v in found[-1].items() if k != "extra"}) if found else None

    @property
    def updates(self) -> list[dict[str, Any]]:
        return [u for b in self.batches for u in b]


def queued(kind: str = "unit_count") -> dict[str, Any]:
    return {
        "jobId": "j1",
        "kind": kind,
        "educatorId": "alice",
        "status": "queued",
        "progress": 0,
        "message": "",
        "createdAt": 1.0,
        "updatedAt": 1.0,
    }


def run_monitor(
    params: dict[str, Any], interval: float = 0.0, cancel_after: float | None = None, kind: str = "unit_count"
) -> FakeShard:
    shard = FakeShard()

    async def go() -> None:
        monitor = JobMonitor(queued(kind), params, shard, shard.store, config=MonitorConfig(progress_interval=interval))
        run = asyncio.ensure_future(monitor.run())
        if cancel_after is not None:
            await asyncio.sleep(cancel_after)
            await monitor.cancel()
        await run

    asyncio.run(go())
    return shard


def test_completes_with_every_transition_and_rising_progress() -> None:
    shard = run_monitor({"steps": 20})
    statuses = [u["status"] for u in shard.updates]
    assert statuses[0] == "processing" and statuses[-1] == "completed"
    assert shard.store.saved[-1][1] == {"steps": 20} and shard.updates[-1]["progress"] == 100
    progress = [u["progress"] for u in shard.updates]
    assert progress == sorted(progress)
    assert all(u["progress"] < 100 for u in shard.updates[:-1])


def test_ticks_are_coalesced_before_they_leave() -> None:
    shard = run_monitor({"steps": 200}, interval=0.05)
    assert len(shard.updates) < 50  # 200 ticks + 2 transitions, paced to one publish per 50 ms
    assert shard.updates[-1]["status"] == "completed"


def test_a_failure_inside_the_hub_shows_a_reference_and_logs_the_traceback_under_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="hub.job"):
        shard = run_monitor({"steps": 5, "fail_at": 2})
    last = shard.updates[-1]
    assert last["status"] == "failed"
    found = re.fullmatch(r"the hub failed; reference ([0-9a-f]{8})", last["error"])
    assert found, last["error"]
    assert last["message"] == f"Failed: {last['error']}"
    assert shard.store.saved[-1][0]["error"] == last["error"]
    for shown in (last["error"], last["message"]):
        assert "broke" not in shown and "/srv" not in shown and "4242" not in shown
    logged = [r for r in caplog.records if found.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info and "step 2 broke" in str(logged[0].exc_info[1])


def test_an_input_error_from_the_job_is_shown_as_it_is() -> None:
    shard = run_monitor({"steps": 5, "bad_input_at": 1})
    last = shard.updates[-1]
    assert last["status"] == "failed"
    assert last["error"] == "Row 1 of your spreadsheet has no answer column."
    assert last["message"] == "Failed: Row 1 of your spreadsheet has no answer column."


def test_cancelled_job_ends_cancelled_and_is_recorded() -> None:
    shard = run_monitor({"steps": 500}, cancel_after=0.05)
    assert [u["status"] for u in shard.updates][-1] == "cancelled"
    assert shard.store.saved[-1][0]["status"] == "cancelled"
    assert len(shard.updates) < 400  # it stopped early


def test_store_gets_every_transition_and_the_result_before_the_shard_sees_completed() -> None:
    shard = run_monitor({"steps": 50}, interval=0.0)
    stored = [s["status"] for s, _ in shard.store.saved]
    assert stored[0] == "processing" and stored[-1] == "completed"
    assert len(stored) < len(shard.updates)  # progress is written at a bounded rate
    assert shard.store.saved[-1][1] == {"steps": 50}
    assert all("result" not in u for u in shard.updates)  # results go to the store only


def test_completion_publishes_the_educators_analytics() -> None:
    shard = run_monitor({"steps": 3})
    assert shard.messages and shard.messages[-1][1] == "analytics_update"
    educators, _, data = shard.messages[-1]
    assert educators == ["alice"] and data["educatorId"] == "alice" and "jobsToday" in data["updates"]


def test_plain_function_kind_runs_on_a_thread_with_progress_and_cancellation() -> None:
    done = run_monitor({"steps": 5}, kind="unit_thread")
    assert done.updates[-1]["status"] == "completed"
    assert any(u["message"] == "Step 3" for u in done.updates)
    stopped = run_monitor({"steps": 1000}, kind="unit_thread", cancel_after=0.05)
    assert stopped.updates[-1]["status"] == "cancelled"


def test_a_silent_job_re_announces_itself_to_a_restarted_shard() -> None:
    shard = FakeShard()

    async def quiet(ctx: JobContext, params: CountParams) -> dict[str, int]:
        ctx.progress(50, "Half way")
        await asyncio.sleep(0.2)
        shard.epoch = "e2"  # the shard restarted while the job said nothing
        await asyncio.sleep(0.3)
        return {}

    register_kind(JobKind("unit_quiet", CountParams, quiet))

    async def go() -> None:
        config = MonitorConfig(job_announce_interval=0.05)
        await JobMonitor(queued("unit_quiet"), {}, shard, shard.store, config=config).run()

    asyncio.run(go())
    announced = [u for u in shard.updates if u["status"] == "processing" and u["message"] == "Half way"]
    assert len(announced) >= 2  # once as progress, again after the restart
    assert shard.updates[-1]["status"] == "completed"


class StoreWithRecord(FakeStore):
    """A store that already holds the job as its lost monitor last recorded it."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__()
        self.record = record

    async def get(self, job_id: str) -> JobState | None:
        return JobState.model_validate(self.record) if job_id == self.record["jobId"] else None


def run_restarted(record: dict[str, Any]) -> tuple[FakeShard, str]:
    shard = FakeShard()
    shard.store = StoreWithRecord(record)

    async def go() -> str:
        monitor = JobMonitor(queued(), {"steps": 5}, shard, shard.store, restarted=True)
        status = await monitor.run()
        assert await monitor.wait_done() == status
        return status

    return shard, asyncio.run(go())


def test_a_restarted_monitor_runs_the_job_again_as_the_next_attempt() -> None:
    from actors.job_monitor import RESTARTED

    lost = {**queued(), "status": "processing", "progress": 60.0, "message": "Step 3 of 5"}
    shard, status = run_restarted(lost)
    assert status == "completed" and shard.store.saved[-1][1] == {"steps": 5}
    first = shard.updates[0]
    assert first["status"] == "processing" and first["message"] == RESTARTED.format(attempt=2)
    # from the start again, but its progress goes on from the one stored: it never goes back
    assert first["attempt"] == 2 and first["progress"] == 60.0
    assert all(u["attempt"] == 2 for u in shard.updates)  # the job state keeps saying which run it is

    again, _ = run_restarted({**lost, "attempt": 2})  # lost once more
    assert again.updates[0]["attempt"] == 3 and "(attempt 3)" in again.updates[0]["message"]


def test_a_restarted_monitor_of_a_job_that_had_ended_runs_nothing() -> None:
    ended = {**queued(), "status": "completed", "progress": 100.0, "message": "Done"}
    shard, status = run_restarted(ended)
    assert status == "completed" and shard.updates == [] and shard.store.saved == []


def test_progress_goes_out_before_its_store_write_and_completed_only_after_its_result_is_stored() -> None:
    events: list[tuple[str, str]] = []
    shard = FakeShard()
    store_save, shard_publish = shard.store.save, shard.publish

    async def save(state: dict[str, Any], result: Any = None) -> None:
        events.append(("store", state["status"]))
        await store_save(state, result)

    async def publish(updates: list[dict[str, Any]]) -> dict[str, Any]:
        events.extend(("publish", u["status"]) for u in updates)
        return await shard_publish(updates)

    shard.store.save, shard.publish = save, publish  # type: ignore[method-assign]

    ticks = iter(range(1_000_000))

    def clock() -> float:  # half a second passes at every look: progress is stored (once a second)
        return 0.5 * next(ticks)

    async def go() -> None:
        await JobMonitor(
            queued(), {"steps": 5}, shard, shard.store, config=MonitorConfig(progress_interval=0.0), clock=clock
        ).run()

    asyncio.run(go())
    started = events.index(("publish", "processing"))
    assert events.index(("store", "processing")) < started  # queued -> processing: a transition, stored first
    assert ("store", "processing") in events[started + 1 :]  # later progress: stored after it went out
    assert events.index(("store", "completed")) < events.index(("publish", "completed"))


class QuestionsParams(Params):
    num_questions: int = 5
    made: int = 5


async def make_questions(ctx: JobContext, params: QuestionsParams) -> dict[str, int]:
    return {"numQuestions": params.made}


register_kind(JobKind("unit_questions", QuestionsParams, make_questions, lambda p: {}))


@pytest.mark.parametrize(
    ("asked", "made", "says"),
    [
        (1, 1, r"^Done: 1 question in [\d.]+s$"),
        (5, 5, r"^Done: 5 questions in [\d.]+s$"),
        (2, 1, r"^Done: 1 question of the 2 asked: the document has material for no more in [\d.]+s$"),
    ],
)
def test_the_done_message_counts_questions_in_words_and_says_when_fewer_were_made(
    asked: int, made: int, says: str
) -> None:
    shard = run_monitor({"numQuestions": asked, "made": made}, kind="unit_questions")
    assert shard.updates[-1]["status"] == "completed"
    assert re.match(says, shard.updates[-1]["message"]), shard.updates[-1]["message"]


class OddParams(Params):
    pass


async def odd_result(ctx: JobContext, params: OddParams) -> dict[Any, Any]:
    import threading

    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    return {"lock": threading.Lock(), "gen": (i for i in range(3)), (1, 2): "a", "deep": deep, "big": 10**400}


register_kind(JobKind("unit_odd_result", OddParams, odd_result, lambda p: {}))


def test_a_result_strict_json_cannot_carry_is_made_safe_before_it_is_stored_and_the_job_completes() -> None:
    """A custom kind's result holding what cannot be pickled or written as JSON (a lock, a generator,
    a tuple key, nesting past the recursion limit, an integer past a double) left the job
    `processing` for ever: the store call failed again and again. It is made safe in the monitor."""
    import pickle

    from hub.core import strictjson

    shard = run_monitor({}, kind="unit_odd_result")
    assert shard.updates[-1]["status"] == "completed"
    result = shard.store.saved[-1][1]
    pickle.dumps(result)  # it crosses to the store actor
    strictjson.dumps(result)  # and is strict JSON
    assert result["lock"] is None and result["gen"] is None and result["big"] is None
    assert result["(1, 2)"] == "a"
