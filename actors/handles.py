"""The Ray edge: actor classes made from the plain ones, and small clients around their handles so
the rest of the hub never touches Ray objects (and is tested with fakes of these clients)."""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any

import ray
from ray.exceptions import ActorDiedError, RayError

from actors import raystate
from actors.dataplane.client import Broken, DataPlaneClient, Failed, NoSocket, NotCarried
from actors.dataplane.server import DataPlaneServer
from actors.job_monitor import JobMonitor
from actors.names import STORE_NAME, job_actor_name
from actors.registry import Placement, RegistryShard
from actors.store import JobStore
from actors.tasklink import LinkServer
from hub.core.config import DataPlaneConfig, MonitorConfig, ShardConfig
from hub.core.errors import ClientError, UpstreamError, unwrap
from hub.core.eta import KindPace
from hub.core.handles import HelloRequest, RoomJoinRequest
from hub.core.idempotency import Held
from hub.core.items import KeptItem
from hub.core.jobstate import JobState
from hub.core.records import (
    DataPlaneEndpoint,
    DocumentRecord,
    FeedBatch,
    HelloReply,
    Outline,
    PublishReply,
    QuizRecord,
    RoomJoinReply,
    RoomMember,
    ShardStats,
)
from hub.core.waiting import NodeResources, PendingTasks

log = logging.getLogger("hub.ray")


# Coordinating actors hold no CPU: they only wait on I/O and other actors.
@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class RegistryShardActor(RegistryShard):
    """RegistryShard as a named Ray actor (`shard_name(index)`, made by start_actors). No CPU;
    restarted by Ray for ever, as a new incarnation (new epoch, empty streams: ingresses re-attach,
    monitors re-announce); calls into it are never retried. Its store is the named store actor of
    `namespace`; `monitor_gone` waits on a job's monitor actor."""

    def __init__(self, index: int, config: ShardConfig, namespace: str) -> None:
        super().__init__(index, config, store=StoreClient(ray.get_actor(STORE_NAME, namespace=namespace)))
        self.namespace = namespace
        self._plane: DataPlaneServer | None = None
        self._plane_lock: asyncio.Lock | None = None

    async def endpoint(self) -> DataPlaneEndpoint | None:
        """Where this shard's data-plane socket is, with a fresh token (DataPlaneEndpoint); the server
        starts on the first ask. None when the hub runs without a data plane (Settings.dataplane) or
        no socket could be bound (logged): callers then use Ray calls."""
        if not self.config.dataplane:
            return None
        if self._plane_lock is None:
            self._plane_lock = asyncio.Lock()
        async with self._plane_lock:
            if self._plane is None:
                plane = DataPlaneServer(self, self.config, f"shard {self.index}")
                try:
                    await plane.start(ray.util.get_node_ip_address())
                except OSError as exc:
                    log.warning("shard %d: no data-plane socket (%s); callers use Ray calls", self.index, exc)
                    return None
                self._plane = plane
        return self._plane.endpoint()

    async def dataplane_counters(self) -> dict[str, int]:
        """The data-plane server's counters: connections open, frames dropped, upgrades refused (tests
        and operators; all 0 before the server started)."""
        plane = self._plane
        if plane is None:
            return {"connections": 0, "dropped": 0, "refused": 0}
        return {"connections": plane.connections, "dropped": plane.dropped, "refused": plane.refused}

    async def node_id(self) -> str:
        """The Ray node this shard runs on (operators and the cluster tests ask)."""
        return str(ray.get_runtime_context().get_node_id())

    async def monitor_placement(self, job_id: str) -> Placement:
        """RegistryShard.monitor_placement from Ray's state (actors.raystate, off the event loop): the
        resources the job's monitor asks while its GCS actor-table entry is PENDING_CREATION, with
        the cluster's live nodes; "placed" once it is not; "absent" while Ray has no such actor."""
        asks = await asyncio.to_thread(raystate.pending_actor, job_actor_name(job_id), self.namespace)
        if isinstance(asks, str):
            return asks
        nodes, _ = await asyncio.to_thread(raystate.cluster_nodes)
        return asks, nodes

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

    def __init__(self, path: str, namespace: str, busy_timeout: float) -> None:
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


