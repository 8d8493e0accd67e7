"""The Ray edge: actor classes made from the plain ones, and small clients around their handles so
the rest of the hub never touches Ray objects (and is tested with fakes of these clients)."""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any

import ray
from ray.exceptions import ActorDiedError, RayError

from actors.job_monitor import JobMonitor
from actors.names import STORE_NAME, job_actor_name, shard_name
from actors.registry import RegistryShard
from actors.store import JobStore
from hub.core.config import MonitorConfig, ShardConfig
from hub.core.errors import UpstreamError, unwrap
from hub.core.handles import HelloRequest, ShardHandle, StoreHandle
from hub.core.records import DocumentRecord, FeedBatch, HelloReply, Outline, PublishReply, QuizRecord, ShardStats
from hub.core.sharding import shard_of

log = logging.getLogger("hub.ray")


# Coordinating actors hold no CPU: they only wait on I/O and other actors.
@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class RegistryShardActor(RegistryShard):
    def __init__(self, index: int, config: ShardConfig, namespace: str) -> None:
        super().__init__(index, config, store=StoreClient(ray.get_actor(STORE_NAME, namespace=namespace)))
        self.namespace = namespace

    async def node_id(self) -> str:
        """The Ray node this shard runs on (operators and the cluster tests ask)."""
        return str(ray.get_runtime_context().get_node_id())

    async def monitor_gone(self, job_id: str) -> None:
        """Return when the job's monitor is gone for good: it ended the job (and exit_actor), or it
        died past its restarts. A monitor Ray is restarting (its node or process was lost) is
        waited on again: the restarted one runs the job anew."""
        while True:
            try:
                monitor = ray.get_actor(job_actor_name(job_id), namespace=self.namespace)
            except ValueError:
                return  # no such actor any more: ended, or dead past its restarts
            try:
                await monitor.wait_done.remote()  # retried by Ray on a restarted monitor
                return
            except ActorDiedError:
                return  # dead for good (or exited without ending the job)
            except RayError as exc:  # unavailable for a while (restarting): ask again
                log.info("job %s: monitor unavailable (%s), waiting on it again", job_id, type(exc).__name__)
                await asyncio.sleep(0.5)


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class JobStoreActor(JobStore):
    """The store on the node that owns the data dir. On start it fails the unfinished jobs whose
    monitors are gone (the hub was stopped, or the store restarted after their node died)."""

    def __init__(self, path: str, namespace: str, busy_timeout: float = 5.0) -> None:
        super().__init__(path, busy_timeout=busy_timeout)
        self.recover(lambda job_id: _actor_exists(job_actor_name(job_id), namespace))


def _was_restarted() -> bool:
    """Whether Ray restarted the current actor (its first incarnation's node or process was lost)."""
    with warnings.catch_warnings():  # it reads a deprecated property on the way
        warnings.simplefilter("ignore")
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)


def _actor_exists(name: str, namespace: str) -> bool:
    try:
        ray.get_actor(name, namespace=namespace)
        return True
    except ValueError:
        return False


# Restarts are set per job by Cluster.spawn_job (Settings.job_max_restarts); Ray re-runs __init__
# with the same arguments on another node and retries the pending `run_and_exit` call there.
@ray.remote(num_cpus=0, max_restarts=0)
class JobMonitorActor(JobMonitor):
    def __init__(
        self, state: dict[str, Any], params: dict[str, Any], shard: str, namespace: str, config: MonitorConfig
    ) -> None:
        super().__init__(
            state,
            params,
            ShardClient(ray.get_actor(shard, namespace=namespace)),
            StoreClient(ray.get_actor(STORE_NAME, namespace=namespace)),
            config=config,
            restarted=_was_restarted(),
        )

    def cancel_tasks(self, refs: list[Any]) -> None:
        for ref in refs:
            try:
                ray.cancel(ref, force=True)
            except Exception as exc:  # already finished, or not cancellable: nothing left to stop
                log.debug("cancel %s: %s", ref, exc)

    async def run_and_exit(self) -> str:
        status = await self.run()
        # Exit in a call of its own that Ray never retries: exiting inside this call (which Ray
        # retries on a restarted monitor) would read as a failed call, logged at every job's end.
        ray.get_runtime_context().current_actor.exit_now.options(max_task_retries=0).remote()
        return status

    async def exit_now(self) -> None:
        ray.actor.exit_actor()


class _Client:
    """Awaitable calls into one actor; Ray failures become UpstreamError."""

    __slots__ = ("index", "_h")
    what = "actor"

    def __init__(self, handle: Any, index: int = -1) -> None:
        self._h = handle
        self.index = index

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self._h, method).remote(*args)
        except RayError as exc:
            # People see a sentence (an HTTP 503, an error frame); the log says what failed.
            name = self.what if self.index < 0 else f"{self.what} {self.index}"
            log.warning("%s: %s failed: %s", name, method, type(unwrap(exc)).__name__)
            raise UpstreamError(
                f"the hub's {name} did not answer; try again in a moment", method=method, error=type(exc).__name__
            ) from exc


