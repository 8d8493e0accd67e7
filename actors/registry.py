"""RegistryShard: the ordered streams and job states of the educators that hash to one shard.

A plain class (unit-tested without Ray) made a Ray actor at the edge by `actors.handles`.
Ingress processes read it by long-poll: one outstanding `pull` per (ingress, shard), each returning
everything new for the educators that ingress watches.

Every message and job state enters a stream here, so here values from code (job kinds' progress
messages and fields, back ends publishing) that strict JSON cannot carry are made safe
(hub.core.strictjson.made_safe: NaN/Infinity -> null, a lone surrogate -> U+FFFD), once: the history,
snapshots and every transport then hold the same value.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any, Literal

from actors.coalesce import Coalescer
from actors.rooms import ShardRooms
from hub.core.config import ShardConfig
from hub.core.errors import InvalidTransition
from hub.core.feed import IngressFeed
from hub.core.handles import HelloRequest, StoreHandle
from hub.core.jobstate import JobState, check_transition, message_for
from hub.core.records import FeedBatch, HelloReply, PublishReply, RoomMember, ShardStats
from hub.core.stream import EducatorStream, Envelope, StreamPosition
from hub.core.strictjson import made_safe
from hub.core.waiting import NodeResources, next_waiting, waiting_reason

log = logging.getLogger("hub.shard")


def _strict(value: Any, what: str) -> Any:
    """`value` as strict JSON carries it (hub.core.strictjson.made_safe), with a log line when changed."""
    value, problem = made_safe(value)
    if problem is not None:
        log.warning("%s made safe for strict JSON: %s", what, problem)
    return value


MONITOR_LOST = "the job's monitor stopped unexpectedly"

# What a shard learns of a queued job's monitor from Ray (RegistryShard.monitor_placement): what it
# asks while Ray cannot place it, with the cluster's live nodes; "placed"; or "absent" (no such actor).
Placement = tuple[dict[str, float], list[NodeResources]] | Literal["placed", "absent"]
# Readings (HUB_WAITING_INTERVAL apart) that find no monitor actor before a shard stops looking: a
# submission registers its monitor with Ray while its `queued` goes out, which may take seconds.
MONITOR_REGISTERED_WITHIN = 5


class RegistryShard(ShardRooms):
    """The streams and job states of the educators that hash to shard `index` (0-based;
    hub.core.sharding.shard_of), the rooms that hash to it (actors.rooms), and a feed per attached
    ingress.

    `config`: its limits and timings (ShardConfig, from Settings). `clock`: seconds since the epoch
    (time.time; tests pass their own). `store`: the job store an educator's earlier jobs are loaded
    from at first sight, once per incarnation; None: no history (unit tests). Each instance draws a new
    `epoch` (16 hex digits), so a restarted shard's streams begin anew (PROTOCOL.md section 2,
    Envelope). Not thread-safe: an actor runs its calls on one event loop."""

    def __init__(
        self,
        index: int,
        config: ShardConfig,
        clock: Callable[[], float] = time.time,
        store: StoreHandle | None = None,
    ) -> None:
        self.index = index
        self.config = config
        self.clock = clock
        self.store = store  # educators' earlier jobs are loaded from it on first sight
        # loads that arrive together (a burst of hellos) go to the store as one call
        self._loads: Coalescer[str, list[dict[str, Any]]] = Coalescer(self._load_many, max_batch=200)
        self._loaded: dict[str, asyncio.Future[None]] = {}
        self._watched: dict[str, asyncio.Task[None]] = {}  # job -> the task waiting on its monitor
        self._placing: dict[str, asyncio.Task[None]] = {}  # queued job -> the task reading why it waits
        self.epoch = uuid.uuid4().hex[:16]  # a new incarnation: every stream's history is new
        self._feeds_made = 0  # feeds made since start: with the epoch, each feed's identity
        self.streams: dict[str, EducatorStream] = {}
        self.jobs: dict[str, JobState] = {}
        self.jobs_by_educator: dict[str, OrderedDict[str, None]] = {}
        self.truncated: set[str] = set()  # educators with jobs this shard no longer holds (in the store)
        # Jobs whose state came from the store and has not been on this shard's streams: the store is
        # written before a status is published (a submission records its job before `queued` goes
        # out; a monitor stores `completed` before publishing it), so the state an update brings may
        # be the one loaded, and it must still go out as the transition it is.
        self._unstreamed: set[str] = set()
        self.feeds: dict[str, IngressFeed] = {}
        self._lease_task: asyncio.Task[None] | None = None
        self._wakeups: dict[str, asyncio.Event] = {}
        self.published = 0
        self._init_rooms()
        log.info("shard %d up, epoch %s", index, self.epoch)

    # -- writing ----------------------------------------------------------------------------

    def _stream(self, educator_id: str) -> EducatorStream:
        stream = self.streams.get(educator_id)
        if stream is None:
            stream = self.streams[educator_id] = EducatorStream(
                educator_id,
                self.epoch,
                max_messages=self.config.history_max,
                max_age=self.config.history_age,
            )
        return stream

    def _deliver(self, env: Envelope) -> None:
        for ingress_id, feed in self.feeds.items():
            if feed.wants_envelope(env):
                feed.push(env)
                self._wakeups[ingress_id].set()
        self.published += 1

    def _remember(self, state: JobState) -> None:
        order = self.jobs_by_educator.setdefault(state.educator_id, OrderedDict())
        order[state.job_id] = None
        order.move_to_end(state.job_id)
        while len(order) > self.config.jobs_per_educator:
            oldest = next(iter(order))
            if not self.jobs[oldest].terminal:
                break
            del order[oldest]
            self.jobs.pop(oldest, None)
            self._unstreamed.discard(oldest)
            self.truncated.add(state.educator_id)

    async def publish(self, updates: list[dict[str, Any]]) -> PublishReply:
        """Apply job-state updates from job monitors (JobState wire dicts; an optional `extra` dict
        is added to the message's data, and makes the message one never conflated: a finished item,
        PROTOCOL.md section 9) in order. Returns this shard's epoch (a monitor that sees
        it change re-announces its job) and the seqs (0 for an update the transition table
        refuses: a stale update after a terminal status)."""
        seqs = []
        for raw in updates:
            raw = _strict(raw, f"job {raw.get('jobId')} update")
            extra = raw.pop("extra", None)
            state = JobState.model_validate(raw)
            old = self.jobs.get(state.job_id)
            if old is None:
                await self._load(state.educator_id)
                old = self.jobs.get(state.job_id)
            if old is not None and state.job_id in self._unstreamed and old.status == state.status:
                old = None  # the stored state this update publishes: not on the stream yet
            try:
                transition = check_transition(old.status if old else None, state.status)
                transition = transition or (old is not None and old.stage != state.stage)  # a new stage
                transition = transition or bool(extra)  # an item (PROTOCOL.md section 9): never a tick
            except InvalidTransition as exc:  # never let a late update undo a terminal status
                log.warning("shard %d: dropped update of job %s: %s", self.index, state.job_id, exc)
                seqs.append(0)
                continue
            seqs.append(self._apply(state, transition, extra))
            if state.status == "processing" and state.job_id not in self._watched:
                self._watched[state.job_id] = asyncio.get_running_loop().create_task(self._watch(state.job_id))
            if state.status == "queued":
                self._watch_placement(state.job_id)
        return PublishReply(self.epoch, seqs)

    async def _watch(self, job_id: str) -> None:
        """Fail a running job whose monitor dies without ending it, within seconds."""
        try:
            await self.monitor_gone(job_id)
        finally:
            self._watched.pop(job_id, None)
        state = self.jobs.get(job_id)
        if state is not None and not state.terminal:
            log.warning("shard %d: job %s lost its monitor", self.index, job_id)
            failed = state.advance(
                self.clock(), status="failed", error=MONITOR_LOST, eta_seconds=None, message=f"Failed: {MONITOR_LOST}"
            )
            self._apply(failed, transition=True)
            if self.store is not None:
                try:
                    await self.store.save(failed.wire())
                except Exception as exc:
                    log.warning("shard %d: could not record job %s failed: %s", self.index, job_id, exc)

    async def monitor_gone(self, job_id: str) -> None:
        """Return when the job's monitor actor is gone; the Ray edge waits on the actor itself."""
        await asyncio.Event().wait()

    # -- why a queued job waits (PROTOCOL.md section 9) ---------------------------------------

    def _watch_placement(self, job_id: str) -> None:
        """Start reading why the queued job's monitor waits (`_read_placement`), once per job."""
        if job_id not in self._placing:
            self._placing[job_id] = asyncio.get_running_loop().create_task(self._read_placement(job_id))

    async def _read_placement(self, job_id: str) -> None:
        """While the job is `queued` past ShardConfig.waiting_grace, read every
        ShardConfig.waiting_interval seconds whether Ray cannot place its monitor for lack of
        resources (`monitor_placement`), and publish the job's `waiting` (hub.core.waiting) when it
        changes: set while the monitor waits (since the job's `createdAt`: its monitor was asked of
        Ray then), gone once it is placed. Stops when the job leaves `queued` (the monitor's
        `processing` carries no `waiting`), once its monitor is placed, or when Ray has no monitor for
        it MONITOR_REGISTERED_WITHIN readings in a row (a job a back end drives has none)."""
        absent = 0
        try:
            await asyncio.sleep(self.config.waiting_grace)
            while True:
                state = self.jobs.get(job_id)
                if state is None or state.status != "queued":
                    return
                try:
                    found = await self.monitor_placement(job_id)
                except Exception as exc:  # Ray's state unreadable for now: try again later
                    log.warning("shard %d: could not read why job %s waits: %s", self.index, job_id, exc)
                    await asyncio.sleep(self.config.waiting_interval)
                    continue
                state = self.jobs.get(job_id)
                if state is None or state.status != "queued":
                    return  # it started (or ended) while Ray was asked
                if found == "absent":
                    # not registered with Ray yet (its submission still starting it), or none at all (a
                    # job a back end drives): looked for again for up to MONITOR_REGISTERED_WITHIN readings
                    absent += 1
                    if absent > MONITOR_REGISTERED_WITHIN:
                        return
                    await asyncio.sleep(self.config.waiting_interval)
                    continue
                reason = None if found == "placed" else waiting_reason(*found)
                waiting = next_waiting(state.waiting, reason, state.created_at)
                if waiting != state.waiting:
                    self._apply(state.waiting_as(self.clock(), waiting), transition=True)
                if found == "placed":
                    return
                await asyncio.sleep(self.config.waiting_interval)
        finally:
            self._placing.pop(job_id, None)

    async def monitor_placement(self, job_id: str) -> Placement:
        """What the job's monitor actor asks Ray for while Ray has not placed it, with the cluster's
        live nodes; "placed" once Ray placed it, "absent" while Ray has no such actor. The Ray edge
        reads Ray's state (actors.raystate); this plain class has no Ray: "absent"."""
        return "absent"

    def _apply(self, state: JobState, transition: bool, extra: dict[str, Any] | None = None) -> int:
        self.jobs[state.job_id] = state
        self._unstreamed.discard(state.job_id)
        self._remember(state)
        mtype, data = message_for(state)
        if extra:
            data.update(extra)
        env = self._stream(state.educator_id).append(
            mtype, data, self.clock(), job_id=state.job_id, tick=not transition
        )
        self._deliver(env)
        return env.seq

    async def resend(self, job_id: str) -> int:
        """Send a job's current state again (as a message that is never conflated); 0 if unknown."""
        state = self.jobs.get(job_id)
        return 0 if state is None else self._apply(state, transition=True)

    async def update_job(self, job_id: str, changes: dict[str, Any]) -> JobState | None:
        """Change a job this shard holds (for jobs driven from outside, e.g. by a back end) and
        publish the result; the new state, None if unknown. InvalidTransition for a change the table
        refuses."""
        state = self.jobs.get(job_id)
        if state is None:
            return None
        new = state.advance(self.clock(), **_strict(changes, f"job {job_id} change"))
        self._apply(new, transition=new.status != state.status)
        return new

    async def broadcast(self, mtype: str, data: dict[str, Any]) -> int:
        """Deliver to every educator this shard has a stream for; returns how many."""
        return await self.publish_message(list(self.streams), mtype, data)

    async def _load(self, educator_id: str) -> None:
        """Bring in an educator's earlier jobs from the store, once per shard incarnation."""
        if self.store is None:
            return
        pending = self._loaded.get(educator_id)
        if pending is None:
            pending = self._loaded[educator_id] = asyncio.get_running_loop().create_future()
            try:
                earlier = await self._loads.call(educator_id)
                if len(earlier) > self.config.jobs_per_educator:  # one more than held was asked for
                    self.truncated.add(educator_id)
                for raw in reversed(earlier[: self.config.jobs_per_educator]):
                    state = JobState.model_validate(_strict(raw, "stored job"))
                    if state.job_id not in self.jobs:
                        self.jobs[state.job_id] = state
                        self._unstreamed.add(state.job_id)
                        self._remember(state)
                        if state.status == "queued":
                            self._watch_placement(state.job_id)
                pending.set_result(None)
            except Exception as exc:  # go on without history; the next sight of them tries again
                del self._loaded[educator_id]
                pending.set_result(None)
                log.warning("shard %d: could not load %s's jobs: %s", self.index, educator_id, exc)
                return
        await asyncio.shield(pending)

    async def _load_many(self, educator_ids: list[str]) -> list[list[dict[str, Any]]]:
        assert self.store is not None  # _load asks only with a store
        # one more than a shard holds: whether there are more than it holds
        return list(await self.store.list_jobs_many(educator_ids, self.config.jobs_per_educator + 1))

    async def publish_message(self, educator_ids: list[str], mtype: str, data: dict[str, Any]) -> int:
        """Deliver a message that is not a job state (analytics_update, notification)."""
        data = _strict(data, f"{mtype} data")
        now = self.clock()
        for educator_id in educator_ids:
            self._deliver(self._stream(educator_id).append(mtype, data, now))
        return len(educator_ids)

    # -- reading ----------------------------------------------------------------------------

    def held(self, educator_id: str) -> list[JobState]:
        """The educator's job states this shard holds, the most recently changed first (those loaded from
        the store and unchanged since, by creation); finished jobs beyond ShardConfig.jobs_per_educator
        are forgotten. Loads nothing from the store (`jobs_of` does)."""
        order: dict[str, None] = self.jobs_by_educator.get(educator_id, {})
        return [self.jobs[j] for j in reversed(order)]

    def snapshot(self, educator_id: str) -> list[dict[str, Any]]:
        """`held` as JobState wire dicts: a hello's snapshot (HelloReply.snapshot), which the ingress puts
        in a `welcome` frame or a long-poll answer as it is. Wire dicts, not JobStates, because a
        snapshot crosses to the ingress once per connection with up to jobs_per_educator states:
        pickled as JobStates it would cost about 5 x as much, and each would be dumped again at the
        ingress (`bench/records.py --states`: dumps + loads of 500, 1.8 ms against 0.36 ms)."""
        return [state.wire() for state in self.held(educator_id)]

    async def load_jobs(self, educator_id: str) -> None:
        """Make sure this shard holds the educator's earlier jobs (loaded from the store once per
        incarnation, as `jobs_of` does) without sending them back: for callers that go on to change or
        resend one of them (the job desk), to whom a copy of up to jobs_per_educator states is waste."""
        await self._load(educator_id)

    async def jobs_of(self, educator_id: str) -> list[JobState]:
        """`held` after loading the educator's earlier jobs from the store (once per incarnation; a
        store that does not answer is logged, and the shard goes on with what it holds)."""
        await self._load(educator_id)
        return self.held(educator_id)

    async def states(self, job_ids: list[str]) -> list[JobState | None]:
        """The current state of each job this shard holds (None for one it does not): the live
        figures of running jobs, newer than the store's (which records progress at a bounded rate)."""
        return [self.jobs.get(j) for j in job_ids]

    async def job(self, job_id: str) -> JobState | None:
        """One job's state, None when this shard does not hold it (the store is not asked)."""
        return self.jobs.get(job_id)

    async def ping(self) -> str:
        """This shard's epoch: a liveness check (GET /healthz) and, when it changes, the sign of a restart
        (job monitors then re-announce their jobs)."""
        return self.epoch

    # -- ingress attachment and long-poll ---------------------------------------------------

    def _feed(self, ingress_id: str) -> IngressFeed:
        feed = self.feeds.get(ingress_id)
        if feed is None:
            self._feeds_made += 1
            feed = self.feeds[ingress_id] = IngressFeed(
                ingress_id, self.config.feed_limit, self.clock(), f"{self.epoch}:{self._feeds_made}"
            )
            self._wakeups[ingress_id] = asyncio.Event()
            log.info("shard %d: ingress %s attached", self.index, ingress_id)
            if self._lease_task is None or self._lease_task.done():
                self._lease_task = asyncio.get_running_loop().create_task(self._watch_leases())
        return feed

    async def _watch_leases(self) -> None:
        """While feeds exist, drop those whose ingress stopped pulling (a dead ingress's room members
        leave within the lease even when no other ingress pulls here), and forget rooms left with
        nothing: a check every quarter lease."""
        while self.feeds:
            await asyncio.sleep(self.config.ingress_lease / 4)
            self._expire_feeds()
            self._forget_idle_rooms()

    async def hello(self, ingress_id: str, educator_id: str, resume: StreamPosition | None) -> HelloReply:
        """Watch `educator_id` for `ingress_id` and answer a client's hello, atomically: what the
        reply does not hold, the ingress's feed will."""
        self._feed(ingress_id).watch(educator_id)
        await self._load(educator_id)
        stream = self._stream(educator_id)
        if resume is not None:
            missed = stream.since(resume, self.clock())
            if missed is not None:
                return HelloReply(stream.position, True, missed)
        # a truncated snapshot holds the newest jobs, not all: GET /api/jobs pages
        return HelloReply(stream.position, False, [], self.snapshot(educator_id), educator_id in self.truncated)

    async def hello_many(self, ingress_id: str, requests: list[HelloRequest]) -> list[HelloReply]:
        """`hello` for each (educator, resume), in one call: an ingress's hellos that queued while
        its previous call was under way (actors.coalesce)."""
        return list(await asyncio.gather(*(self.hello(ingress_id, e, resume) for e, resume in requests)))

    async def unwatch_many(self, ingress_id: str, educator_ids: list[str]) -> list[None]:
        """Stop watching for `ingress_id` once per entry (one per connection that left), in one call."""
        feed = self.feeds.get(ingress_id)
        if feed is not None:
            for educator_id in educator_ids:
                feed.unwatch(educator_id)
        return [None] * len(educator_ids)

    async def attach(self, ingress_id: str, educator_ids: list[str], rooms: list[RoomMember] | None = None) -> str:
        """(Re-)attach an ingress with the educators it holds (one entry per connection) and its
        connections' room memberships (RoomMember each), e.g. after this shard restarted. The feed then
        watches exactly `educator_ids`: a hello that made the feed before the attach (one that reached a
        restarted shard before the ingress's pull) is one of them, not counted twice."""
        feed = self._feed(ingress_id)
        feed.watching = {}
        for educator_id in educator_ids:
            feed.watch(educator_id)
        if rooms:
            self._rooms_attach(ingress_id, rooms)
        return self.epoch

    async def detach(self, ingress_id: str) -> None:
        """Forget the feed of an ingress that is stopping (Relay.stop) and wake its waiting pull, which
        answers `unknown`. An ingress without a feed is ignored."""
        feed = self.feeds.pop(ingress_id, None)
        if feed is not None:
            self._rooms_drop(ingress_id, feed)
        event = self._wakeups.pop(ingress_id, None)
        if event is not None:
            event.set()
        log.info("shard %d: ingress %s detached", self.index, ingress_id)

    async def pull(
        self, ingress_id: str, ack: int, timeout: float | None = None, feed_id: str | None = None
    ) -> FeedBatch:
        """Everything after `ack` for `ingress_id`; waits up to `timeout` when there is nothing.
        `feed_id`: the feed `ack` counts in (the last FeedBatch's `feed`; None on a first pull).

        `unknown` tells an ingress this shard has no feed for it (first contact, a restart, or a
        lapsed lease): it must `attach` again. `lost` says messages may be missing: dropped on
        overflow, or the ingress's feed was dropped (a lapsed lease) and a new one made since (by
        a hello) under another `feed_id`, whose items are then all returned (`ack` counts in the
        old one): its clients must resume from history. A feed answered less than
        ShardConfig.feed_linger ago is answered that much later (what arrives meanwhile comes along);
        an idle one at once."""
        feed = self.feeds.get(ingress_id)
        if feed is None:
            return FeedBatch(self.epoch, True, [], False)
        replaced = feed_id is not None and feed_id != feed.feed_id
        if replaced:
            log.warning("shard %d: ingress %s acknowledged a feed dropped since; it resumes", self.index, ingress_id)
            ack = 0
        if not replaced and not feed.has_after(ack):
            event = self._wakeups[ingress_id]
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), timeout or self.config.poll_timeout)
            except TimeoutError:
                pass
            if self.feeds.get(ingress_id) is not feed:
                return FeedBatch(self.epoch, True, [], False)
        linger = self.config.feed_linger
        if linger and self.clock() - feed.last_pull < linger:  # answered just now: under load, gather
            await asyncio.sleep(linger)
            if self.feeds.get(ingress_id) is not feed:
                return FeedBatch(self.epoch, True, [], False)
        items, lost = feed.take(ack, self.clock())
        self._expire_feeds()
        # Plain tuples on the wire: (feed seq, envelope fields); see hub.core.records.FeedItem.
        wire = [(n, tuple(env)) for n, env in items]
        return FeedBatch(self.epoch, False, wire, lost or replaced, feed.feed_id)

    def _expire_feeds(self) -> None:
        """Drop the feeds of ingress processes that stopped pulling (a dead ingress)."""
        horizon = self.clock() - self.config.ingress_lease
        for ingress_id, feed in list(self.feeds.items()):
            if feed.last_pull < horizon:
                log.warning("shard %d: ingress %s lease lapsed, detaching", self.index, ingress_id)
                self.feeds.pop(ingress_id, None)
                self._wakeups.pop(ingress_id).set()
                self._rooms_drop(ingress_id, feed)  # its members leave their rooms

    async def stats(self) -> ShardStats:
        """This shard's figures now (ShardStats) for /metrics and the cluster tests."""
        rooms, members = self._room_figures()
        return ShardStats(
            shard=self.index,
            epoch=self.epoch,
            educators=len(self.streams),
            jobs=len(self.jobs),
            ingresses=len(self.feeds),
            published=self.published,
            pending={i: f.pending for i, f in self.feeds.items()},
            jobs_by_status=dict(Counter(state.status for state in self.jobs.values())),
            rooms=rooms,
            room_members=members,
            presence_changes=self.presence_changes,
            room_messages=self.room_messages,
            jobs_waiting=sum(1 for state in self.jobs.values() if state.waiting is not None),
        )
