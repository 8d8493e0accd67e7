"""Warm job monitors (Settings.monitor_pool): monitor actors started before their job, so that a job's
`processing` comes without an actor start (a process, its imports, its handle look-ups) on its path.

Still one actor per job: a warm monitor takes one job and exits after it. It is made named for the
job id it will take (`job_actor_name`; JobDesk asks the pool for the id: Cluster.new_job_id), so
every look-up of a job's monitor by name (a shard's `monitor_gone`, the store's recovery,
Cluster.cancel_job) finds it as it finds a monitor started for its job. The job is handed over in
an actor call, `run_job`, which Ray retries (max_task_retries=-1) on a monitor it restarts after
losing its node (max_restarts: Settings.job_max_restarts): the restarted monitor runs the job again
there, as JobMonitorActor does.

Each ingress process keeps its own pool (MonitorPool, a thread of that process): no actor hop on a
job's path, no extra process, and a pool never outlives the ingress that made it. Warm monitors
are detached (a job outlives an ingress that stops, as before), so each idle one lives on a lease
its ingress renews: a stopping ingress ends its idle ones at once (Cluster.close), a killed one's
end themselves when their lease lapses (Settings.monitor_pool_lease).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from typing import Any

import ray
from ray.exceptions import RayError

from actors.handles import RayJobMonitor, ShardClient, StoreClient, _was_restarted
from actors.names import STORE_NAME, job_actor_name, shard_name
from hub.core.config import MonitorConfig
from hub.core.warmpool import WarmPool

log = logging.getLogger("hub.pool")


@ray.remote(num_cpus=0, max_restarts=0)
class WarmMonitorActor:
    """A job monitor actor started before its job (named `job_actor_name(job_id)` by MonitorPool, which
    sets its restarts). Its __init__ looks up the store and the `shards` registry shards of
    `namespace`; `run_job` gives it its job (a RayJobMonitor runs it) and ends the actor after it.
    Idle, it ends itself (ray.kill, never restarted) once `lease` seconds pass without a `renew`.
    The job monitor calls (`cancel`, `wait_done`, `status`, `link_item`) are those of JobMonitorActor."""

    def __init__(self, namespace: str, shards: int, config: MonitorConfig, lease: float) -> None:
        self.config = config
        self.store = StoreClient(ray.get_actor(STORE_NAME, namespace=namespace))
        self.shards = {
            shard_name(k): ShardClient(ray.get_actor(shard_name(k), namespace=namespace), dataplane=config)
            for k in range(shards)
        }
        self.monitor: RayJobMonitor | None = None
        self._taken = threading.Event()  # run_job came: the lease no longer applies
        self._started = asyncio.Event()  # the monitor exists
        self._cancel_first = False  # a cancel that came before the job (calls of two handles race)
        self._lease_until = time.monotonic() + lease
        threading.Thread(target=self._watch_lease, name="warm-monitor-lease", daemon=True).start()

    def _watch_lease(self) -> None:
        while not self._taken.wait(min(1.0, max(0.0, self._lease_until - time.monotonic()))):
            if time.monotonic() >= self._lease_until:
                log.info("warm monitor: its ingress stopped renewing its lease; ending")
                ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
                return

    async def ready(self) -> None:
        """Answers once this actor is up and warmed: the modules its jobs' tasks come from imported, a
        first call made to the store and to each shard (their connections, the shards' data-plane
        sockets, opened). The pool hands it a job only then. A warm-up call that fails is logged: the
        job makes it again."""
        import jobs.tasks  # noqa: F401 (the built-in kinds' Ray tasks, imported by their first job)

        calls = [self.store.kind_names(), *(shard.ping() for shard in self.shards.values())]
        for failed in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(failed, BaseException):
                log.info("warm monitor: a warm-up call failed (%s); its job makes it again", failed)

    async def renew(self, lease: float) -> bool:
        """Keep this idle warm monitor for `lease` seconds more (its ingress is alive). Returns whether
        Ray restarted it (its node was lost while it waited): it has used a restart its job would
        need, so its ingress ends it and starts another."""
        self._lease_until = max(self._lease_until, time.monotonic() + lease)
        return _was_restarted()

    async def run_job(self, state: dict[str, Any], params: dict[str, Any], shard: str) -> str:
        """Run the job (`state`: its JobState wire dict as recorded `queued`; `params`: the validated
        params as a wire dict; `shard`: its educator's shard actor's name) to its end and exit, as
        JobMonitorActor.run_and_exit; returns the final status. Retried by Ray on this actor restarted
        after its node or process was lost: that run is the job's next attempt (JobMonitor.restarted),
        unless the store still holds it `queued` (this actor was lost while idle, before its job
        started: nobody saw it start, so it is the first)."""
        self._taken.set()
        store = self.store
        restarted = _was_restarted()
        if restarted:
            try:
                stored = await store.get(state["jobId"])
            except Exception as exc:  # the store is restarting too: JobMonitor asks it again
                log.warning("job %s: store not reachable after restart (%s)", state["jobId"], exc)
                stored = None
            restarted = stored is None or stored.status != "queued"
        monitor = RayJobMonitor(state, params, self.shards[shard], store, config=self.config, restarted=restarted)
        self.monitor = monitor
        self._started.set()
        if self._cancel_first:
            await monitor.cancel()
        status = await monitor.run()
        ray.get_runtime_context().current_actor.exit_now.options(max_task_retries=0).remote()
        return status

    async def cancel(self) -> None:
        """JobMonitor.cancel on the job's monitor; before the job came, it is cancelled as it comes."""
        if self.monitor is None:
            self._cancel_first = True
            return
        await self.monitor.cancel()

    async def wait_done(self) -> str:
        """JobMonitor.wait_done, waiting first for the job to come."""
        await self._started.wait()
        assert self.monitor is not None
        return await self.monitor.wait_done()

    async def status(self) -> dict[str, Any] | None:
        """JobMonitor.status; None while no job came."""
        return None if self.monitor is None else await self.monitor.status()

    async def link_item(self, channel: int, number: int, item: Any) -> None:
        """JobMonitor.link_item (a task of the job reporting by actor call)."""
        await self._started.wait()
        assert self.monitor is not None
        await self.monitor.link_item(channel, number, item)

    async def exit_now(self) -> None:
        """End this actor's process (ray.actor.exit_actor); its name is freed."""
        ray.actor.exit_actor()


