"""Job state: the one table of status transitions, the job record, and the message a state becomes.

Pure: no clock (callers pass `now`), no Ray, no I/O.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from hub.core.errors import InvalidTransition

Status = Literal["queued", "processing", "completed", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})

# Every allowed (old -> new) status change, in one place (h11 style).
# processing -> processing is a progress tick; every other change is a transition.
TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"processing", "failed", "cancelled"}),
    "processing": frozenset({"processing", "completed", "failed", "cancelled"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}

# The message type each built-in job kind reports with; custom kinds report as quiz_status-shaped
# job messages of their own kind name registered by jobs.kinds.
MESSAGE_TYPE_BY_KIND: dict[str, str] = {
    "quiz_generation": "quiz_status",
    "question_replace": "question_replace",
    "document_processing": "document_processing",
}


def check_transition(old: str | None, new: str) -> bool:
    """Return True when old -> new is a status transition, False for a progress tick.

    Raises InvalidTransition for a change the table does not allow. A job's first state is `queued`
    (or, for a job re-announced to a restarted shard, whatever it is now).
    """
    if old is None:
        return True
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f"job status cannot go from {old!r} to {new!r}", old=old, new=new)
    return old != new


class CamelModel(BaseModel):
    """A pydantic model with snake_case fields in Python and camelCase names on the wire (`jobId`,
    `educatorId`: PROTOCOL.md), accepting either name; an unknown field is a ValidationError."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        """The model as the wire carries it: a dict with camelCase keys, leaving out the fields that are None
        (the optional fields, marked `?` in PROTOCOL.md sections 3 and 4)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class Waiting(CamelModel):
    """Why a `queued` or `processing` job waits (PROTOCOL.md section 9, "Why a job waits"): its monitor
    or tasks cannot be placed on the cluster for lack of resources. `reason`: a sentence
    (hub.core.waiting.waiting_reason, e.g. "waiting for 1 GPU: none free on the cluster's 3 nodes");
    `since`: seconds since the epoch, like `createdAt`, when the wait began (kept while it lasts)."""

    model_config = ConfigDict(frozen=True)

    reason: str = Field(min_length=1)
    since: float


class JobState(CamelModel):
    """A job's state as snapshots, `GET /api/jobs/{jobId}` and the job store hold it (PROTOCOL.md 4).

    Frozen: a new state is a copy (`advance`). It is also the record a job state crosses a process
    boundary as (a shard's `job`, `states`, `jobs_of` and `update_job`, the store's `get` and
    `list_jobs_page`: hub.core.handles), read by attribute; `wire()` makes the camelCase dict only
    where JSON is written (the HTTP and WebSocket edges, the store's rows, a monitor's publishes).
    Pickled it costs about 5 x the wire dict (dumps + loads of 500 states: 1.8-1.9 ms against 0.36 ms,
    `bench/records.py --states`), so the replies that carry many per connection stay wire dicts: a
    hello's snapshot (hub.core.records.HelloReply) and the store's `list_jobs_many`."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    kind: str
    educator_id: str
    quiz_id: str | None = None
    question_id: str | None = None
    document_id: str | None = None
    status: Status = "queued"
    progress: float = Field(default=0.0, ge=0, le=100)
    message: str = ""
    created_at: float
    updated_at: float
    error: str | None = None
    eta_seconds: float | None = None
    stage: str | None = None
    # Which run of the job this is: absent on the first, 2 on from a monitor restarted after its node
    # or process was lost (an added optional field: PROTOCOL.md allows those).
    attempt: int | None = Field(default=None, ge=2)
    # Why the job waits for resources (PROTOCOL.md section 9); absent (None) once it runs, and on
    # every status change unless the change sets it (`advance`).
    waiting: Waiting | None = None
    # Partial results (PROTOCOL.md section 9): how many of the job's items (a quiz's questions) are
    # done and kept; absent for a job of a kind that reports no items (an added optional field).
    items_done: int | None = Field(default=None, ge=0)

    @property
    def terminal(self) -> bool:
        """Whether the status is one a job never leaves: `completed`, `failed` or `cancelled` (TERMINAL)."""
        return self.status in TERMINAL

    def advance(self, now: float, **changes: Any) -> JobState:
        """A copy with `changes` applied, checked against the transition table. A status change drops
        `waiting` unless `changes` sets it: a job that starts or ends no longer waits."""
        new_status = changes.get("status", self.status)
        check_transition(self.status, new_status)
        if new_status != self.status and "waiting" not in changes:
            changes = {**changes, "waiting": None}
        return self.model_copy(update={**changes, "updated_at": now})

    def waiting_as(self, now: float, waiting: Waiting | None) -> JobState:
        """A copy that waits for `waiting` (None: no longer waits), same status; `updatedAt` is `now`.
        Only a `queued` or `processing` job waits: a terminal one is returned unchanged."""
        if self.terminal:
            return self
        return self.model_copy(update={"waiting": waiting, "updated_at": now})


def message_type_of(kind: str) -> str:
    """The message `type` a job of `kind` reports with (PROTOCOL.md section 3): MESSAGE_TYPE_BY_KIND's for a
    built-in kind, `quiz_status` for any other (custom kinds; their messages carry `kind`: message_for)."""
    return MESSAGE_TYPE_BY_KIND.get(kind, "quiz_status")


def message_for(state: JobState) -> tuple[str, dict[str, Any]]:
    """The (type, data) a job state is delivered as (PROTOCOL.md 3)."""
    mtype = message_type_of(state.kind)
    data: dict[str, Any] = {
        "jobId": state.job_id,
        "status": state.status,
        "progress": round(state.progress, 1),
        "message": state.message,
    }
    if mtype == "quiz_status":
        data["quizId"] = state.quiz_id
        if state.kind != "quiz_generation":
            data["kind"] = state.kind
    elif mtype == "question_replace":
        data["quizId"] = state.quiz_id
        data["questionId"] = state.question_id
    elif mtype == "document_processing":
        data["documentId"] = state.document_id
        data["stage"] = state.stage or "uploaded"
    if state.eta_seconds is not None and not state.terminal:
        data["etaSeconds"] = round(state.eta_seconds, 1)
    if state.error is not None:
        data["error"] = state.error
    if state.waiting is not None and not state.terminal:
        data["waiting"] = state.waiting.wire()
    if state.items_done is not None and mtype == "quiz_status":  # partial results (PROTOCOL.md section 9)
        data["itemsDone"] = state.items_done
    return mtype, data


def estimate_eta(started_at: float, now: float, progress: float) -> float | None:
    """Seconds left from the observed progress rate; None until there is enough to go on."""
    elapsed = now - started_at
    if progress < 5 or progress >= 100 or elapsed <= 0:
        return None
    return elapsed * (100.0 - progress) / progress
