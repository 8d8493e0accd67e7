"""The Ray edge: actor classes made from the plain ones, and small clients around their handles so
the rest of the hub never touches Ray objects (and is tested with fakes of these clients)."""

from __future__ import annotations

import logging
from typing import Any

import ray
from ray.exceptions import RayError

from actors.job_monitor import JobMonitor
from actors.registry import RegistryShard
from hub.errors import UpstreamError
from hub.settings import ShardConfig
from hub.sharding import job_actor_name, shard_name, shard_of

log = logging.getLogger("hub.ray")

# Coordinating actors hold no CPU: they only wait on I/O and other actors.
RegistryShardActor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)(RegistryShard)


@ray.remote(num_cpus=0, max_restarts=0)
class JobMonitorActor(JobMonitor):
    def __init__(self, state: dict[str, Any], params: dict[str, Any], shard: str, namespace: str,
                 progress_interval: float) -> None:
        super().__init__(state, params, ShardClient(ray.get_actor(shard, namespace=namespace)),
                         progress_interval=progress_interval)

    async def run_and_exit(self) -> str:
        status = await self.run()
        ray.actor.exit_actor()
        return status


class ShardClient:
    """Awaitable calls into one RegistryShard actor; Ray failures become UpstreamError."""

    __slots__ = ("index", "_h")

    def __init__(self, handle: Any, index: int = -1) -> None:
        self._h = handle
        self.index = index

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self._h, method).remote(*args)
        except RayError as exc:
            raise UpstreamError(f"registry shard {self.index} {method}: {type(exc).__name__}") from exc

    async def publish(self, updates: list[dict[str, Any]]) -> list[int]:
        return await self._call("publish", updates)

    async def publish_message(self, educator_ids: list[str], mtype: str, data: dict[str, Any]) -> int:
        return await self._call("publish_message", educator_ids, mtype, data)

    async def hello(self, ingress_id: str, educator_id: str, resume: tuple[str, int] | None) -> dict[str, Any]:
        return await self._call("hello", ingress_id, educator_id, resume)

    async def unwatch(self, ingress_id: str, educator_id: str) -> None:
        await self._call("unwatch", ingress_id, educator_id)

    async def attach(self, ingress_id: str, educator_ids: list[str]) -> str:
        return await self._call("attach", ingress_id, educator_ids)

    async def detach(self, ingress_id: str) -> None:
        await self._call("detach", ingress_id)

    async def pull(self, ingress_id: str, ack: int, timeout: float | None = None) -> dict[str, Any]:
        return await self._call("pull", ingress_id, ack, timeout)

    async def jobs_of(self, educator_id: str) -> list[dict[str, Any]]:
        return await self._call("jobs_of", educator_id)

    async def job(self, job_id: str) -> dict[str, Any] | None:
        return await self._call("job", job_id)

    async def result(self, job_id: str) -> tuple[dict[str, Any] | None, Any]:
        return await self._call("result", job_id)

    async def ping(self) -> str:
        return await self._call("ping")

    async def stats(self) -> dict[str, Any]:
        return await self._call("stats")


class Cluster:
    """The hub's view of its Ray cluster: the shard clients and job spawning."""

    def __init__(self, shards: int, namespace: str, progress_interval: float = 0.05) -> None:
        self.namespace = namespace
        self.progress_interval = progress_interval
        self.shards = [
            ShardClient(ray.get_actor(shard_name(k), namespace=namespace), k) for k in range(shards)
        ]

    def shard_for(self, educator_id: str) -> ShardClient:
        return self.shards[shard_of(educator_id, len(self.shards))]

    def spawn_job(self, state: dict[str, Any], params: dict[str, Any]) -> None:
        """Start the job's monitor actor and its run; returns without waiting for the process."""
        shard = shard_name(shard_of(state["educatorId"], len(self.shards)))
        actor = JobMonitorActor.options(
            name=job_actor_name(state["jobId"]), namespace=self.namespace, lifetime="detached"
        ).remote(state, params, shard, self.namespace, self.progress_interval)
        actor.run_and_exit.remote()

    def cancel_job(self, job_id: str) -> bool:
        try:
            actor = ray.get_actor(job_actor_name(job_id), namespace=self.namespace)
        except ValueError:
            return False
        actor.cancel.remote()
        return True


def start_shards(count: int, namespace: str, config: ShardConfig) -> None:
    """Create the named shard actors, or find them when another hub process already made them."""
    handles = [
        RegistryShardActor.options(
            name=shard_name(k), namespace=namespace, lifetime="detached", get_if_exists=True
        ).remote(k, config)
        for k in range(count)
    ]
    epochs = ray.get([h.ping.remote() for h in handles])
    log.info("%d registry shards ready (epochs %s)", count, ", ".join(epochs))
