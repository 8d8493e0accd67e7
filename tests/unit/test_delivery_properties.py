"""Property test of the pure delivery core: random publishes, slow reads, disconnects, overflow
(4409) and reconnects with resume. The client's view always ends equal to the server's state, no
status transition is missed while resume works, nothing is applied twice, and every gap in seq
is a superseded progress tick."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from hub.core.outbox import Delivery, Outbox
from hub.core.stream import EducatorStream, StreamPosition

JOBS = ("j1", "j22", "j333", "j4444", "j5")
NEXT = {None: "queued", "queued": "processing", "processing": "completed"}


@dataclass
class Client:
    epoch: str | None = None
    seq: int = 0
    view: dict[str, dict[str, Any]] = field(default_factory=dict)
    applied: list[int] = field(default_factory=list)
    seen_statuses: dict[str, list[str]] = field(default_factory=dict)
    snapshot_at: dict[str, bool] = field(default_factory=dict)  # the job's state came in a snapshot
    jumps: set[int] = field(default_factory=set)  # seqs the client jumped to by a snapshot

    def apply(self, env: dict[str, Any]) -> None:
        if env["seq"] <= self.seq:
            return  # at least once: drop what was seen
        assert not self.applied or env["seq"] > self.applied[-1]
        self.seq = env["seq"]
        self.applied.append(env["seq"])
        data = env["data"]
        job = data["jobId"]
        self.view[job] = {**self.view.get(job, {}), **data}
        statuses = self.seen_statuses.setdefault(job, [])
        if not statuses or statuses[-1] != data["status"]:
            statuses.append(data["status"])


class World:
    def __init__(self, history: int, limit: int, conflate_after: int) -> None:
        self.stream = EducatorStream("alice", "e1", max_messages=history, max_age=1e9)
        self.limit, self.conflate_after = limit, conflate_after
        self.states: dict[str, dict[str, Any]] = {}
        self.transitions: dict[str, list[str]] = {}
        self.ticks: set[int] = set()
        self.client = Client()
        self.outbox: Outbox | None = None
        self.now = 0.0

    def publish(self, job: str, finish: bool) -> None:
        """Advance a job: queued, processing, then progress ticks until `finish` ends it."""
        current = self.states.get(job, {}).get("status")
        if current in ("completed", "failed"):
            return
        if current == "processing" and finish:
            status, progress = ("completed" if len(job) % 2 else "failed"), 100
        elif current == "processing":
            status, progress = "processing", self.states[job]["progress"] + 1
        else:
            status, progress = NEXT[current], 0
        data = {"jobId": job, "status": status, "progress": progress}
        is_tick = status == current
        self.now += 1
        env = self.stream.append("quiz_status", data, self.now, job_id=job, tick=is_tick)
        self.states[job] = data
        if is_tick:
            self.ticks.add(env.seq)
        else:
            self.transitions.setdefault(job, []).append(status)
        self.offer(env)

    def offer(self, env: Any) -> None:
        if self.outbox is not None and not self.outbox.push(
            Delivery(env.seq, env.job_id, env.tick, json.dumps(env.wire()), env.ts)
        ):
            self.outbox = None  # 4409: the server closes; the client will resume
            event("overflow (4409)")

    def read(self, n: int) -> None:
        if self.outbox is None:
            return
        texts, skipped, _ = self.outbox.drain(n)
        if skipped:
            event("conflated ticks")
        for text in texts:
            self.client.apply(json.loads(text))

    def disconnect(self) -> None:
        self.outbox = None

    def connect(self) -> None:
        if self.outbox is not None:
            return
        self.outbox = Outbox(self.limit, self.conflate_after)
        c = self.client
        missed = self.stream.since(StreamPosition(c.epoch, c.seq), self.now) if c.epoch else None
        if missed is None:  # welcome with a snapshot
            if c.epoch:
                event("resume refused: snapshot")
            c.epoch, c.seq = self.stream.epoch, self.stream.last_seq
            for job, state in self.states.items():
                c.snapshot_at[job] = True
                c.view[job] = dict(state)
                c.seen_statuses.setdefault(job, [])
                if not c.seen_statuses[job] or c.seen_statuses[job][-1] != state["status"]:
                    c.seen_statuses[job].append(state["status"])
            if c.seq and (not c.applied or c.applied[-1] < c.seq):
                c.applied.append(c.seq)
                c.jumps.add(c.seq)
        else:
            event("resumed")
            for env in missed:
                self.offer(env)


publishes = st.tuples(st.just("publish"), st.sampled_from(JOBS), st.integers(0, 40).map(lambda n: n == 0))
ops = st.one_of(  # mostly publishing (rarely finishing a job), slow reads, now and then a reconnect
    publishes,
    publishes,
    publishes,
    publishes,
    publishes,
    publishes,
    st.tuples(st.just("read"), st.integers(1, 4), st.none()),
    st.tuples(st.sampled_from(["disconnect", "connect"]), st.none(), st.none()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ops, min_size=60, max_size=300), st.integers(3, 25), st.integers(1, 10), st.integers(1, 20))
def test_client_view_converges_without_missing_transitions(
    script: list[tuple[str, Any, Any]], history: int, headroom: int, conflate_after: int
) -> None:
    # The send queue holds more than the history (Settings enforces it), so a resume backlog fits.
    world = World(history, history + headroom, conflate_after)
    world.connect()
    for op, a, b in script:
        if op == "publish":
            world.publish(a, b)
        elif op == "read":
            world.read(a)
        elif op == "disconnect":
            world.disconnect()
        else:
            world.connect()
    world.connect()
    world.read(10_000)

    c = world.client
    assert c.view == world.states  # the client ends with the server's state
    for job, true_statuses in world.transitions.items():
        seen = c.seen_statuses.get(job, [])
        assert seen[-1] == true_statuses[-1]
        if not c.snapshot_at.get(job):  # followed by messages only: every transition, in order
            assert seen == true_statuses, (job, seen, true_statuses)
        else:  # a snapshot may stand in for history lost from the window: still in order
            it = iter(true_statuses)
            assert all(s in it for s in seen)
    assert c.applied == sorted(set(c.applied))  # nothing twice, always forward
    for before, after in zip(c.applied, c.applied[1:], strict=False):
        if after not in c.jumps:  # between messages, only superseded progress ticks are missing
            assert set(range(before + 1, after)) <= world.ticks