class MonitorPool:
    """One ingress's warm monitors (hub.core.warmpool.WarmPool keeps the books; a daemon thread of
    this process starts, watches and renews them). `size`: how many to keep ready; `lease`:
    seconds an idle one lives unrenewed; `namespace`, `shards`, `config` (MonitorConfig): what
    each monitor needs; `max_restarts`: Settings.job_max_restarts; `refill_delay`: seconds after a
    warm monitor is taken before its replacement starts (Settings.monitor_pool_refill_delay).
    Thread-safe."""

    def __init__(
        self,
        size: int,
        lease: float,
        namespace: str,
        shards: int,
        config: MonitorConfig,
        max_restarts: int,
        refill_delay: float = 0.5,
    ) -> None:
        self.namespace = namespace
        self.shards = shards
        self.config = config
        self.max_restarts = max_restarts
        self.books: WarmPool[Any] = WarmPool(size, lease)
        self.refill_delay = refill_delay
        self._refill_at = 0.0  # monotonic: no replacement starts before then (a job is starting)
        self._ready_refs: dict[str, Any] = {}  # job id -> its `ready` call, while starting
        self._renewals: dict[str, Any] = {}  # job id -> its last `renew` call, not yet answered
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.started = 0  # warm monitors started, handed a job, and taken back into the idle ones
        self.handed = 0
        self._thread = threading.Thread(target=self._loop, name="hub-monitor-pool", daemon=True)
        self._thread.start()

    def new_job_id(self) -> str | None:
        """The job id of a ready warm monitor reserved for a job being submitted (the job must be
        recorded under it, then `claim`ed or `release`d), or None when none is ready."""
        now = time.monotonic()
        with self._lock:
            job_id = self.books.take(now)
            if job_id is not None:  # its replacement starts once the job has: not competing for a core
                self._refill_at = now + self.refill_delay
        self._wake.set()
        return job_id

    def claim(self, job_id: str) -> Any:
        """The reserved warm monitor's handle for `job_id`, now the job's (no longer the pool's), or None
        when `job_id` was not reserved here."""
        with self._lock:
            warm = self.books.claim(job_id)
        if warm is None:
            return None
        self.handed += 1
        return warm.handle

    def release(self, job_id: str) -> None:
        """`job_id` was reserved but its job not recorded: its warm monitor goes back to the idle ones
        (or is ended, when its lease is too near its end)."""
        with self._lock:
            stale = self.books.release(job_id, time.monotonic())
        if stale is not None:
            self._end(stale.handle)

    def idle_names(self) -> list[str]:
        """The actor names of the warm monitors waiting for a job (operators and tests)."""
        with self._lock:
            return [job_actor_name(w.job_id) for w in self.books.idle]

    def ready_job_ids(self) -> list[str]:
        """The job ids of the warm monitors ready for a job (operators and tests)."""
        with self._lock:
            return [w.job_id for w in self.books.idle if w.ready]

    def close(self) -> None:
        """Stop the pool's thread and end every warm monitor that has no job (blocking: a thread)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        with self._lock:
            left = self.books.drain()
        for warm in left:
            self._end(warm.handle)

    def _end(self, handle: Any) -> None:
        try:
            ray.kill(handle, no_restart=True)
        except Exception as exc:  # already gone
            log.debug("warm monitor not killed: %s", exc)

    def _loop(self) -> None:
        lease = self.books.lease
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # Ray not reachable for a while: the next tick tries again
                log.exception("warm monitor pool: a round failed")
            with self._lock:
                starting = bool(self.books.starting())
                refill_in = self._refill_at - time.monotonic()
            self._wake.wait(0.1 if starting else max(0.01, refill_in) if refill_in > 0 else lease / 8)
            self._wake.clear()

    def _tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            lapsed = self.books.lapsed(now) + self.books.abandoned(now)
            due = self.books.renew_due(now)
            wanted = self.books.wanted() if now >= self._refill_at else 0
            refs = dict(self._ready_refs)
        for warm in lapsed:
            self._ready_refs.pop(warm.job_id, None)
            self._end(warm.handle)
        for warm in due:
            self._renewals[warm.job_id] = warm.handle.renew.remote(self.books.lease)
            with self._lock:
                self.books.renewed(warm, now)
        self._check_renewals()
        if refs:
            done, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=0)
            for job_id, ref in refs.items():
                if ref not in done:
                    continue
                self._ready_refs.pop(job_id, None)
                try:
                    ray.get(ref)
                except RayError as exc:  # it could not start: forget it, another replaces it
                    log.warning("a warm job monitor did not start: %s", type(exc).__name__)
                    with self._lock:
                        self.books.forget(job_id)
                    continue
                with self._lock:
                    self.books.mark_ready(job_id)
        for _ in range(wanted):
            if self._stop.is_set():
                return
            self._start_one()

    def _check_renewals(self) -> None:
        """Drop the idle warm monitors whose `renew` says Ray restarted them, or failed (dead for good:
        their node was lost past their restarts), so that no job is handed to one of them."""
        if not self._renewals:
            return
        done, _ = ray.wait(list(self._renewals.values()), num_returns=len(self._renewals), timeout=0)
        for job_id, ref in list(self._renewals.items()):
            if ref not in done:
                continue
            del self._renewals[job_id]
            try:
                restarted = bool(ray.get(ref))
            except RayError as exc:
                log.info("warm monitor %s is gone (%s): replaced", job_id, type(exc).__name__)
                restarted = True
            if restarted:
                with self._lock:
                    warm = self.books.forget(job_id)
                if warm is not None:
                    self._end(warm.handle)

    def _start_one(self) -> None:
        job_id = uuid.uuid4().hex
        handle = WarmMonitorActor.options(  # type: ignore[attr-defined]
            name=job_actor_name(job_id),
            namespace=self.namespace,
            lifetime="detached",
            scheduling_strategy="SPREAD",
            max_restarts=self.max_restarts,
            max_task_retries=-1 if self.max_restarts else 0,
        ).remote(self.namespace, self.shards, self.config, self.books.lease)
        with self._lock:
            self.books.add(job_id, handle, time.monotonic())
            self._ready_refs[job_id] = handle.ready.remote()
        self.started += 1