class RayJobMonitor(JobMonitor):
    """JobMonitor with its Ray edge: task links served on a socket of this node, the job's Ray tasks
    cancelled by ray.cancel, its own actor handle for the tasks' actor-call path. The monitor object
    of a job monitor actor: JobMonitorActor (started for its job) or actors.pool.WarmMonitorActor
    (started before it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._link_server: LinkServer | None = None
        self._link_lock = asyncio.Lock()

    async def _serve_links(self) -> DataPlaneEndpoint | None:
        """The task links' socket (actors.tasklink: TLS on this node's address, plain on 127.0.0.1),
        started on first use, with a token good for MonitorConfig.task_link_token_ttl; None (tasks
        report by actor calls) if it cannot be bound, logged."""
        async with self._link_lock:  # a job's tasks may ask for links at once (quiz questions)
            if self._link_server is None:
                server = LinkServer(
                    self._links, self._links_idle, job_id=self.job_id, max_frame=self.config.task_link_max_frame
                )
                try:
                    await server.start(ray.util.get_node_ip_address())
                except OSError as exc:
                    log.warning("job %s: no task link socket (%s): its tasks report by actor calls", self.job_id, exc)
                    return None
                self._link_server = server
            return self._link_server.endpoint(self.config.task_link_token_ttl)

    def _own_handle(self) -> Any:
        return ray.get_runtime_context().current_actor

    async def _close_links(self) -> None:
        if self._link_server is not None:
            await self._link_server.close()

    def _tasks_unfinished(self) -> bool:
        """JobMonitor._tasks_unfinished: ray.wait with no timeout on the tracked tasks (local, no fetch)."""
        return bool(_unfinished(self._tasks))

    async def _tasks_waiting(self, refs: list[Any]) -> tuple[list[PendingTasks], list[NodeResources]] | None:
        """JobMonitor._tasks_waiting from Ray's state (actors.raystate, off the event loop): the
        unfinished tracked tasks (ray.wait with no timeout, local) that Ray's task events show
        unplaced, asked only while Ray's resource state has requests it cannot place."""
        unfinished = _unfinished(refs)
        if not unfinished:
            return None
        nodes, pending = await asyncio.to_thread(raystate.cluster_nodes)
        if not pending:
            return [], nodes
        ids = [task for task in map(raystate.task_id_of, unfinished) if task is not None]
        return await asyncio.to_thread(raystate.pending_tasks, ids), nodes

    def cancel_tasks(self, refs: list[Any]) -> None:
        """Cancel each Ray task in `refs` (ray.cancel with force=True: its worker is killed); a task already
        finished or not cancellable is skipped (logged at debug)."""
        for ref in refs:
            try:
                ray.cancel(ref, force=True)
            except Exception as exc:  # already finished, or not cancellable: nothing left to stop
                log.debug("cancel %s: %s", ref, exc)


# Restarts are set per job by Cluster.spawn_job (Settings.job_max_restarts); Ray re-runs __init__
# with the same arguments on another node and retries the pending `run_and_exit` call there.
@ray.remote(num_cpus=0, max_restarts=0)
class JobMonitorActor(RayJobMonitor):
    """JobMonitor as a named Ray actor (`job_actor_name(job_id)`, made by Cluster.spawn_job, which sets
    its restarts and resources). Finds the shard actor named `shard` and the store in `namespace`;
    `restarted` is read from Ray (this incarnation replaces one whose node or process was lost)."""

    def __init__(
        self, state: dict[str, Any], params: dict[str, Any], shard: str, namespace: str, config: MonitorConfig
    ) -> None:
        super().__init__(
            state,
            params,
            ShardClient(ray.get_actor(shard, namespace=namespace), dataplane=config),
            StoreClient(ray.get_actor(STORE_NAME, namespace=namespace)),
            config=config,
            restarted=_was_restarted(),
        )

    async def run_and_exit(self) -> str:
        """JobMonitor.run, then this actor's exit in a call of its own (`exit_now`, never retried);
        returns the final status (`completed`, `failed` or `cancelled`)."""
        status = await self.run()
        # Exit in a call of its own that Ray never retries: exiting inside this call (which Ray
        # retries on a restarted monitor) would read as a failed call, logged at every job's end.
        ray.get_runtime_context().current_actor.exit_now.options(max_task_retries=0).remote()
        return status

    async def exit_now(self) -> None:
        """End this actor's process (ray.actor.exit_actor); its name is freed."""
        ray.actor.exit_actor()


def _unfinished(refs: list[Any]) -> list[Any]:
    """The refs (ObjectRefs, streaming generators) whose task has not finished, without waiting."""
    plain = [r for r in refs if isinstance(r, ray.ObjectRef)]
    done: set[Any] = set()
    if plain:
        ready, _ = ray.wait(plain, num_returns=len(plain), timeout=0, fetch_local=False)
        done = set(ready)
    return [
        r
        for r in refs
        if (isinstance(r, ray.ObjectRef) and r not in done)
        or (isinstance(r, ray.ObjectRefGenerator) and not r.is_finished())
    ]


