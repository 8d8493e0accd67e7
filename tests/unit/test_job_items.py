"""Partial results (PROTOCOL.md section 9) without Ray: the pure rules (hub.core.items), a monitor whose
job reports items (every item published once, never coalesced, stored before it is published), a
monitor restarted with items kept (runs only the rest, progress never falls, items kept but never
published go out), the thread context, and the shard, which never conflates an item."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.job_monitor import JobMonitor
from actors.registry import RegistryShard
from hub.core.config import MonitorConfig, ShardConfig
from hub.core.eta import run_eta
from hub.core.items import check_item, item_payload, resumed_progress, value_key
from hub.core.jobstate import JobState, estimate_eta, message_for
from hub.core.stream import Envelope
from jobs.context import JobContext
from jobs.kinds import JobKind, Params, register_kind
from tests.unit.conftest import FakeClock
from tests.unit.test_job_monitor import FakeShard, FakeStore, queued

# -- the pure rules --------------------------------------------------------------------------------


def test_an_item_of_a_quiz_carries_its_question_and_a_custom_kinds_its_value() -> None:
    assert item_payload("quiz_generation", 2, {"id": "q3"}, 5) == {"index": 2, "total": 5, "question": {"id": "q3"}}
    assert item_payload("word_count", 0, 17, None) == {"index": 0, "value": 17}
    assert value_key("quiz_generation") == "question" and value_key("anything") == "value"


@pytest.mark.parametrize(
    ("index", "total", "words"),
    [(-1, None, "whole number from 0"), (1.5, None, "whole number"), (True, None, "whole number"), (3, 3, "past")],
)
def test_a_bad_item_index_is_a_sentence(index: Any, total: int | None, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        check_item(index, total)
    check_item(0, None)
    check_item(2, 3)


def test_a_restarted_run_starts_from_the_highest_progress_any_client_saw() -> None:
    assert resumed_progress(None, None) == 1.0
    assert resumed_progress(40.0, None) == 40.0
    assert resumed_progress(40.0, 55.5) == 55.5  # the shard's is newer than the store's
    assert resumed_progress(60.0, 50.0) == 60.0
    assert resumed_progress(99.9, None) == 99.0  # 100 comes only with `completed`


def test_a_restarted_runs_eta_is_reckoned_from_its_own_rate() -> None:
    # without a pace: the first run's is the rate alone; a restarted run's, its own progress since base
    assert run_eta(None, 8, 10.0, 50.0) == estimate_eta(0.0, 10.0, 50.0)
    # from 60 % to 80 % in 10 s: 20 % left at 2 % a second
    assert run_eta(None, 8, 10.0, 80.0, 60.0) == pytest.approx(10.0)
    assert run_eta(None, 8, 10.0, 60.0, 60.0) is None  # no progress yet in this run
    assert run_eta(None, 8, 10.0, 50.0, 60.0) is None  # below where the run started: none
    assert run_eta(2.0, 8, 0.0, 100.0, 100.0) is None


def test_a_restarted_runs_prior_is_the_pace_times_the_share_still_left() -> None:
    # 8 items at 2 s each is 16 s for a whole run; restarted at 75 % (6 items kept): 4 s
    assert run_eta(2.0, 8, 0.0, 1.0) == pytest.approx(16.0)
    assert run_eta(2.0, 8, 0.0, 75.0, 75.0) == pytest.approx(4.0)
    assert run_eta(2.0, 8, 1.0, 75.0, 75.0) == pytest.approx(3.0)  # counted down as before


def test_items_done_is_in_the_job_state_and_in_quiz_status_messages_only_when_reported() -> None:
    base = JobState.model_validate({**queued("quiz_generation"), "status": "processing"})
    assert "itemsDone" not in base.wire() and "itemsDone" not in message_for(base)[1]
    counted = base.model_copy(update={"items_done": 3})
    assert counted.wire()["itemsDone"] == 3 and message_for(counted)[1]["itemsDone"] == 3


# -- a monitor whose job reports items -------------------------------------------------------------


class ItemParams(Params):
    n: int = 6
    ticks: int = 20  # progress ticks between items: they coalesce, items never


async def item_runner(ctx: JobContext, params: ItemParams) -> dict[str, Any]:
    kept = await ctx.done_items()
    values = []
    for i in range(params.n):
        if i in kept:
            values.append(kept[i])
            continue
        for t in range(params.ticks):
            ctx.progress(100 * (i + t / params.ticks) / params.n, f"item {i}")
        values.append({"n": i})
        ctx.item(i, {"n": i}, total=params.n)
        await asyncio.sleep(0)
    return {"values": values}


register_kind(JobKind("unit_items", ItemParams, item_runner, reports_items=True))


def thread_item_runner(ctx: Any, params: ItemParams) -> dict[str, Any]:
    kept = ctx.done_items()
    for i in range(params.n):
        if i not in kept:
            ctx.item(i, i * i, params.n)
    with pytest.raises(ValueError, match="past"):
        ctx.item(params.n, 0, params.n)
    return {"kept": len(kept)}


register_kind(JobKind("unit_thread_items", ItemParams, thread_item_runner))


class OrderedStore(FakeStore):
    """Records, with each write, how many updates the shard had been given by then."""

    def __init__(self, shard: FakeShard) -> None:
        super().__init__()
        self.shard = shard
        self.published_before: list[tuple[int, int]] = []  # (item index, updates published before it was kept)
        self.counted: list[tuple[int, int]] = []  # per save_items: (the state's itemsDone, items kept)

    async def save_items(self, state: dict[str, Any], items: list[tuple[int, int | None, Any]]) -> None:
        for index, _, _ in items:
            self.published_before.append((index, len(self.shard.updates)))
        await super().save_items(state, items)
        self.counted.append((state["itemsDone"], len(self.kept)))


def item_index(update: dict[str, Any]) -> int | None:
    return update.get("extra", {}).get("item", {}).get("index")


def items_of(updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [u["extra"]["item"] for u in updates if "item" in u.get("extra", {})]


def run_items(
    kind: str, params: dict[str, Any], *, store: FakeStore | None = None, live: dict[str, Any] | None = None
) -> tuple[FakeShard, JobMonitor]:
    shard = FakeShard()
    shard.store = store if store is not None else OrderedStore(shard)
    if live is not None:
        shard.batches.append([live])  # what the shard had from the lost monitor

    async def go() -> JobMonitor:
        monitor = JobMonitor(
            queued(kind),
            params,
            shard,
            shard.store,
            config=MonitorConfig(progress_interval=10.0, progress_burst=1),  # ticks coalesce hard
            restarted=live is not None,
        )
        await monitor.run()
        return monitor

    monitor = asyncio.run(go())
    if live is not None:
        shard.batches.pop(0)
    return shard, monitor


def test_every_item_is_published_once_in_its_own_update_while_ticks_coalesce() -> None:
    shard, _ = run_items("unit_items", {"n": 6, "ticks": 20})
    items = items_of(shard.updates)
    assert items == [{"index": i, "total": 6, "value": {"n": i}} for i in range(6)]
    ticks = [u for u in shard.updates if u["status"] == "processing" and "extra" not in u]
    assert len(ticks) < 20  # 120 ticks, coalesced
    counts = [u["itemsDone"] for u in shard.updates]
    assert counts[0] == 0 and counts == sorted(counts) and counts[-1] == 6  # from the start: reports_items
    assert [u["itemsDone"] for u in shard.updates if "extra" in u and "item" in u["extra"]] == list(range(1, 7))
    assert all("keep" not in u for u in shard.updates)  # what the store gets stays off the wire


def test_each_item_is_in_the_store_with_the_state_counting_it_before_the_shard_gets_it() -> None:
    shard, _ = run_items("unit_items", {"n": 4, "ticks": 3})
    store = shard.store
    assert isinstance(store, OrderedStore)
    assert [(index, value) for index, _, value in store.kept] == [(i, {"n": i}) for i in range(4)]
    for index, published in store.published_before:
        carrying = next(k for k, u in enumerate(shard.updates) if item_index(u) == index)
        assert published <= carrying  # kept before the update carrying it was published
    assert store.counted and all(done == kept for done, kept in store.counted)  # the state counts what is kept


def test_a_thread_kinds_items_hop_to_the_monitor_and_a_bad_index_raises_in_the_thread() -> None:
    shard, _ = run_items("unit_thread_items", {"n": 5})
    assert [i["value"] for i in items_of(shard.updates)] == [0, 1, 4, 9, 16]
    assert shard.updates[-1]["status"] == "completed" and shard.updates[-1]["itemsDone"] == 5
    assert "itemsDone" not in shard.updates[0]  # a kind that did not say it reports items: from the first


def test_an_index_already_kept_is_not_sent_again() -> None:
    async def twice(ctx: JobContext, params: ItemParams) -> dict[str, Any]:
        ctx.item(0, "a", total=2)
        ctx.item(0, "a again")
        ctx.item(1, "b")
        return {}

    register_kind(JobKind("unit_items_twice", ItemParams, twice))
    shard, _ = run_items("unit_items_twice", {})
    assert items_of(shard.updates) == [{"index": 0, "total": 2, "value": "a"}, {"index": 1, "total": 2, "value": "b"}]


def test_an_item_strict_json_cannot_carry_is_made_safe_before_it_is_kept() -> None:
    async def odd(ctx: JobContext, params: ItemParams) -> dict[str, Any]:
        ctx.item(0, {"score": float("nan"), "tags": {"a"}}, total=1)
        return {}

    register_kind(JobKind("unit_items_odd", ItemParams, odd))
    shard, _ = run_items("unit_items_odd", {})
    kept = shard.store.kept[0][2]
    assert kept["score"] is None and items_of(shard.updates)[0]["value"] == kept
    assert shard.updates[-1]["status"] == "completed"


# -- a monitor restarted with items kept -----------------------------------------------------------


class KeptStore(FakeStore):
    def __init__(self, record: dict[str, Any], kept: list[tuple[int, int | None, Any]]) -> None:
        super().__init__()
        self.record = record
        self.kept = list(kept)

    async def get(self, job_id: str) -> JobState | None:
        return JobState.model_validate(self.record)


def test_a_restarted_monitor_runs_only_the_missing_items_and_its_progress_never_falls() -> None:
    lost = {**queued("unit_items"), "status": "processing", "progress": 48.0, "itemsDone": 3}
    kept = [(i, 6, {"n": i}) for i in (0, 2, 1)]  # finished out of order
    live = {**lost, "progress": 52.5}  # the shard saw more than the store recorded
    store = KeptStore(lost, kept)
    shard, monitor = run_items("unit_items", {"n": 6, "ticks": 4}, store=store, live=live)
    first = shard.updates[0]
    assert first["attempt"] == 2 and first["progress"] == 52.5 and first["itemsDone"] == 3
    assert "going on from the 3 finished items kept" in first["message"]
    assert [i["index"] for i in items_of(shard.updates)] == [3, 4, 5]  # only the missing ones
    progress = [u["progress"] for u in shard.updates]
    assert progress == sorted(progress) and progress[0] >= 52.5
    assert shard.store.saved[-1][1] == {"values": [{"n": i} for i in range(6)]}  # whole, in order
    assert shard.updates[-1]["itemsDone"] == 6


def test_items_kept_but_never_published_by_the_lost_monitor_go_out_after_a_restart() -> None:
    lost = {**queued("unit_items"), "status": "processing", "progress": 30.0, "itemsDone": 3}
    kept = [(i, 6, {"n": i}) for i in (0, 1, 2)]
    live = {**lost, "itemsDone": 1}  # the monitor died after keeping items 1 and 2, before publishing them
    shard, _ = run_items("unit_items", {"n": 6, "ticks": 1}, store=KeptStore(lost, kept), live=live)
    assert [i["index"] for i in items_of(shard.updates)] == [1, 2, 3, 4, 5]


def test_a_first_run_has_no_done_items() -> None:
    async def go() -> dict[int, Any]:
        shard = FakeShard()
        return await JobMonitor(queued("unit_items"), {}, shard, shard.store).done_items()

    assert asyncio.run(go()) == {}


# -- the shard never conflates an item ------------------------------------------------------------


def test_the_shard_streams_an_update_carrying_an_item_as_a_message_never_conflated(clock: FakeClock) -> None:
    async def go() -> list[Envelope]:
        shard = RegistryShard(0, ShardConfig(), clock)
        await shard.attach("ing", ["alice"])
        base = {**queued("quiz_generation"), "status": "processing", "progress": 20.0}
        await shard.publish(
            [
                base,
                {**base, "progress": 30.0},
                {**base, "progress": 30.0, "itemsDone": 1, "extra": {"item": {"index": 0, "total": 2, "question": {}}}},
                {**base, "progress": 40.0, "itemsDone": 1},
            ]
        )
        reply = await shard.pull("ing", 0)
        return [Envelope._make(raw) for _, raw in reply.items]

    envs = asyncio.run(go())
    assert [e.tick for e in envs] == [False, True, False, True]
    assert envs[2].data["item"] == {"index": 0, "total": 2, "question": {}} and envs[2].data["itemsDone"] == 1