class StoreClient(_Client):
    """The job store's actor as a StoreHandle (hub.core.handles)."""

    what = "job store"

    async def save(self, state: dict[str, Any], result: Any = None) -> None:
        await self._call("save", state, result)

    async def delete(self, job_id: str) -> None:
        await self._call("delete", job_id)

    async def get(self, job_id: str) -> dict[str, Any] | None:
        return await self._call("get", job_id)

    async def result(self, job_id: str) -> Any:
        return await self._call("result", job_id)

    async def list_jobs_many(self, educator_ids: list[str], limit: int = 200) -> list[list[dict[str, Any]]]:
        return await self._call("list_jobs_many", educator_ids, limit)

    async def list_jobs_page(
        self, educator_id: str, limit: int, before: tuple[float, str] | None = None
    ) -> list[dict[str, Any]]:
        return await self._call("list_jobs_page", educator_id, limit, before)

    async def educator_stats(self, educator_id: str) -> dict[str, Any]:
        return await self._call("educator_stats", educator_id)

    async def save_quiz(
        self,
        quiz_id: str,
        educator_id: str,
        source_text: str,
        questions: list[dict[str, Any]],
        document_id: str | None = None,
    ) -> None:
        await self._call("save_quiz", quiz_id, educator_id, source_text, questions, document_id)

    async def quiz(self, quiz_id: str) -> QuizRecord | None:
        return await self._call("quiz", quiz_id)

    async def replace_question(self, quiz_id: str, question_id: str, question: dict[str, Any]) -> None:
        await self._call("replace_question", quiz_id, question_id, question)

    async def save_document(
        self, document_id: str, educator_id: str, filename: str | None, text: str, index: dict[str, Any]
    ) -> None:
        await self._call("save_document", document_id, educator_id, filename, text, index)

    async def document(self, document_id: str) -> DocumentRecord | None:
        return await self._call("document", document_id)

    async def outline(self, quiz_id: str | None, document_id: str | None) -> Outline:
        return await self._call("outline", quiz_id, document_id)

    async def register_kind(self, name: str, kind: Any) -> None:
        await self._call("register_kind", name, kind)

    async def kind(self, name: str) -> Any:
        return await self._call("kind", name)

    async def kind_names(self) -> list[str]:
        return await self._call("kind_names")


class ShardClient(_Client):
    """A registry shard's actor as a ShardHandle (hub.core.handles)."""

    what = "registry shard"

    async def publish(self, updates: list[dict[str, Any]]) -> PublishReply:
        return await self._call("publish", updates)

    async def publish_message(self, educator_ids: list[str], mtype: str, data: dict[str, Any]) -> int:
        return await self._call("publish_message", educator_ids, mtype, data)

    async def hello_many(self, ingress_id: str, requests: list[HelloRequest]) -> list[HelloReply]:
        return await self._call("hello_many", ingress_id, requests)

    async def unwatch_many(self, ingress_id: str, educator_ids: list[str]) -> list[None]:
        return await self._call("unwatch_many", ingress_id, educator_ids)

    async def attach(self, ingress_id: str, educator_ids: list[str]) -> str:
        return await self._call("attach", ingress_id, educator_ids)

    async def detach(self, ingress_id: str) -> None:
        await self._call("detach", ingress_id)

    async def pull(self, ingress_id: str, ack: int, timeout: float | None = None) -> FeedBatch:
        return await self._call("pull", ingress_id, ack, timeout)

    async def jobs_of(self, educator_id: str) -> list[dict[str, Any]]:
        return await self._call("jobs_of", educator_id)

    async def states(self, job_ids: list[str]) -> list[dict[str, Any] | None]:
        return await self._call("states", job_ids)

    async def job(self, job_id: str) -> dict[str, Any] | None:
        return await self._call("job", job_id)

    async def resend(self, job_id: str) -> int:
        return await self._call("resend", job_id)

    async def update_job(self, job_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        return await self._call("update_job", job_id, changes)

    async def broadcast(self, mtype: str, data: dict[str, Any]) -> int:
        return await self._call("broadcast", mtype, data)

    async def ping(self) -> str:
        return await self._call("ping")

    async def stats(self) -> ShardStats:
        return await self._call("stats")


class Cluster:
    """The hub's view of its Ray cluster: the shard clients and job spawning."""

    def __init__(
        self,
        shards: int,
        namespace: str,
        monitor: MonitorConfig = MonitorConfig(),  # noqa: B008 (frozen: one shared default is safe)
        job_max_restarts: int = 1,
    ) -> None:
        self.namespace = namespace
        self.monitor = monitor  # each job's monitor gets it (Settings.monitor_config())
        self.job_max_restarts = job_max_restarts
        self.shards: list[ShardHandle] = [
            ShardClient(ray.get_actor(shard_name(k), namespace=namespace), k) for k in range(shards)
        ]
        self.store: StoreHandle = StoreClient(ray.get_actor(STORE_NAME, namespace=namespace))

    def shard_for(self, educator_id: str) -> ShardHandle:
        return self.shards[shard_of(educator_id, len(self.shards))]

    def spawn_job(
        self, state: dict[str, Any], params: dict[str, Any], resources: dict[str, float] | None = None
    ) -> None:
        """Start the job's monitor actor and its run; returns without waiting for the process.
        `resources` ({"num_cpus": 1, "num_gpus": 1, "memory": ..., or custom resources}) place it;
        monitors spread over the nodes that have them. A monitor whose node is lost is restarted
        (up to job_max_restarts times) and its calls, the run among them, retried there."""
        shard = shard_name(shard_of(state["educatorId"], len(self.shards)))
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

    def cancel_job(self, job_id: str, *, started: bool = True) -> bool:
        """Ask the job's monitor to cancel it; False when there is no monitor to ask (the caller
        ends the record). A job not `started` (still `queued`) may have a monitor that Ray cannot
        place (its resources are nowhere free), which would take the cancel only once placed, so
        it is killed instead (never restarted), and the caller ends the record: False."""
        try:
            actor = ray.get_actor(job_actor_name(job_id), namespace=self.namespace)
        except ValueError:
            return False
        if not started:
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


def start_actors(
    count: int, namespace: str, config: ShardConfig, db_path: str, store_busy_timeout: float = 5.0
) -> None:
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