class _Client:
    """Awaitable calls into one actor. Ray failures (the actor died, did not answer, or raised
    something that is not the caller's fault) become UpstreamError (503); a ClientError the actor
    raised (its refusal: InvalidTransition, 409) reaches the caller as it is."""

    __slots__ = ("index", "_h")
    what = "actor"

    def __init__(self, handle: Any, index: int = -1) -> None:
        self._h = handle
        self.index = index

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self._h, method).remote(*args)
        except RayError as exc:
            refused = unwrap(exc)
            if isinstance(refused, ClientError):
                # The actor answered, refusing the request (a change the transition table does not
                # allow: 409): the caller's error as it is, not "did not answer".
                raise refused from None
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
        """`JobStore.save` over Ray. UpstreamError when the store does not answer or refused the write
        (StoreBusy in the store)."""
        await self._call("save", state, result)

    async def save_items(self, state: dict[str, Any], items: list[KeptItem]) -> None:
        """`JobStore.save_items` over Ray. UpstreamError as save."""
        await self._call("save_items", state, items)

    async def items(self, job_id: str) -> list[KeptItem]:
        """`JobStore.items` over Ray: (index, total, value) in the order kept. UpstreamError as get."""
        return [KeptItem(*item) for item in await self._call("items", job_id)]

    async def delete(self, job_id: str) -> None:
        """`JobStore.delete` over Ray. UpstreamError as save."""
        await self._call("delete", job_id)

    async def keyed_job(self, educator_id: str, key: str, ttl: float) -> Held | None:
        """`JobStore.keyed_job` over Ray: a Held (jobId, digest, status), or None. UpstreamError as get."""
        found = await self._call("keyed_job", educator_id, key, ttl)
        return None if found is None else Held(*found)

    async def save_keyed(self, state: dict[str, Any], key: str, digest: str, ttl: float) -> Held | None:
        """`JobStore.save_keyed` over Ray: None when recorded, else the Held holding the key.
        UpstreamError as save."""
        held = await self._call("save_keyed", state, key, digest, ttl)
        return None if held is None else Held(*held)

    async def forget_keys(self, job_id: str) -> None:
        """`JobStore.forget_keys` over Ray. UpstreamError as save."""
        await self._call("forget_keys", job_id)

    async def get(self, job_id: str) -> JobState | None:
        """`JobStore.get` over Ray: the job's JobState, or None. UpstreamError when the store does not answer."""
        return await self._call("get", job_id)

    async def result(self, job_id: str) -> Any:
        """`JobStore.result` over Ray: the job's result (JSON value), or None. UpstreamError as get."""
        return await self._call("result", job_id)

    async def list_jobs_many(self, educator_ids: list[str], limit: int = 200) -> list[list[dict[str, Any]]]:
        """`JobStore.list_jobs_many` over Ray: one newest-first list of state dicts per educator, in order.
        UpstreamError as get."""
        return await self._call("list_jobs_many", educator_ids, limit)

    async def list_jobs_page(
        self, educator_id: str, limit: int, before: tuple[float, str] | None = None
    ) -> list[JobState]:
        """`JobStore.list_jobs_page` over Ray: a newest-first page of JobStates. UpstreamError as get."""
        return await self._call("list_jobs_page", educator_id, limit, before)

    async def educator_stats(self, educator_id: str) -> dict[str, Any]:
        """`JobStore.educator_stats` over Ray: the analytics figures dict. UpstreamError as get."""
        return await self._call("educator_stats", educator_id)

    async def save_quiz(
        self,
        quiz_id: str,
        educator_id: str,
        source_text: str,
        questions: list[dict[str, Any]],
        document_id: str | None = None,
    ) -> None:
        """`JobStore.save_quiz` over Ray. UpstreamError as save."""
        await self._call("save_quiz", quiz_id, educator_id, source_text, questions, document_id)

    async def quiz(self, quiz_id: str) -> QuizRecord | None:
        """`JobStore.quiz` over Ray: a QuizRecord, or None. UpstreamError as get."""
        return await self._call("quiz", quiz_id)

    async def replace_question(self, quiz_id: str, question_id: str, question: dict[str, Any]) -> None:
        """`JobStore.replace_question` over Ray. UpstreamError as save, and for an unknown quiz (the
        store's KeyError arrives as a failed call)."""
        await self._call("replace_question", quiz_id, question_id, question)

    async def save_document(
        self, document_id: str, educator_id: str, filename: str | None, text: str, index: dict[str, Any]
    ) -> None:
        """`JobStore.save_document` over Ray. UpstreamError as save."""
        await self._call("save_document", document_id, educator_id, filename, text, index)

    async def document(self, document_id: str) -> DocumentRecord | None:
        """`JobStore.document` over Ray: a DocumentRecord, or None. UpstreamError as get."""
        return await self._call("document", document_id)

    async def outline(self, quiz_id: str | None, document_id: str | None) -> Outline:
        """`JobStore.outline` over Ray: an Outline. UpstreamError as get."""
        return await self._call("outline", quiz_id, document_id)

    async def register_kind(self, name: str, kind: Any) -> None:
        """`JobStore.register_kind` over Ray (`kind`: the pickled blob). UpstreamError as get."""
        await self._call("register_kind", name, kind)

    async def kind(self, name: str) -> Any:
        """`JobStore.kind` over Ray: the pickled blob, or None. UpstreamError as get."""
        return await self._call("kind", name)

    async def kind_names(self) -> list[str]:
        """`JobStore.kind_names` over Ray: the sorted names. UpstreamError as get."""
        return await self._call("kind_names")

    async def kind_pace(self, name: str, blob: bool, last: int) -> KindPace:
        """`JobStore.kind_pace` over Ray: a KindPace (pace, blob). UpstreamError as get."""
        found = await self._call("kind_pace", name, blob, last)
        return KindPace(*found)

    async def record_pace(self, job_id: str, kind: str, seconds_per_item: float, keep: int) -> None:
        """`JobStore.record_pace` over Ray. UpstreamError as save."""
        await self._call("record_pace", job_id, kind, seconds_per_item, keep)


