"""The hub's view of its Ray cluster (Cluster: the shard and store clients, job spawning, the warm
monitor pool) and the start of its named actors (start_actors, discover_shards)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import ray

from actors.handles import JobMonitorActor, JobStoreActor, RegistryShardActor, ShardClient, StoreClient, _actor_exists
from actors.names import STORE_NAME, job_actor_name, shard_name
from actors.pool import MonitorPool
from hub.core.config import DataPlaneConfig, MonitorConfig, ShardConfig
from hub.core.errors import UpstreamError
from hub.core.handles import ShardHandle, StoreHandle
from hub.core.sharding import shard_of

log = logging.getLogger("hub.ray")


class Cluster:
    """The hub's view of its Ray cluster: the shard clients and job spawning.

    `monitor`: what each job's monitor gets (Settings.monitor_config(); its data-plane settings
    among them). `dataplane`: how this process's own shard clients reach the shards; None: by Ray
    calls only. An ingress passes its settings (its relay is the hot path); a back end in a
    notebook or script passes None: it runs its coroutines on event loops that live a cell or an
    `asyncio.run` long, which a socket would outlive, and it calls a shard now and then."""

    def __init__(
        self,
        shards: int,
        namespace: str,
        monitor: MonitorConfig = MonitorConfig(),  # noqa: B008 (frozen: one shared default is safe)
        job_max_restarts: int = 1,
        dataplane: DataPlaneConfig | None = None,
        pool: int = 0,
        pool_lease: float = 20.0,
        pool_refill_delay: float = 0.5,
    ) -> None:
        self.namespace = namespace
        self.monitor = monitor  # each job's monitor gets it (Settings.monitor_config())
        self.job_max_restarts = job_max_restarts
        self.shards: list[ShardHandle] = [
            ShardClient(ray.get_actor(shard_name(k), namespace=namespace), k, dataplane) for k in range(shards)
        ]
        self.store: StoreHandle = StoreClient(ray.get_actor(STORE_NAME, namespace=namespace))
        self.pool: MonitorPool | None = None  # Settings.monitor_pool warm monitors, or None
        if pool > 0:
            self.pool = MonitorPool(
                pool, pool_lease, namespace, shards, monitor, job_max_restarts, refill_delay=pool_refill_delay
            )

    def new_job_id(self, resources: dict[str, float] | None = None) -> str:
        """A new job's id: that of a ready warm monitor (actors.pool) reserved for it when the pool has
        one and the job's kind asks for no `resources` (warm monitors hold none), else a fresh one.
        The job is then recorded under it and `spawn_job`ed, or `release_job_id`ed if not recorded."""
        if self.pool is not None and not resources:
            job_id = self.pool.new_job_id()
            if job_id is not None:
                return str(job_id)
        return uuid.uuid4().hex

    def release_job_id(self, job_id: str) -> None:
        """A job id from `new_job_id` whose job was not recorded: its warm monitor, if any, goes back to
        the pool."""
        if self.pool is not None:
            self.pool.release(job_id)

    def shard_for(self, educator_id: str) -> ShardHandle:
        """The client of the shard that holds `educator_id`'s stream (hub.core.sharding.shard_of over
        the shards' count)."""
        return self.shards[shard_of(educator_id, len(self.shards))]

    def spawn_job(
        self, state: dict[str, Any], params: dict[str, Any], resources: dict[str, float] | None = None
    ) -> None:
        """Start the job's monitor actor and its run; returns without waiting for the process.
        `resources` ({"num_cpus": 1, "num_gpus": 1, "memory": ..., or custom resources}) place it;
        monitors spread over the nodes that have them. A monitor whose node is lost is restarted
        (up to job_max_restarts times) and its calls, the run among them, retried there. A job whose
        id `new_job_id` reserved from the warm pool is handed to that warm monitor instead (one
        actor call, not waited on)."""
        shard = shard_name(shard_of(state["educatorId"], len(self.shards)))
        warm = self.pool.claim(state["jobId"]) if self.pool is not None else None
        if warm is not None:  # started before the job, named for it (new_job_id): hand it over
            warm.run_job.remote(state, params, shard)
            return
        wanted = dict(resources or {})
        placement = {k: wanted.pop(k) for k in ("num_cpus", "num_gpus", "memory") if k in wanted}
        actor = JobMonitorActor.options(  # type: ignore[attr-defined]
            name=job_actor_name(state["jobId"]),
            namespace=self.namespace,
            lifetime="detached",
            scheduling_strategy="SPREAD",
            max_restarts=self.job_max_restarts,
            max_task_retries=-1 if self.job_max_restarts else 0,
            **placement,
            **({"resources": wanted} if wanted else {}),
        ).remote(state, params, shard, self.namespace, self.monitor)
        actor.run_and_exit.remote()

    async def close(self) -> None:
        """Close this process's data-plane connections to the shards (an ingress that is stopping, after
        Relay.stop); calls still in flight fail as after a broken socket. End the warm monitors that
        have no job (actors.pool): jobs running keep theirs."""
        if self.pool is not None:
            await asyncio.to_thread(self.pool.close)
        await asyncio.gather(*(s.plane.close() for s in self.shards if isinstance(s, ShardClient) and s.plane))

    def cancel_job(self, job_id: str, *, started: bool = True) -> bool:
        """Ask the job's monitor to cancel it; False when there is no monitor to ask (the caller
        ends the record). A job not `started` (still `queued`) may have a monitor that Ray cannot
        place (its resources are nowhere free), which would take the cancel only once placed, so
        it is killed instead (never restarted), and the caller ends the record: False. A warm
        monitor (actors.pool, known by its `run_job` method) is placed and running already: it is
        asked like a started one (it cancels a job whose hand-over it has not had yet as that comes),
        since killing it could race its `processing` (the shard would end the job `failed`)."""
        try:
            actor = ray.get_actor(job_actor_name(job_id), namespace=self.namespace)
        except ValueError:
            return False
        if not started and not hasattr(actor, "run_job"):
            ray.kill(actor, no_restart=True)
            return False
        actor.cancel.remote()
        return True


def discover_shards(namespace: str) -> int:
    """How many registry shards a running hub has in `namespace`."""
    count = 0
    while _actor_exists(shard_name(count), namespace):
        count += 1
    if count == 0:
        raise UpstreamError(f"no hub registry shards in Ray namespace {namespace!r}: is `hub serve` running?")
    return count


def start_actors(count: int, namespace: str, config: ShardConfig, db_path: str, store_busy_timeout: float) -> None:
    """Create the named store and shard actors, or find them when another hub process made them.
    The store is pinned to this node: its database file lives in this node's data dir; its writes
    wait out a busy database for up to `store_busy_timeout` seconds."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    store = JobStoreActor.options(  # type: ignore[attr-defined]
        name=STORE_NAME,
        namespace=namespace,
        lifetime="detached",
        get_if_exists=True,
        scheduling_strategy=here,
    ).remote(db_path, namespace, store_busy_timeout)
    log.info("job store ready at %s", ray.get(store.ping.remote()))
    handles = [
        RegistryShardActor.options(  # type: ignore[attr-defined]
            name=shard_name(k),
            namespace=namespace,
            lifetime="detached",
            get_if_exists=True,
            scheduling_strategy="SPREAD",  # shards across nodes: one node's loss restarts few
        ).remote(k, config, namespace)
        for k in range(count)
    ]
    epochs = ray.get([h.ping.remote() for h in handles])
    log.info("%d registry shards ready (epochs %s)", count, ", ".join(epochs))
