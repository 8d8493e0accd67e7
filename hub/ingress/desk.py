"""Job operations shared by the HTTP API and the WebSocket `cancel` op, with ownership checks."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, Protocol

from hub.auth import Identity
from hub.errors import Conflict, NotFound
from hub.jobstate import TERMINAL, JobState
from hub.metrics import IngressMetrics
from jobs.kinds import validate

log = logging.getLogger("hub.jobs")


class ClusterLike(Protocol):
    shards: list[Any]

    def shard_for(self, educator_id: str) -> Any: ...
    def spawn_job(self, state: dict[str, Any], params: dict[str, Any]) -> None: ...
    def cancel_job(self, job_id: str) -> bool: ...


class JobDesk:
    def __init__(self, cluster: ClusterLike, metrics: IngressMetrics) -> None:
        self.cluster = cluster
        self.metrics = metrics

    async def submit(self, who: Identity, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Validate, publish `queued` (before the job's actor exists), then start the actor."""
        job_kind, valid = validate(kind, params)  # BadParams -> 422
        now = time.time()
        state = JobState(
            job_id=uuid.uuid4().hex, kind=kind, educator_id=who.sub, created_at=now, updated_at=now,
            status="queued", progress=0.0, message="Waiting to start", **job_kind.ids(valid),
        ).wire()
        await self.cluster.shard_for(who.sub).publish([dict(state)])
        # Creating a named actor waits on Ray's control store: off the event loop, so the
        # `queued` frame goes out meanwhile.
        await asyncio.to_thread(self.cluster.spawn_job, state, valid.model_dump(by_alias=True))
        self.metrics.jobs_submitted.inc(kind=kind)
        log.info("job %s (%s) submitted by %s", state["jobId"], kind, who.sub)
        return state

    async def get(self, who: Identity, job_id: str) -> dict[str, Any]:
        """The job's state; 404 for a job that is not the caller's (educators) or unknown."""
        if who.role == "educator":
            state = await self.cluster.shard_for(who.sub).job(job_id)
            if state is not None and state["educatorId"] == who.sub:
                return state
        else:
            for state in await asyncio.gather(*(s.job(job_id) for s in self.cluster.shards)):
                if state is not None:
                    return state
        raise NotFound(f"no job {job_id}")

    async def list(self, who: Identity) -> list[dict[str, Any]]:
        return await self.cluster.shard_for(who.sub).jobs_of(who.sub)

    async def result(self, who: Identity, job_id: str) -> Any:
        state = await self.get(who, job_id)
        if state["status"] != "completed":
            raise Conflict(f"job {job_id} is {state['status']}; its result exists once it is completed",
                           status=state["status"])
        _, result = await self.cluster.shard_for(state["educatorId"]).result(job_id)
        return result

    async def cancel(self, who: Identity, job_id: str) -> dict[str, Any]:
        state = await self.get(who, job_id)
        if who.role == "service":
            raise NotFound(f"no job {job_id}")  # services read jobs; only owners (and admins) cancel
        if state["status"] in TERMINAL:
            raise Conflict(f"job {job_id} is already {state['status']}", status=state["status"])
        if not self.cluster.cancel_job(job_id):
            raise Conflict(f"job {job_id} has no running actor to cancel", status=state["status"])
        return state
