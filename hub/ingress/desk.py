"""Job and publishing operations shared by the HTTP API, the WebSocket `cancel` op and the
Python back-end helpers, with the ownership checks in one place."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.auth import Identity
from hub.core.errors import (
    HUB_FAILED,
    Conflict,
    Forbidden,
    InvalidParams,
    NotFound,
    RateLimited,
    UpstreamError,
    new_reference,
)
from hub.core.handles import ShardHandle, StoreHandle
from hub.core.idempotency import CONFLICT, Held, KeyMemo, Recorded, body_digest
from hub.core.jobstate import JobState
from hub.core.limits import Buckets
from hub.core.sharding import shard_of
from hub.core.strictjson import problem as strict_problem
from hub.metrics import IngressMetrics
from jobs.documents import size_text
from jobs.kinds import resolve_kind, unknown_kind, validate_with
from jobs.params import Params

log = logging.getLogger("hub.jobs")

NOT_RECORDED = (
    "The job was not started: the job store could not record it (it is busy or unavailable), "
    "and nothing was queued; try again in a moment."
)
NOT_STARTED = "The job could not be started (the hub failed; reference {reference}); nothing will run, try again."


class ClusterLike(Protocol):
    """The hub's view of its actors (actors.cluster.Cluster): the registry shards, the job store, and
    the starting and cancelling of job monitors."""

    shards: list[ShardHandle]
    store: StoreHandle

    def shard_for(self, educator_id: str) -> ShardHandle:
        """The handle of the shard that holds `educator_id`'s stream (hub.core.sharding.shard_of over
        len(shards))."""
        ...

    def new_job_id(self, resources: dict[str, float] | None = None) -> str:
        """A new job's id (32 hex digits), for a job whose kind asks for `resources`: one a warm job
        monitor is named for when one is ready (Settings.monitor_pool: the job then starts on it),
        else a fresh one. Not blocking. The job is then recorded and `spawn_job`ed under it, or the
        id is given back (`release_job_id`) when the job is not recorded."""
        ...

    def release_job_id(self, job_id: str) -> None:
        """An id from `new_job_id` whose job was not recorded: its warm monitor serves another job."""
        ...

    def spawn_job(
        self, state: dict[str, Any], params: dict[str, Any], resources: dict[str, float] | None = None
    ) -> None:
        """Start the monitor actor of a job already recorded `queued` (`state`: its JobState wire dict;
        `params`: the validated params as a wire dict; `resources`: where it may run, `num_cpus`,
        `num_gpus`, `memory` or custom resources) without waiting for the job. Blocking (it waits on
        Ray's control store): the desk calls it in a thread. Raises when the monitor cannot be made."""
        ...

    def cancel_job(self, job_id: str, *, started: bool = True) -> bool:
        """Ask the job's monitor to cancel it: True when asked; False when there is no monitor, or (not
        `started`) the queued one was killed instead, and the caller must end the record. Blocking."""
        ...

    async def close(self) -> None:
        """Close this process's connections to the shards (the ingress is stopping, its relay stopped)."""
        ...


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AnalyticsData(_Data):
    """The `data` of an `analytics_update` (PROTOCOL.md section 3), as JobDesk.publish checks it:
    `educatorId` (optional, at most 128 characters; each recipient's own is set) and `updates` (an
    object of the changed fields, which clients merge). Another field is an InvalidParams (422)."""

    educator_id: str | None = Field(default=None, alias="educatorId", max_length=128)
    updates: dict[str, Any]


class NotificationData(_Data):
    """The `data` of a `notification` (PROTOCOL.md section 3), as JobDesk.publish checks it: `id` (at
    most 128 characters; "n-" and 12 hex digits when absent), `level` (info, success, warning or
    error; info when absent), `title` (at most 200 characters), `body` (at most 5,000; empty when
    absent) and `broadcast` (taken from the publish's own). Another field is an InvalidParams (422)."""

    id: str = Field(default_factory=lambda: "n-" + uuid.uuid4().hex[:12], max_length=128)
    level: Literal["info", "success", "warning", "error"] = "info"
    title: str = Field(max_length=200)
    body: str = Field(default="", max_length=5000)
    broadcast: bool = False


# Educators one publish may name; a larger audience takes several. A bound of the request's shape
# (the OpenAPI schema shows it), fixed for every hub so a service's calls work on any: not a setting.
MAX_RECIPIENTS = 10_000


class Publish(_Data):
    """What a service publishes (POST /api/publish, PROTOCOL.md section 5; Backend.publish): `type`
    (`analytics_update` or `notification`), its `data` (checked by JobDesk.publish), `educatorIds`
    (at most MAX_RECIPIENTS; a repeated one gets it once; absent: an analytics_update's
    `data.educatorId`) or `broadcast` (every educator a shard has a stream for; admin tokens only).
    An HTTP body that does not fit, or has another field, is a 422."""

    type: Literal["analytics_update", "notification"]
    data: dict[str, Any]
    educator_ids: list[str] | None = Field(default=None, alias="educatorIds", max_length=MAX_RECIPIENTS)
    broadcast: bool = False


class _KeyHeld(Exception):  # noqa: N818 (not an error: the answer of a submission that lost a race)
    """Another submission already holds the idempotency key (`held`: its jobId, body digest and status)."""

    def __init__(self, held: Held) -> None:
        super().__init__(held[0])
        self.held = held


class JobDesk:
    """The job and publishing operations behind the HTTP API, the WebSocket `cancel` op and Backend.

    `cluster`: the hub's actors (ClusterLike: actors.cluster.Cluster). `metrics`: where submissions
    are counted (`hub_jobs_submitted_total{kind}`). `submit_limit`: token buckets per educator for
    submissions (Settings.submit_rate jobs a second, submit_burst; None: no limit). `max_upload`:
    the most bytes of a document upload (Settings.max_upload; None: no limit here). `idempotency_ttl`:
    seconds an Idempotency-Key names its first job (Settings.idempotency_ttl). Errors are
    HubErrors that carry their HTTP status (hub.core.errors); a shard or the store that does not
    answer is UpstreamError (503)."""

    def __init__(
        self,
        cluster: ClusterLike,
        metrics: IngressMetrics,
        submit_limit: Buckets | None = None,
        *,
        max_upload: int | None = None,
        idempotency_ttl: float = 86400.0,
        idempotency_memo: int = 10_000,
    ) -> None:
        self.cluster = cluster
        self.idempotency_ttl = idempotency_ttl  # Settings.idempotency_ttl: seconds a key names its first job
        # The keys this ingress recorded (Settings.idempotency_memo of them): a repeat of one is
        # answered with its job's status from the shard, without a job-store call.
        self.memo = KeyMemo(idempotency_memo, idempotency_ttl)
        self.metrics = metrics
        self.submit_limit = submit_limit
        self.max_upload = max_upload  # Settings.max_upload: bytes of a document upload; None: no limit here

    # -- jobs -------------------------------------------------------------------------------

    async def submit(self, who: Identity, kind: str, params: dict[str, Any]) -> JobState:
        """`submit_once` without an idempotency key: the new job's state (`queued`)."""
        return await self._start(who, kind, params, None)

    async def submit_once(
        self, who: Identity, kind: str, params: dict[str, Any], key: str | None
    ) -> tuple[str, str, bool]:
        """`_start` under the caller's idempotency `key` (PROTOCOL.md section 9; checked by the HTTP edge:
        hub.core.idempotency.key_problem; None: no key). Returns (jobId, status, repeated): the new job's
        and `queued`, False; or, when the educator's key already names a job claimed less than
        `idempotency_ttl` seconds ago with the same body (kind and params as canonical JSON:
        hub.core.idempotency.body_digest), that job's id, its status now (as the job store records every
        status change; read in the same store call as the key, no shard asked) and True, with nothing
        started, the params not validated again, and no rate-limit token taken.
        Conflict (409) when the key names a job with another body. Two submissions racing with one key
        start one job: the store records the key and the job in one transaction (JobStore.save_keyed)
        before the monitor is started; the loser answers as a repeat. Other errors as `_start`."""
        if key is None:
            state = await self._start(who, kind, params, None)
            return state.job_id, state.status, False
        digest = body_digest(kind, params)
        held = await self._remembered(who, key)
        if held is None:
            held = await self.cluster.store.keyed_job(who.sub, key, self.idempotency_ttl)
        if held is None:
            try:
                state = await self._start(who, kind, params, (key, digest))
                self.memo.put(who.sub, key, Recorded(state.job_id, digest, state.created_at))
                return state.job_id, state.status, False
            except _KeyHeld as taken:  # another submission with this key recorded its job first
                held = taken.held
        if held.digest != digest:
            self.metrics.idempotency_conflicts.inc()
            raise Conflict(CONFLICT.format(hours=self.idempotency_ttl / 3600), jobId=held.job_id)
        self.metrics.idempotent_repeats.inc()
        log.debug("job %s: a repeat submission with its idempotency key, nothing started", held.job_id)
        return held.job_id, held.status, True

    async def _remembered(self, who: Identity, key: str) -> Held | None:
        """What the caller's `key` names when this ingress recorded it (self.memo), with its job's status
        now from the educator's registry shard; None (ask the store) when this ingress did not, the
        shard does not hold the job or does not answer, or the job failed (the store knows whether its
        key still holds)."""
        found = self.memo.get(who.sub, key, time.time())
        if found is None:
            return None
        try:
            state = await self.cluster.shard_for(who.sub).job(found.job_id)
        except UpstreamError:
            return None
        if state is None or state.status == "failed":
            return None
        return Held(found.job_id, found.digest, state.status)

    async def _start(self, who: Identity, kind: str, params: dict[str, Any], keyed: tuple[str, str] | None) -> JobState:
        """Validate (InvalidParams: 422, a document over `max_upload` bytes included), record in the job store,
        then publish `queued` and start the job's monitor actor together. Every step either succeeds or leaves no trace:
        a record the store refuses (busy past its timeout, disk full) is UpstreamError (503) with
        nothing published; a monitor that cannot be started undoes the record (deleted, or ended
        `failed` with a reference when `queued` already went out) and is UpstreamError too. Returns the
        job's state as recorded (`queued`). `keyed`: (idempotency key, body digest) to record the job
        under (JobStore.save_keyed); _KeyHeld when another submission already holds that key (nothing
        recorded, nothing started)."""
        if self.submit_limit is not None:
            wait = self.submit_limit.take(who.sub, time.monotonic())
            if wait:
                raise RateLimited(f"too many jobs submitted; try again in {wait:.1f}s", retry_after=wait)
        job_kind = await resolve_kind(kind, self.cluster.store)
        if job_kind is None:
            raise unknown_kind(kind, await self.cluster.store.kind_names())
        # Off the event loop: an upload's checks decode up to max_upload bytes (20 MiB by default).
        valid = await asyncio.to_thread(validate_with, job_kind, params, max_upload=self.max_upload)  # 422
        size = valid.upload_size() if isinstance(valid, Params) else 0  # a custom kind's model uploads none
        if self.max_upload is not None and size > self.max_upload:
            sentence = (
                f"the document is {size / 2**20:.1f} MiB ({size:,} bytes); the limit is {size_text(self.max_upload)}"
            )
            raise InvalidParams([{"loc": ["body", "params"], "msg": sentence, "type": "too_large"}])
        if job_kind.check is not None:  # what the store already shows wrong (InvalidInput: 422)
            await job_kind.check(self.cluster.store, who.sub, valid)
        now = time.time()
        state = JobState(
            job_id=self.cluster.new_job_id(job_kind.resources),
            kind=kind,
            educator_id=who.sub,
            created_at=now,
            updated_at=now,
            status="queued",
            progress=0.0,
            message="Waiting to start",
            **job_kind.ids(valid),
        )
        wire = state.wire()
        try:
            if keyed is None:
                await self.cluster.store.save(dict(wire))
            else:
                held = await self.cluster.store.save_keyed(dict(wire), *keyed, self.idempotency_ttl)
                if held is not None:
                    self.cluster.release_job_id(state.job_id)
                    raise _KeyHeld(held)
        except UpstreamError as exc:
            self.cluster.release_job_id(state.job_id)
            log.warning("job %s (%s) of %s not recorded, so not started: %s", state.job_id, kind, who.sub, exc)
            raise UpstreamError(NOT_RECORDED) from None
        # Creating a named actor waits on Ray's control store: off the event loop, so the
        # `queued` frame goes out meanwhile. A monitor publishes every later state itself (with
        # retries), so a `queued` the shard missed leaves no ghost; a monitor that never started does.
        published: Any
        spawned: Any
        published, spawned = await asyncio.gather(
            self.cluster.shard_for(who.sub).publish([dict(wire)]),
            asyncio.to_thread(self.cluster.spawn_job, wire, valid.model_dump(by_alias=True), job_kind.resources),
            return_exceptions=True,
        )
        if isinstance(spawned, BaseException):
            reference = new_reference()
            log.error(
                "job %s: its monitor could not be started; reference %s", state.job_id, reference, exc_info=spawned
            )
            await self._undo(state, announced=not isinstance(published, BaseException), reference=reference)
            raise UpstreamError(NOT_STARTED.format(reference=reference))
        if isinstance(published, BaseException):
            log.warning(
                "job %s: `queued` not published (%s); its monitor publishes what follows", state.job_id, published
            )
        self.metrics.jobs_submitted.inc(kind=kind)
        log.info(
            "job %s (%s) submitted by %s",
            state.job_id,
            kind,
            who.sub,
            extra={"job": state.job_id, "educator": who.sub},
        )
        return state

    async def _undo(self, state: JobState, *, announced: bool, reference: str) -> None:
        """Take back a submission whose monitor did not start: delete its record, or, when its
        `queued` message already went out, end it `failed` (store and stream) with the reference."""
        job_id = state.job_id
        try:
            if not announced:
                await self.cluster.store.delete(job_id)
                return
            await self.cluster.store.forget_keys(job_id)  # a retry with the same key starts a job again
            reason = HUB_FAILED.format(reference=reference)
            failed = state.advance(time.time(), status="failed", message=f"Failed: {reason}", error=reason).wire()
            await self.cluster.store.save(dict(failed))
            await self.cluster.shard_for(state.educator_id).publish([failed])
        except UpstreamError as exc:  # the store's recovery fails it at the next start
            log.error("job %s: could not undo its submission (%s); it stays queued until the hub restarts", job_id, exc)

    async def _find(self, job_id: str, educator_id: str | None) -> JobState | None:
        if educator_id is not None:
            state = await self.cluster.shard_for(educator_id).job(job_id)
        else:
            found = await asyncio.gather(*(s.job(job_id) for s in self.cluster.shards))
            state = next((s for s in found if s is not None), None)
        return state if state is not None else await self.cluster.store.get(job_id)

    async def get(self, who: Identity, job_id: str) -> JobState:
        """The job's state; 404 for a job that is not the caller's (educators) or unknown."""
        mine = who.role == "educator"
        state = await self._find(job_id, who.sub if mine else None)
        if state is None or (mine and state.educator_id != who.sub):
            raise NotFound(f"no job {job_id}")
        return state

    async def jobs_page(
        self, who: Identity, limit: int, before: tuple[float, str] | None
    ) -> tuple[list[JobState], tuple[float, str] | None]:
        """A page of the caller's jobs, newest first, older than `before` (hub.core.paging), from the job
        store (every job, not only the newest a shard holds), each replaced by the shard's state
        when it holds the job (running jobs' live progress). Returns the page and the key to
        continue after, None on the last page."""
        rows = await self.cluster.store.list_jobs_page(who.sub, limit + 1, before)
        page = rows[:limit]
        live = await self.cluster.shard_for(who.sub).states([r.job_id for r in page]) if page else []
        merged = [row if state is None else state for state, row in zip(live, page, strict=True)]
        last = page[-1] if len(rows) > limit else None
        return merged, (last.created_at, last.job_id) if last else None

    async def analytics_of(self, who: Identity) -> dict[str, Any]:
        """The educator's figures (`jobsToday`, `quizzesGenerated`, ...) as the job store counts them now."""
        return dict(await self.cluster.store.educator_stats(who.sub))

    async def result(self, who: Identity, job_id: str) -> Any:
        """The job's result once it is `completed`: the JSON value its kind returned (`{}` when that was
        None; None when no result was stored, as for a job a back end drove).
        NotFound (404) as `get`; Conflict (409, with the `status`) before it has completed."""
        state = await self.get(who, job_id)
        if state.status != "completed":
            raise Conflict(
                f"job {job_id} is {state.status}; its result exists once it is completed", status=state.status
            )
        return await self.cluster.store.result(job_id)

    async def cancel(self, who: Identity, job_id: str) -> JobState:
        """Cancel the caller's job (an admin: anyone's) and return its state as it was; the `cancelled`
        status follows on the stream. A job with no monitor to ask (or still `queued`) is ended here,
        stored and published. NotFound (404) as `get`, Forbidden (403) for a service token, Conflict
        (409, with the `status`) for a job that has already ended."""
        state = await self.get(who, job_id)
        if who.role == "service":
            raise Forbidden("services read jobs; their owners cancel them")
        if state.terminal:
            raise Conflict(f"job {job_id} is already {state.status}", status=state.status)
        started = state.status != "queued"
        if not await asyncio.to_thread(self.cluster.cancel_job, job_id, started=started):
            # No monitor (it died, or the hub restarted under it), or one that never started (killed,
            # since Ray may be unable to place it): end the record here.
            await self.update(job_id, state.educator_id, status="cancelled", message="Cancelled")
        return state

    async def update(self, job_id: str, educator_id: str, **changes: Any) -> JobState:
        """Change a job from outside its monitor (back-end helpers), record and publish it; its new state.
        `changes`: JobState fields by their Python names. NotFound (404) for a job the shard does not hold."""
        shard = self.cluster.shard_for(educator_id)
        await shard.load_jobs(educator_id)  # make sure the shard holds the educator's jobs
        state = await shard.update_job(job_id, changes)
        if state is None:
            raise NotFound(f"no job {job_id}")
        await self.cluster.store.save(state.wire())
        return state

    async def create_record(self, educator_id: str, kind: str, **ids: Any) -> JobState:
        """A job record driven from outside (no monitor): routed to `educator_id`'s stream."""
        now = time.time()
        state = JobState(
            job_id=ids.pop("job_id", None) or uuid.uuid4().hex,
            kind=kind,
            educator_id=educator_id,
            created_at=now,
            updated_at=now,
            message=ids.pop("message", "Waiting to start"),
            **ids,
        )
        wire = state.wire()
        await self.cluster.store.save(wire)  # first: a record the store refused is never announced
        await self.cluster.shard_for(educator_id).publish([wire])
        return state

    async def resend(self, job_id: str) -> int:
        """Publish a job's current state again on its educator's stream, as a message never conflated
        (Backend.send_job_status_update; no ownership check); returns its seq, 0 when the shard does not
        hold the job. NotFound (404) when neither a shard nor the store knows it."""
        state = await self._find(job_id, None)
        if state is None:
            raise NotFound(f"no job {job_id}")
        shard = self.cluster.shard_for(state.educator_id)
        await shard.load_jobs(state.educator_id)
        return await shard.resend(job_id)

    # -- publishing -------------------------------------------------------------------------

    async def publish(self, who: Identity, body: Publish) -> int:
        """Deliver an analytics_update or notification; returns how many educators it reached.
        InvalidParams (422) for data strict JSON cannot carry (NaN, Infinity, a lone surrogate): an
        HTTP body with such a value never gets here, but a back end's `Backend.publish` does."""
        if not who.may("service"):
            raise Forbidden("publishing needs a service or admin token")
        if body.broadcast and who.role != "admin":
            raise Forbidden("broadcast needs an admin token")
        try:
            if body.type == "notification":
                data = NotificationData.model_validate({**body.data, "broadcast": body.broadcast}).model_dump()
            else:
                data = AnalyticsData.model_validate(body.data).model_dump(by_alias=True, exclude_none=True)
        except ValidationError as exc:
            raise InvalidParams.of(exc, "data") from None
        found = strict_problem(data)
        if found is not None:
            raise InvalidParams([{"loc": ["body", "data"], "msg": f"not strict JSON: {found}", "type": "json_invalid"}])
        if body.broadcast:
            return sum(await asyncio.gather(*(s.broadcast(body.type, data) for s in self.cluster.shards)))
        targets = list(dict.fromkeys(body.educator_ids or ([data["educatorId"]] if data.get("educatorId") else [])))
        if not targets:
            raise InvalidParams(
                [
                    {
                        "loc": ["body", "educatorIds"],
                        "type": "value_error",
                        "msg": "say who gets it: educatorIds, data.educatorId or broadcast",
                    }
                ]
            )
        if body.type == "analytics_update":  # each educator's update names that educator
            sends = [
                self.cluster.shard_for(e).publish_message([e], body.type, {**data, "educatorId": e}) for e in targets
            ]
        else:
            by_shard: dict[int, list[str]] = {}
            for educator_id in targets:
                by_shard.setdefault(shard_of(educator_id, len(self.cluster.shards)), []).append(educator_id)
            sends = [self.cluster.shards[k].publish_message(es, body.type, data) for k, es in by_shard.items()]
        return sum(await asyncio.gather(*sends))