class ShardClient(_Client):
    """A registry shard's actor as a ShardHandle (hub.core.handles). With a `dataplane` config whose
    `dataplane` is on, the hot calls (publish, publish_message, hello_many, unwatch_many, attach,
    detach, pull, ping and the room calls: hub.core.wire.METHODS) go over the shard's socket (actors.dataplane), found
    through Ray; the others, and every call while no socket can be made, over Ray calls
    (`plane.fallback_calls` counts those; /metrics shows them as hub_dataplane_fallback)."""

    __slots__ = ("plane",)
    what = "registry shard"

    def __init__(self, handle: Any, index: int = -1, dataplane: DataPlaneConfig | None = None) -> None:
        super().__init__(handle, index)
        self.plane: DataPlaneClient | None = None
        if dataplane is not None and dataplane.dataplane:
            name = self.what if index < 0 else f"{self.what} {index}"
            self.plane = DataPlaneClient(self._endpoint, dataplane, ray.util.get_node_ip_address(), name)

    async def _endpoint(self) -> DataPlaneEndpoint | None:
        return await self._call("endpoint")

    async def _hot(self, method: str, *args: Any) -> Any:
        """`method` over the data plane when there is one, else (or when it cannot carry the call now)
        over Ray. UpstreamError when the shard does not answer, the socket broke with the call in
        flight (whether it was done is unknown: callers retry, at least once), or the call failed."""
        plane = self.plane
        if plane is not None:
            try:
                return await plane.call(method, list(args))
            except (NoSocket, NotCarried):
                pass  # this call over Ray
            except (Broken, Failed) as exc:
                name = self.what if self.index < 0 else f"{self.what} {self.index}"
                log.warning("%s: %s over the data plane failed: %s", name, method, exc)
                raise UpstreamError(
                    f"the hub's {name} did not answer; try again in a moment", method=method, error=type(exc).__name__
                ) from None
        return await self._call(method, *args)

    async def publish(self, updates: list[dict[str, Any]]) -> PublishReply:
        """`RegistryShard.publish` (data plane, else Ray): a PublishReply (epoch, one seq per update).
        UpstreamError when the shard does not answer (or the call failed in it)."""
        return await self._hot("publish", updates)

    async def publish_message(self, educator_ids: list[str], mtype: str, data: dict[str, Any]) -> int:
        """`RegistryShard.publish_message` (data plane, else Ray): how many educators. UpstreamError as
        publish."""
        return await self._hot("publish_message", educator_ids, mtype, data)

    async def hello_many(self, ingress_id: str, requests: list[HelloRequest]) -> list[HelloReply]:
        """`RegistryShard.hello_many` (data plane, else Ray): one HelloReply per request, in order.
        UpstreamError as publish."""
        return await self._hot("hello_many", ingress_id, requests)

    async def unwatch_many(self, ingress_id: str, educator_ids: list[str]) -> list[None]:
        """`RegistryShard.unwatch_many` (data plane, else Ray): one None per entry. UpstreamError as
        publish."""
        return await self._hot("unwatch_many", ingress_id, educator_ids)

    async def attach(self, ingress_id: str, educator_ids: list[str], rooms: list[RoomMember] | None = None) -> str:
        """`RegistryShard.attach` (data plane, else Ray): the shard's epoch. UpstreamError as publish."""
        return await self._hot("attach", ingress_id, educator_ids, rooms)

    async def room_join_many(self, ingress_id: str, requests: list[RoomJoinRequest]) -> list[RoomJoinReply]:
        """`RegistryShard.room_join_many` (data plane, else Ray): one RoomJoinReply per request, in
        order. UpstreamError as publish."""
        return await self._hot("room_join_many", ingress_id, requests)

    async def room_leave_many(self, ingress_id: str, leaves: list[tuple[str, str]]) -> list[None]:
        """`RegistryShard.room_leave_many` (data plane, else Ray): one None per (room, session).
        UpstreamError as publish."""
        return await self._hot("room_leave_many", ingress_id, leaves)

    async def room_publish(
        self, room: str, educator_id: str, session: str, event: str, data: dict[str, Any], ephemeral: bool
    ) -> int:
        """`RegistryShard.room_publish` (data plane, else Ray): the message's seq (0 when ephemeral).
        UpstreamError as publish."""
        return await self._hot("room_publish", room, educator_id, session, event, data, ephemeral)

    async def room_typing(self, room: str, educator_id: str, session: str, typing: bool) -> None:
        """`RegistryShard.room_typing` (data plane, else Ray). UpstreamError as publish."""
        await self._hot("room_typing", room, educator_id, session, typing)

    async def room_members(self, room: str) -> tuple[list[dict[str, Any]], int]:
        """`RegistryShard.room_members` (data plane, else Ray): (member entries, exact count).
        UpstreamError as publish."""
        members, count = await self._hot("room_members", room)
        return list(members), int(count)

    async def detach(self, ingress_id: str) -> None:
        """`RegistryShard.detach` (data plane, else Ray). UpstreamError as publish."""
        await self._hot("detach", ingress_id)

    async def pull(
        self, ingress_id: str, ack: int, timeout: float | None = None, feed_id: str | None = None
    ) -> FeedBatch:
        """`RegistryShard.pull` (data plane, else Ray): a FeedBatch, after up to `timeout` seconds of
        waiting (None: the shard's ShardConfig.poll_timeout). UpstreamError as publish."""
        return await self._hot("pull", ingress_id, ack, timeout, feed_id)

    async def load_jobs(self, educator_id: str) -> None:
        """`RegistryShard.load_jobs` over Ray. UpstreamError as publish."""
        await self._call("load_jobs", educator_id)

    async def jobs_of(self, educator_id: str) -> list[JobState]:
        """`RegistryShard.jobs_of` over Ray: the educator's JobStates, most recently changed first.
        UpstreamError as publish."""
        return await self._call("jobs_of", educator_id)

    async def states(self, job_ids: list[str]) -> list[JobState | None]:
        """`RegistryShard.states` over Ray: a JobState or None per job id, in order. UpstreamError as
        publish."""
        return await self._call("states", job_ids)

    async def job(self, job_id: str) -> JobState | None:
        """`RegistryShard.job` (data plane, else Ray): the JobState, or None. UpstreamError as publish."""
        result: JobState | None = await self._hot("job", job_id)
        return result

    async def resend(self, job_id: str) -> int:
        """`RegistryShard.resend` over Ray: the message's seq, 0 for an unknown job. UpstreamError as
        publish."""
        return await self._call("resend", job_id)

    async def update_job(self, job_id: str, changes: dict[str, Any]) -> JobState | None:
        """`RegistryShard.update_job` over Ray: the new JobState, or None for an unknown job.
        InvalidTransition (409) for a change the transition table refuses; UpstreamError as publish."""
        return await self._call("update_job", job_id, changes)

    async def broadcast(self, mtype: str, data: dict[str, Any]) -> int:
        """`RegistryShard.broadcast` over Ray: how many educators. UpstreamError as publish."""
        return await self._call("broadcast", mtype, data)

    async def ping(self) -> str:
        """`RegistryShard.ping` (data plane, else Ray): the shard's epoch. UpstreamError as publish."""
        return await self._hot("ping")

    async def stats(self) -> ShardStats:
        """`RegistryShard.stats` over Ray: its ShardStats. UpstreamError as publish."""
        return await self._call("stats")
