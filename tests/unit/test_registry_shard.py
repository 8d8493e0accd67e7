"""The registry shard as a plain class: streams, job states, long-poll feeds. No Ray."""

import asyncio
from typing import Any

from actors.registry import RegistryShard
from hub.core.config import ShardConfig
from hub.core.stream import Envelope, StreamPosition
from tests.unit.conftest import FakeClock


def state(job: str, status: str, progress: float = 0.0, educator: str = "alice", **kw: Any) -> dict[str, Any]:
    return {
        "jobId": job,
        "kind": "quiz_generation",
        "educatorId": educator,
        "quizId": "q",
        "status": status,
        "progress": progress,
        "message": status,
        "createdAt": 1.0,
        "updatedAt": 1.0,
        **kw,
    }


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def shard(clock: FakeClock, **cfg: Any) -> RegistryShard:
    return RegistryShard(0, ShardConfig(**cfg), clock)


def test_publish_assigns_seqs_marks_ticks_and_keeps_latest_state(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        await s.attach("ing", ["alice"])
        seqs = (
            await s.publish(
                [
                    state("j1", "queued"),
                    state("j1", "processing", 10),
                    state("j1", "processing", 20),
                    state("j1", "completed", 100, extra={"question": {"id": "q1"}}),
                ]
            )
        ).seqs
        assert seqs == [1, 2, 3, 4]
        reply = await s.pull("ing", 0)
        ticks = [Envelope._make(raw).tick for _, raw in reply.items]
        assert ticks == [False, False, True, False]
        assert (await s.job("j1")).status == "completed"
        assert Envelope._make(reply.items[-1][1]).data["question"] == {"id": "q1"}  # `extra` joins the message

    run(go())


def test_late_update_cannot_undo_a_terminal_status(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        await s.publish([state("j1", "queued"), state("j1", "cancelled")])
        assert (await s.publish([state("j1", "processing", 50)])).seqs == [0]
        assert (await s.job("j1")).status == "cancelled"

    run(go())


def test_hello_snapshot_then_resume(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        await s.publish([state("j1", "queued"), state("j2", "queued")])
        fresh = await s.hello("ing", "alice", None)
        assert not fresh.resumed and fresh.position.seq == 2
        assert [j["jobId"] for j in fresh.snapshot] == ["j2", "j1"]  # newest first
        await s.publish([state("j1", "processing", 5)])
        resumed = await s.hello("ing", "alice", StreamPosition(fresh.position.epoch, 2))
        assert resumed.resumed and [e.seq for e in resumed.messages] == [3]
        stale = await s.hello("ing", "alice", StreamPosition("old-epoch", 2))
        assert not stale.resumed and stale.snapshot

    run(go())


def test_pull_waits_then_returns_everything_new_only_for_watched_educators(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        assert (await s.pull("ing", 0)).unknown
        await s.attach("ing", ["alice"])
        waiter = asyncio.ensure_future(s.pull("ing", 0, 5.0))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        await s.publish([state("j9", "queued", educator="bob"), state("j1", "queued"), state("j2", "queued")])
        reply = await asyncio.wait_for(waiter, 1.0)
        assert [Envelope._make(raw).data["jobId"] for _, raw in reply.items] == ["j1", "j2"]
        empty = await s.pull("ing", reply.items[-1][0], 0.01)
        assert empty.items == [] and not empty.unknown

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


def test_an_ack_of_a_feed_made_again_after_a_lapse_confirms_nothing_of_the_new_one(clock: FakeClock) -> None:
    """After a lapsed lease, a hello makes the ingress a new feed, numbered from 1 again: a pull that
    names the old feed gets all of the new one, flagged `lost` (what was published in between never
    reached the ingress), and the batch names the new feed."""

    async def go() -> None:
        s = shard(clock, ingress_lease=10.0)
        await s.hello("ing", "alice", None)
        await s.publish([state(f"j{i}", "queued") for i in range(5)])
        first = await s.pull("ing", 0)
        old_feed, old_ack = first.feed, first.items[-1][0]
        assert old_feed and old_ack == 5 and not first.lost
        same = await s.pull("ing", old_ack, 0.01, old_feed)
        assert same.items == [] and not same.lost and same.feed == old_feed
        clock.advance(11)
        await s.attach("other", ["carol"])
        await s.pull("other", 0, 0.01)  # the other ingress's pull expires ours
        assert "ing" not in s.feeds
        await s.publish([state("gap", "queued")])  # reaches no feed of ours
        await s.hello("ing", "dave", None)  # a new connection: a new feed for this ingress
        await s.publish([state(f"d{i}", "queued", educator="dave") for i in range(3)])
        again = await s.pull("ing", old_ack, 0.01, old_feed)
        assert again.lost and not again.unknown and again.feed not in ("", old_feed)
        assert [Envelope._make(raw).data["jobId"] for _, raw in again.items] == ["d0", "d1", "d2"]
        assert [n for n, _ in again.items] == [1, 2, 3]
        settled = await s.pull("ing", 3, 0.01, again.feed)
        assert settled.items == [] and not settled.lost
        gone = await s.pull("nobody", 0, 0.01, "an-old-feed")
        assert gone.unknown and gone.feed == ""

    run(go())


def test_history_and_jobs_are_bounded(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock, history_max=5, jobs_per_educator=3)
        for i in range(10):
            await s.publish([state(f"j{i}", "queued"), state(f"j{i}", "failed", error="x")])
        assert len(s.streams["alice"]) == 5
        assert len(await s.jobs_of("alice")) == 3

    run(go())


class FakeStore:
    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs = jobs
        self.calls = 0

    async def list_jobs_many(self, educator_ids: list[str], limit: int) -> list[list[dict[str, Any]]]:
        self.calls += 1
        await asyncio.sleep(0.01)
        return [[j for j in self.jobs if j["educatorId"] == e] for e in educator_ids]


def test_earlier_jobs_are_loaded_from_the_store_once(clock: FakeClock) -> None:
    async def go() -> None:
        store = FakeStore([state("old2", "completed", 100), state("old1", "failed")])
        s = RegistryShard(0, ShardConfig(), clock, store=store)
        replies = await asyncio.gather(s.hello("ing", "alice", None), s.jobs_of("alice"))
        assert [j["jobId"] for j in replies[0].snapshot] == ["old2", "old1"]
        assert store.calls == 1
        await s.publish([state("new", "queued")])
        assert [j.job_id for j in await s.jobs_of("alice")] == ["new", "old2", "old1"]
        assert (await s.publish([state("old2", "processing", 5)])).seqs == [0]  # terminal stays terminal

    run(go())


def test_a_status_the_store_holds_before_it_is_published_still_goes_out(clock: FakeClock) -> None:
    """The store is written first (submission, completion): a shard that meets the educator through
    that very update loads it from the store, and must still put it on the stream."""

    async def go() -> None:
        store = FakeStore([state("j1", "queued"), state("j2", "completed", 100), state("j3", "completed", 100)])
        s = RegistryShard(0, ShardConfig(), clock, store=store)
        await s.attach("ing", ["alice"])
        assert (await s.publish([state("j1", "queued"), state("j2", "completed", 100)])).seqs == [1, 2]
        reply = await s.pull("ing", 0)
        assert [(Envelope._make(raw).data["jobId"], Envelope._make(raw).tick) for _, raw in reply.items] == [
            ("j1", False),
            ("j2", False),
        ]
        assert (await s.publish([state("j3", "processing", 50)])).seqs == [0]  # terminal stays terminal

    run(go())


def test_loads_of_educators_arriving_together_are_one_store_call(clock: FakeClock) -> None:
    async def go() -> None:
        store = FakeStore([state("a1", "completed", 100), state("b1", "failed", educator="bob")])
        s = RegistryShard(0, ShardConfig(), clock, store=store)
        first = await s.hello("ing", "carol", None)  # idle: its load goes alone, at once
        assert first.snapshot == [] and store.calls == 1
        replies = await s.hello_many("ing", [("alice", None), ("bob", None), ("dave", None)])
        assert [[j["jobId"] for j in r.snapshot] for r in replies] == [["a1"], ["b1"], []]
        assert store.calls == 2  # three educators, one call

    run(go())


def test_resend_update_and_broadcast(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        await s.attach("ing", ["alice", "bob"])
        await s.publish([state("j1", "queued"), state("j2", "queued", educator="bob")])
        assert await s.resend("j1") == 2
        assert await s.resend("nope") == 0
        updated = await s.update_job("j1", {"status": "processing", "progress": 40.0, "message": "Half"})
        assert updated is not None and updated.status == "processing"
        assert await s.broadcast("notification", {"title": "Maintenance"}) == 2
        items = [Envelope._make(raw) for _, raw in (await s.pull("ing", 0)).items]
        alice = [(e.seq, e.type, e.tick) for e in items if e.educator_id == "alice"]
        assert alice == [
            (1, "quiz_status", False),
            (2, "quiz_status", False),
            (3, "quiz_status", False),
            (4, "notification", False),
        ]

    run(go())


class MortalShard(RegistryShard):
    """A shard whose job monitors die when the test says so."""

    deaths: dict[str, asyncio.Event]

    async def monitor_gone(self, job_id: str) -> None:
        await self.deaths.setdefault(job_id, asyncio.Event()).wait()


def test_a_running_job_whose_monitor_dies_is_failed(clock: FakeClock) -> None:
    async def go() -> None:
        s = MortalShard(0, ShardConfig(), clock)
        s.deaths = {}
        await s.publish(
            [state("j1", "queued"), state("j1", "processing", 30), state("j2", "queued"), state("j2", "processing", 10)]
        )
        await s.publish([state("j2", "completed", 100)])
        await asyncio.sleep(0)
        for job in ("j1", "j2"):
            s.deaths[job].set()
        await asyncio.sleep(0.01)
        j1, j2 = await s.job("j1"), await s.job("j2")
        assert j1.status == "failed" and "monitor" in j1.error
        assert j2.status == "completed"  # a monitor that ended its job leaves it be

    run(go())


def test_hello_many_and_unwatch_many_answer_and_count_like_single_calls(clock: FakeClock) -> None:
    async def go() -> None:
        s = shard(clock)
        await s.publish([state("j1", "queued", educator="alice")])
        first = await s.hello("ing", "alice", None)
        replies = await s.hello_many(
            "ing", [("alice", None), ("bob", None), ("alice", StreamPosition(first.position.epoch, 0))]
        )
        assert [r.resumed for r in replies] == [False, False, True]
        assert [j["jobId"] for j in replies[0].snapshot] == ["j1"] and replies[1].snapshot == []
        assert [e.seq for e in replies[2].messages] == [1]
        # three hellos of alice's (one per connection), one of bob's: unwatching two of alice's
        # and bob's leaves alice watched, bob not
        assert await s.unwatch_many("ing", ["alice", "bob", "alice"]) == [None, None, None]
        await s.publish_message(["alice", "bob"], "notification", {"title": "t"})
        reply = await s.pull("ing", 0)
        assert {Envelope._make(raw).educator_id for _, raw in reply.items} == {"alice"}
        await s.unwatch_many("ing", ["alice"])
        await s.publish_message(["alice"], "notification", {"title": "t"})
        assert not (await s.pull("ing", reply.items[-1][0], timeout=0.01)).items
        assert await s.unwatch_many("nobody", ["alice"]) == [None]  # an unknown ingress: nothing to do

    run(go())


def test_a_feed_answered_just_now_gathers_for_the_linger_and_an_idle_one_answers_at_once(clock: FakeClock) -> None:
    """ShardConfig.feed_linger: under load (the ingress's last pull answered less than the linger ago)
    the shard holds the answer that long, so what is published meanwhile comes in the same answer;
    an idle feed (answered longer ago) is answered as soon as a message arrives, with no hold."""

    async def go() -> None:
        s = shard(clock, feed_linger=0.05)
        await s.attach("ing", ["alice"])
        clock.advance(1.0)  # idle: the feed's last answer (its creation) was a second ago
        waiter = asyncio.ensure_future(s.pull("ing", 0, 5.0))
        await asyncio.sleep(0)
        await s.publish_message(["alice"], "notification", {"title": "one"})
        first = await asyncio.wait_for(waiter, 0.04)  # answered at once: no linger for an idle feed
        assert [Envelope._make(raw).data["title"] for _, raw in first.items] == ["one"]
        # answered just now (the fake clock has not moved): the next answer lingers and gathers
        waiter = asyncio.ensure_future(s.pull("ing", first.items[-1][0], 5.0, first.feed))
        await asyncio.sleep(0)
        await s.publish_message(["alice"], "notification", {"title": "two"})
        await asyncio.sleep(0.01)
        assert not waiter.done(), "held for the linger"
        await s.publish_message(["alice"], "notification", {"title": "three"})
        second = await asyncio.wait_for(waiter, 1.0)
        assert [Envelope._make(raw).data["title"] for _, raw in second.items] == ["two", "three"]

    run(go())
