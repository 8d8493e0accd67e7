"""JobMonitor: one actor per job. Runs the job (its Ray tasks), aggregates their progress, keeps the
job's state, records it in the job store and publishes it to the educator's registry shard,
coalesced; exits when the job ends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from actors.job_items import RESTARTED as RESTARTED  # re-exported: what a restarted run says
from actors.job_items import JobItems
from hub.core import strictjson
from hub.core.config import MonitorConfig
from hub.core.errors import InvalidInput, UpstreamError, new_reference, public_reason
from hub.core.eta import KindPace, pace_of, run_eta
from hub.core.handles import ShardHandle, StoreHandle
from hub.core.items import KeptItem
from hub.core.jobstate import JobState
from hub.core.pacing import UpdateCoalescer
from hub.core.records import DataPlaneEndpoint
from hub.core.tasklink import LinkFrameError, Links
from hub.core.waiting import NodeResources, PendingTasks, next_waiting, tasks_reason
from jobs.context import JobCancelled
from jobs.kinds import KINDS, JobKind, job_size, load_kind
from jobs.tasklink import TaskLink
from jobs.words import plural

log = logging.getLogger("hub.job")


class JobMonitor(JobItems):
    """One job's monitor (a Ray actor at the edge: actors.handles.JobMonitorActor); it is the JobContext
    (jobs.context) the job kind's runner gets.

    `state`: the job's JobState wire dict as submitted (`queued`); `params`: the submission's params
    (a wire dict, validated again by the kind's model in `run`); `shard`, `store`: the handles of the
    educator's registry shard and of the job store; `config`: its timings (MonitorConfig, from
    Settings); `clock`: seconds since the epoch; `restarted`: Ray restarted this monitor after its
    node or process was lost, so `run` starts the job over as its next attempt (or takes the ended
    state the store holds)."""

    def __init__(
        self,
        state: dict[str, Any],
        params: dict[str, Any],
        shard: ShardHandle,
        store: StoreHandle,
        *,
        config: MonitorConfig = MonitorConfig(),  # noqa: B008 (frozen: one shared default is safe)
        clock: Callable[[], float] = time.time,
        restarted: bool = False,
    ) -> None:
        self.state = JobState.model_validate(state)
        self.restarted = restarted  # Ray restarted this monitor: its node or process was lost
        self.job_id = self.state.job_id
        self.educator_id = self.state.educator_id
        self.raw_params = params
        self.shard = shard  # an actors.handles.ShardClient (or a fake in unit tests)
        self.store = store  # an actors.handles.StoreClient (or a fake)
        self.config = config  # its timings (Settings: HUB_PROGRESS_INTERVAL, HUB_JOB_*)
        self.clock = clock
        self.started_at = clock()
        self._cancelled = False
        self._coalescer: UpdateCoalescer[dict[str, Any]] = UpdateCoalescer(
            config.progress_interval, config.progress_burst
        )
        self._wake = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._publisher: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[Any] | None = None
        self._tasks: list[Any] = []
        self._stored_at = float("-inf")
        self._published_at = clock()
        self._shard_epoch: str | None = None
        self._sent_status = self.state.status  # the status the shard last got from this monitor
        self._last_write: asyncio.Task[None] | None = None  # the newest store write
        self._done = asyncio.Event()
        self._links = Links()  # the task links this job made (JobContext.link)
        self._link_closed = asyncio.Event()  # set whenever a link's connection ends
        self._waiting_reader: asyncio.Task[None] | None = None  # reads why the job's tasks wait
        self._init_items()  # partial results (actors.job_items)
        # The ETA (hub.core.eta): the kind's recorded pace (seconds per item; None: none yet), the job's
        # size (items; None: unknown) and the clock at its first `processing` message.
        self._pace: float | None = None
        self._size: float | None = None
        self._processing_since: float | None = None

    # -- JobContext ---------------------------------------------------------------------------

    def progress(self, percent: float, message: str, **fields: Any) -> None:
        """JobContext.progress: the job is `processing` at `percent` (0-100, held between its last
        progress and 99: it never goes back, and 100 comes only with `completed`) with `message`, plus
        any other JobState `fields` (e.g. `stage` for document processing); the ETA (seconds) comes
        from its kind's recorded pace and the rate so far (hub.core.eta). Past
        MonitorConfig.job_slow_after seconds the message says the job is still working. A tick goes
        at once unless the job has sent MonitorConfig.progress_burst more than one every
        MonitorConfig.progress_interval seconds; then ticks are coalesced to that rate
        (hub.core.pacing). A new stage goes out at once. Ignored once the job has ended. Call it on
        the monitor's event loop."""
        if self.state.terminal:
            return
        now = self.clock()
        if now - self.started_at > self.config.job_slow_after and "larger documents" not in message:
            message = f"{message} (still working: larger documents take longer)"
        percent = max(self.state.progress, min(99.0, percent))  # never goes back, 100 only on completion
        self._update(
            status="processing",
            progress=percent,
            message=message,
            eta_seconds=self._eta(now, percent),
            **fields,
        )

    @property
    def cancelled(self) -> bool:
        """JobContext.cancelled: True once `cancel` was called."""
        return self._cancelled

    def check_cancelled(self) -> None:
        """JobContext.check_cancelled: raise JobCancelled(job_id) once the job has been cancelled."""
        if self._cancelled:
            raise JobCancelled(self.job_id)

    def track(self, ref: Any) -> Any:
        """Remember a Ray task (ref or streaming generator) so that cancelling the job stops it, and
        so that the job says when Ray cannot place it (`waiting`: `_read_waiting`). Call it on the
        monitor's event loop."""
        self._tasks.append(ref)
        if self._waiting_reader is None:
            self._waiting_reader = asyncio.get_running_loop().create_task(self._read_waiting())
        return ref

    def cancel_tasks(self, refs: list[Any]) -> None:
        """Stop the job's tasks; the Ray edge (actors.handles) implements it."""

    # -- why the job's tasks wait (PROTOCOL.md section 9) ---------------------------------------

    async def _read_waiting(self) -> None:
        """From MonitorConfig.waiting_grace seconds after the job's first tracked task until the job
        ends, every MonitorConfig.waiting_interval seconds: whether Ray cannot place some of its
        unfinished tracked tasks for lack of resources (`_tasks_waiting`), and the job's `waiting`
        (hub.core.waiting.tasks_reason: the sentence, since when the first of them waits as Ray
        recorded it) updated when that changes: set while they wait, gone once they run. A reading
        that fails is logged and tried again at the next."""
        await asyncio.sleep(self.config.waiting_grace)
        while not self.state.terminal:
            try:
                found = await self._tasks_waiting(list(self._tasks))
            except Exception as exc:  # Ray's state unreadable for now: try again later
                log.warning("job %s: could not read why its tasks wait: %s", self.job_id, exc)
                found = None
            if self.state.terminal:
                return
            reason = tasks_reason(*found) if found is not None else None
            waiting = next_waiting(self.state.waiting, reason[0] if reason else None, reason[1] if reason else 0.0)
            if waiting != self.state.waiting and self.state.status == "processing":
                self._update(waiting=waiting)
            await asyncio.sleep(self.config.waiting_interval)

    def _tasks_unfinished(self) -> bool:
        """Whether some tracked task has not finished (without waiting); while none is, the job's
        `waiting` is dropped from its next update, not left until the next reading (PROTOCOL.md section
        9: absent once they run). The Ray edge (actors.handles) asks Ray; off Ray: True (readings only)."""
        return True

    async def _tasks_waiting(self, refs: list[Any]) -> tuple[list[PendingTasks], list[NodeResources]] | None:
        """Of the tracked tasks `refs`, those Ray has not placed for lack of resources (grouped by
        what they ask) and the cluster's live nodes; None when there is nothing to read (no task
        unfinished). The Ray edge (actors.handles) reads Ray's state; off Ray: None."""
        return None

    # -- task links (hub.core.tasklink) -----------------------------------------------------------

    async def link(self, on_item: Callable[[Any], None] | None = None) -> TaskLink:
        """JobContext.link: a TaskLink to pass to one of the job's Ray tasks; each item the task sends
        through it (jobs.tasklink.Reporter) is given to `on_item` on this monitor's event loop, in
        order. Without `on_item` an item is a progress call: [percent, message] or [percent, message,
        {fields}] (Reporter.progress); a malformed one is logged and dropped."""
        channel = self._links.add(on_item or self._progress_item)
        endpoint = await self._serve_links() if self.config.dataplane else None
        return TaskLink(
            channel,
            endpoint,
            self._own_handle(),
            tls_always=self.config.dataplane_tls == "always",
            connect_timeout=self.config.dataplane_connect_timeout,
        )

    async def drained(self, link: TaskLink) -> None:
        """JobContext.drained: returns once every item the task sent through `link` before closing it
        has been handled; await it after the task's result. Waits at most
        MonitorConfig.task_link_drain seconds (then logs it and returns)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.task_link_drain
        while self._links.busy(link.channel):
            self._link_closed.clear()
            try:
                await asyncio.wait_for(self._link_closed.wait(), deadline - loop.time())
            except TimeoutError:
                log.warning("job %s: task link %d still open after its task; going on", self.job_id, link.channel)
                return

    async def link_item(self, channel: int, number: int, item: Any) -> None:
        """Item `number` (0, 1, ... per link) of task link `channel`, by actor call (a task with no
        socket to this monitor: jobs.tasklink); handled in number order, whatever order Ray runs the
        calls in. An unknown channel, or an item its handler fails on, is logged and dropped."""
        try:
            self._links.deliver_call(channel, number, item)
        except LinkFrameError as exc:
            log.warning("job %s: task link item dropped: %s", self.job_id, exc)
        except Exception:
            log.exception("job %s: task link item dropped: its handler failed", self.job_id)

    def _progress_item(self, item: Any) -> None:
        if (
            isinstance(item, list)
            and len(item) in (2, 3)
            and isinstance(item[0], int | float)
            and isinstance(item[1], str)
            and (len(item) == 2 or isinstance(item[2], dict))
        ):
            self.progress(float(item[0]), item[1], **(item[2] if len(item) == 3 else {}))
        else:
            log.warning("job %s: a task's progress item is not [percent, message(, fields)]: dropped", self.job_id)

    def _links_idle(self) -> None:
        self._link_closed.set()

    async def _serve_links(self) -> DataPlaneEndpoint | None:
        """Where this monitor serves its task links (a fresh token each time), the server started on
        first use; the Ray edge (actors.handles) serves a socket, this class none (actor calls)."""
        return None

    def _own_handle(self) -> Any:
        """This monitor's Ray actor handle (the task links' actor-call path); None off Ray."""
        return None

    async def _close_links(self) -> None:
        """Stop serving task links (the job has ended); the Ray edge implements it."""

    # -- publishing ---------------------------------------------------------------------------

    def _update(
        self,
        result: Any = None,
        extra: dict[str, Any] | None = None,
        keep: KeptItem | None = None,
        **changes: Any,
    ) -> None:
        old = self.state
        if old.waiting is not None and "waiting" not in changes and not self._tasks_unfinished():
            changes["waiting"] = None  # every tracked task has run: none of them waits any more
        self.state = old.advance(self.clock(), **changes)
        # An update that carries `extra` (a finished item, a completed job's question) is never merged
        # with a tick: every client gets every item.
        transition = self.state.status != old.status or self.state.stage != old.stage or bool(extra)
        update = self.state.wire()
        if result is not None:
            update["result"] = result
        if extra:
            update["extra"] = extra
        if keep is not None:
            update["keep"] = keep  # an item to store with this state (`item`), before it is published
        self._coalescer.add(update, transition)
        self._wake.set()
        if self._publisher is None:
            self._publisher = asyncio.get_running_loop().create_task(self._publish_loop())

    async def _publish_loop(self) -> None:
        while True:
            now = self.clock()
            due = self._coalescer.due_in(now)
            if due is None or due > 0:
                quiet_for = now - self._published_at
                announce = self.config.job_announce_interval
                if quiet_for >= announce:
                    await self._check_shard()
                    continue
                wait = announce - quiet_for if due is None else min(due, announce - quiet_for)
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
                continue
            await self._send()

    async def _check_shard(self) -> None:
        """A silent job re-announces its state to a shard that restarted (and lost it)."""
        self._published_at = self.clock()
        try:
            epoch = await self.shard.ping()
        except UpstreamError:
            return
        if self._shard_epoch is not None and epoch != self._shard_epoch and not self.state.terminal:
            log.info("job %s: shard restarted, re-announcing", self.job_id)
            self._coalescer.add(self.state.wire(), True)
            await self._send()

    async def _send(self) -> None:
        async with self._send_lock:
            batch = self._coalescer.take(self.clock())
            if not batch:
                return
            # A status change is in the store before any client can see it (a completed job's
            # result is there when `completed` arrives); progress goes out first, its store write
            # (at most once a second) after, off the progress path's latency.
            progress_only = self._sent_status == "processing" and all(
                u["status"] == "processing" and "keep" not in u for u in batch
            )
            if not progress_only:
                write = self._record(batch)
                if write is not None:
                    await write  # and every write made before it
            for update in batch:
                update.pop("result", None)
                update.pop("keep", None)
            reply = await self._retry("publish", lambda: self.shard.publish(batch))
            self._published_at = self.clock()
            if reply is not None:
                self._shard_epoch = reply.epoch
            self._sent_status = batch[-1]["status"]
            if progress_only:
                self._record(batch)  # not awaited: the next publish need not wait for the store

    def _record(self, batch: list[dict[str, Any]]) -> asyncio.Task[None] | None:
        """Write the newest state to the store: at every transition (with the result, before the
        client can see `completed`), progress at most every `config.job_store_interval` seconds. Writes reach
        the store in the order they were made (each waits for the one before); the returned task
        (the newest write, None before the first) ends when this one and all before it have."""
        last = batch[-1]
        now = self.clock()
        keeps = [(u["keep"], self._bare(u)) for u in batch if "keep" in u]
        if (
            last["status"] == "processing"
            and len(batch) == 1
            and not keeps
            and now - self._stored_at < self.config.job_store_interval
        ):
            return self._last_write
        self._stored_at = now
        state = self._bare(last)
        previous = self._last_write

        async def write() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            if keeps:  # the items with the newest state that counts them, in one transaction
                items = [item for item, _ in keeps]
                await self._retry("store", lambda: self.store.save_items(keeps[-1][1], items))
                if "keep" in last:
                    return
            await self._retry("store", lambda: self.store.save(state, last.get("result")))

        self._last_write = asyncio.get_running_loop().create_task(write())
        return self._last_write

    @staticmethod
    def _bare(update: dict[str, Any]) -> dict[str, Any]:
        """An update as the store keeps it: the JobState wire dict, without what rides along."""
        return {k: v for k, v in update.items() if k not in ("result", "extra", "keep")}

    async def _retry(self, what: str, call: Callable[[], Any]) -> Any:
        for attempt in range(self.config.job_publish_retries):
            try:
                return await call()
            except UpstreamError as exc:  # the actor is restarting: it will be back
                log.warning("job %s: %s failed (%s), retrying", self.job_id, what, exc)
                await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
        log.error("job %s: gave up on %s", self.job_id, what)
        return None

    async def flush(self) -> None:
        """Send what is coalesced now (a status change is stored first: `_send`) and stop the publishing
        loop; `run` calls it once the job has ended. A shard or store that stays unreachable past
        MonitorConfig.job_publish_retries attempts is logged and given up, not raised."""
        await self._send()
        if self._publisher is not None:
            self._publisher.cancel()

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> str:
        """Run the job to its end and publish every status; returns the final status."""
        log.info("job %s (%s) of %s starting", self.job_id, self.state.kind, self.educator_id)
        start: dict[str, Any] = {"message": "Starting", "progress": 1.0}
        if self.restarted:
            attempt = await self._attempt_after_restart()
            if attempt is None:
                log.info("job %s had ended %s before its monitor was lost", self.job_id, self.state.status)
                self._done.set()
                return self.state.status
            start = await self._resume_start(attempt)
        try:
            if self._cancelled:
                raise JobCancelled(self.job_id)
            kind = await self._kind_and_pace()
            if kind is None:
                raise InvalidInput(
                    f"the job kind {self.state.kind!r} is no longer registered with the hub; register it again"
                )
            params = kind.params.model_validate(self.raw_params)
            self._size = job_size(params)
            self.check_cancelled()  # cancel() may have come while the kind was being looked up
            if getattr(kind, "reports_items", False) or self._items:
                start["items_done"] = len(self._items)
            self._update(status="processing", eta_seconds=self._eta(self.clock(), start["progress"]), **start)
            self._publish_unsent()
            self._runner = asyncio.get_running_loop().create_task(kind.call(self, params))
            result = await self._runner
            self.check_cancelled()  # a job that noticed the cancel and returned early
            # Made safe here, before it crosses to the store: a custom kind's result may hold what
            # strict JSON cannot carry, or what cannot even be pickled (a generator, a lock, nesting
            # past the recursion limit), which would stall the job `processing` for ever.
            result, unsafe = strictjson.made_safe(result)
            if unsafe is not None:
                log.warning("job %s: result made safe for strict JSON: %s", self.job_id, unsafe)
            extra = kind.message_extra(result) if kind.message_extra else None
            self._update(
                status="completed",
                progress=100.0,
                message=self._done_message(result),
                eta_seconds=None,
                result=result if result is not None else {},
                extra=extra,
            )
        except (JobCancelled, asyncio.CancelledError):
            if not self.state.terminal:
                self._update(status="cancelled", message="Cancelled", eta_seconds=None)
        except Exception as exc:
            # The educator sees a sentence about their input (InvalidInput, also Ray-wrapped) or
            # "the hub failed; reference X"; the traceback is logged under that reference.
            reference = new_reference()
            reason, about_input = public_reason(exc, reference)
            if about_input:
                log.info("job %s failed on its input: %s", self.job_id, reason)
            else:
                log.error("job %s failed; reference %s", self.job_id, reference, exc_info=exc)
            if not self.state.terminal:
                self._update(status="failed", message=f"Failed: {reason}", error=reason, eta_seconds=None)
        finally:
            self.cancel_tasks(self._tasks)
            await self._close_links()
            await self.flush()
        self._done.set()
        if self.state.status == "completed":
            await asyncio.gather(self._publish_analytics(), self._record_pace())
        log.info("job %s ended %s in %.2fs", self.job_id, self.state.status, self.clock() - self.started_at)
        return self.state.status

    async def _attempt_after_restart(self) -> int | None:
        """A restarted monitor runs the job again (going on from its kept items and progress:
        `_resume_start`), as the next attempt after the one the job store last recorded; None when the
        job had already ended (it takes that state)."""
        stored = await self._retry("store", lambda: self.store.get(self.job_id))
        last: JobState = stored if stored is not None else self.state
        if last.terminal:
            self.state = last
            return None
        log.warning("job %s: monitor restarted after losing its node or process; running it again", self.job_id)
        return (last.attempt or 1) + 1

    # -- the ETA before the first progress (hub.core.eta) ----------------------------------------

    async def _kind_and_pace(self) -> JobKind | None:
        """The job's kind (built in, or the custom one the job store holds: None when it has none) and,
        in the same store call (StoreHandle.kind_pace), the kind's recorded pace for the ETA. A
        built-in kind's pace is waited for at most MonitorConfig.eta_pace_wait seconds, so a slow
        store does not hold up `processing`: a later answer reaches the job's next message; a failed
        read leaves the job without a prior (logged). A custom kind's read fails the job as its
        lookup always did (it cannot run without its code)."""
        name = self.state.kind
        kind = KINDS.get(name)
        read = asyncio.ensure_future(self.store.kind_pace(name, kind is None, self.config.eta_pace_jobs))
        if kind is None:
            found = await read
            self._pace = found.seconds_per_item
            return load_kind(found.blob)
        await asyncio.wait([read], timeout=self.config.eta_pace_wait)
        if read.done():
            self._take_pace(read)
        else:
            wait = self.config.eta_pace_wait
            log.info("job %s: its kind's pace did not come within %.2fs: the ETA comes later", self.job_id, wait)
            read.add_done_callback(self._take_pace)
        return kind

    def _take_pace(self, read: asyncio.Future[KindPace]) -> None:
        """Keep the pace `read` answered (a failed read is logged: no prior)."""
        if read.cancelled():
            return
        failed = read.exception()
        if failed is not None:
            log.info("job %s: no ETA before its progress: its kind's pace could not be read: %s", self.job_id, failed)
            return
        self._pace = read.result().seconds_per_item

    def _eta(self, now: float, percent: float) -> float | None:
        """The ETA (seconds) at `now` and `percent`: hub.core.eta.eta_seconds from the kind's pace x the job's
        size, counted from this run's first `processing` message (this call's first `now`). A restarted
        run that went on from `_progress_base` percent (its kept items: actors.job_items) reckons on the
        share still left: the prior scaled by it, and the rate of this run's own progress over it."""
        if self._processing_since is None:
            self._processing_since = now
        return run_eta(self._pace, self._size, now - self._processing_since, percent, self._progress_base)

    async def _record_pace(self) -> None:
        """Record a completed job's pace (seconds per item: hub.core.eta.pace_of) in the job store for
        the next jobs of its kind; not for a restarted attempt (its time counts from the restart) nor
        a job of no valid size. A store that does not answer loses this one pace (logged)."""
        if self.state.attempt is not None or self._processing_since is None:
            return
        pace = pace_of(self.state.updated_at - self._processing_since, self._size)
        if pace is None:
            return
        try:
            await self.store.record_pace(self.job_id, self.state.kind, pace, self.config.eta_pace_jobs)
        except UpstreamError as exc:
            log.warning("job %s: its pace not recorded: %s", self.job_id, exc)

    async def _publish_analytics(self) -> None:
        try:
            stats = await self.store.educator_stats(self.educator_id)
            await self.shard.publish_message(
                [self.educator_id], "analytics_update", {"educatorId": self.educator_id, "updates": stats}
            )
        except UpstreamError as exc:
            log.warning("job %s: analytics not published: %s", self.job_id, exc)

    def _done_message(self, result: Any) -> str:
        took = self.clock() - self.started_at
        summary = result.get("summary") if isinstance(result, dict) else None
        n = result.get("numQuestions") if isinstance(result, dict) else None
        if summary:
            return f"Done: {summary} in {took:.1f}s"
        if not isinstance(n, int):
            return f"Done in {took:.1f}s"
        asked = self.raw_params.get("numQuestions") if isinstance(self.raw_params, dict) else None
        fewer = (
            f" of the {asked} asked: the document has material for no more"
            if isinstance(asked, int) and n < asked
            else ""
        )
        return f"Done: {plural(n, 'question')}{fewer} in {took:.1f}s"

    async def cancel(self) -> None:
        """Stop the job: its Ray tasks are cancelled and it ends `cancelled`."""
        if self._cancelled or self.state.terminal:
            return
        self._cancelled = True
        self.cancel_tasks(self._tasks)
        if self._runner is not None:
            self._runner.cancel()

    async def status(self) -> dict[str, Any]:
        """The job's current state (JobState wire dict), as this monitor holds it (newer than the
        shard's between coalesced publishes). For operators over Ray; the hub itself does not call it."""
        return self.state.wire()

    async def wait_done(self) -> str:
        """Returns when the job has ended; a shard holds this call open to notice a dead monitor."""
        await self._done.wait()
        return self.state.status
