"""What the hub calls on a registry shard and on the job store, as Protocols: the Ray clients in
`actors.handles` (ShardClient, StoreClient) implement them, and so may fakes in tests. The relay,
the job desk, job monitors and job kinds are typed against these, so mypy checks every call and
every reply (the records of hub.core.records). A failed call raises hub.core.errors.UpstreamError."""

from __future__ import annotations

from typing import Any, Protocol

from hub.core.eta import KindPace
from hub.core.idempotency import Held
from hub.core.items import KeptItem
from hub.core.jobstate import JobState
from hub.core.records import (
    DocumentRecord,
    FeedBatch,
    HelloReply,
    Outline,
    PublishReply,
    QuizRecord,
    RoomJoinReply,
    RoomMember,
    ShardStats,
    StreamPosition,
)

# One client's hello as an ingress sends it: (educator id, the position to resume from, or None).
HelloRequest = tuple[str, StreamPosition | None]
# One connection's room join as an ingress sends it: (room, session, educator, present, info, resume).
RoomJoinRequest = tuple[str, str, str, bool, dict[str, Any] | None, StreamPosition | None]


class ShardHandle(Protocol):
    """A registry shard (actors.registry.RegistryShard) seen from another process."""

    @property
    def index(self) -> int:
        """The shard's number, 0-based (-1 when unknown)."""
        ...

    async def publish(self, updates: list[dict[str, Any]]) -> PublishReply:
        """Apply job-state updates (JobState wire dicts, an optional `extra` dict each), in order."""
        ...

    async def publish_message(self, educator_ids: list[str], mtype: str, data: dict[str, Any]) -> int:
        """Deliver a message that is not a job state to each educator; returns how many."""
        ...

    async def hello_many(self, ingress_id: str, requests: list[HelloRequest]) -> list[HelloReply]:
        """Watch each educator for `ingress_id` and answer each hello, in the order asked."""
        ...

    async def unwatch_many(self, ingress_id: str, educator_ids: list[str]) -> list[None]:
        """Stop watching once per entry (one per connection that left)."""
        ...

    async def attach(self, ingress_id: str, educator_ids: list[str], rooms: list[RoomMember] | None = None) -> str:
        """(Re-)attach an ingress with the educators it holds (one per connection) and its connections'
        room memberships; returns the shard's epoch."""
        ...

    async def room_join_many(self, ingress_id: str, requests: list[RoomJoinRequest]) -> list[RoomJoinReply]:
        """Join each connection to its room (PROTOCOL.md section 7) and answer each, in the order asked."""
        ...

    async def room_leave_many(self, ingress_id: str, leaves: list[tuple[str, str]]) -> list[None]:
        """Each (room, session) leaves: one watch fewer, its presence counted out."""
        ...

    async def room_publish(
        self, room: str, educator_id: str, session: str, event: str, data: dict[str, Any], ephemeral: bool
    ) -> int:
        """A `room_message` from a connection (`session`; "http" over HTTP); its seq, 0 when ephemeral."""
        ...

    async def room_typing(self, room: str, educator_id: str, session: str, typing: bool) -> None:
        """A typing indicator from a connection; the shard sends it on and ends it after 6 s."""
        ...

    async def room_members(self, room: str) -> tuple[list[dict[str, Any]], int]:
        """(the first members listed, the exact member count) of a room."""
        ...

    async def detach(self, ingress_id: str) -> None:
        """Forget an ingress's feed (it is stopping)."""
        ...

    async def pull(
        self, ingress_id: str, ack: int, timeout: float | None = None, feed_id: str | None = None
    ) -> FeedBatch:
        """Everything after feed number `ack` of feed `feed_id` (the last batch's `feed`; None at first);
        waits up to `timeout` seconds when there is nothing."""
        ...

    async def load_jobs(self, educator_id: str) -> None:
        """Make sure the shard holds the educator's earlier jobs (from the store), sending none back."""
        ...

    async def jobs_of(self, educator_id: str) -> list[JobState]:
        """The educator's job states the shard holds, most recently changed first."""
        ...

    async def states(self, job_ids: list[str]) -> list[JobState | None]:
        """Each job's current state, None for a job the shard does not hold."""
        ...

    async def job(self, job_id: str) -> JobState | None:
        """One job's state, None when the shard does not hold it."""
        ...

    async def resend(self, job_id: str) -> int:
        """Send a job's state again; its seq, 0 when unknown."""
        ...

    async def update_job(self, job_id: str, changes: dict[str, Any]) -> JobState | None:
        """Change a job and publish it (`changes`: JobState fields by their Python names); the new state,
        None when unknown."""
        ...

    async def broadcast(self, mtype: str, data: dict[str, Any]) -> int:
        """Deliver to every educator the shard has a stream for; returns how many."""
        ...

    async def ping(self) -> str:
        """The shard's epoch."""
        ...

    async def stats(self) -> ShardStats:
        """Operator figures (educators, jobs, ingresses, pending per ingress, ...) for /metrics."""
        ...


class StoreHandle(Protocol):
    """The job store (actors.store.JobStore) seen from another process."""

    async def save(self, state: dict[str, Any], result: Any = None) -> None:
        """Record a job's state (a JobState wire dict), with its result when it has one."""
        ...

    async def save_items(self, state: dict[str, Any], items: list[KeptItem]) -> None:
        """Keep a running job's finished items ((index, total, value) triples) with its state, in one
        transaction."""
        ...

    async def items(self, job_id: str) -> list[KeptItem]:
        """The finished items kept for a job that has not ended, (index, total, value) in the order kept."""
        ...

    async def delete(self, job_id: str) -> None:
        """Remove a job record that never ran (a submission undone before its `queued` went out)."""
        ...

    async def keyed_job(self, educator_id: str, key: str, ttl: float) -> Held | None:
        """The Held (jobId, body digest, status) an educator's idempotency key names, claimed less than
        `ttl` seconds ago."""
        ...

    async def save_keyed(self, state: dict[str, Any], key: str, digest: str, ttl: float) -> Held | None:
        """Record a new job under an educator's idempotency key, atomically: None when recorded, else the
        Held already holding the key (nothing written)."""
        ...

    async def forget_keys(self, job_id: str) -> None:
        """Free the idempotency key that names a job whose monitor never started."""
        ...

    async def get(self, job_id: str) -> JobState | None:
        """A job's stored state, None when unknown."""
        ...

    async def result(self, job_id: str) -> Any:
        """A completed job's result (JSON value), None when there is none."""
        ...

    async def list_jobs_many(self, educator_ids: list[str], limit: int = 200) -> list[list[dict[str, Any]]]:
        """Each educator's newest `limit` job states (JobState wire dicts: a shard parses them at once; see
        actors.store.JobStore.list_jobs_many for why they stay dicts), newest first."""
        ...

    async def list_jobs_page(
        self, educator_id: str, limit: int, before: tuple[float, str] | None = None
    ) -> list[JobState]:
        """A page of an educator's job states, newest first, older than `before` (createdAt, jobId)."""
        ...

    async def educator_stats(self, educator_id: str) -> dict[str, Any]:
        """An educator's analytics figures (the `updates` of an analytics_update message)."""
        ...

    async def save_quiz(
        self,
        quiz_id: str,
        educator_id: str,
        source_text: str,
        questions: list[dict[str, Any]],
        document_id: str | None = None,
    ) -> None:
        """Record a quiz (its questions: the quiz JSON's question dicts); an existing `quiz_id` gets the new
        questions and source text, its owner and document stay."""
        ...

    async def quiz(self, quiz_id: str) -> QuizRecord | None:
        """The stored quiz, None when unknown."""
        ...

    async def replace_question(self, quiz_id: str, question_id: str, question: dict[str, Any]) -> None:
        """Put `question` (a whole question dict) in the place of the quiz's question `question_id`. An
        unknown quiz is an error (KeyError in the plain store; UpstreamError over Ray)."""
        ...

    async def save_document(
        self, document_id: str, educator_id: str, filename: str | None, text: str, index: dict[str, Any]
    ) -> None:
        """Record a processed document: its extracted text and `index` (jobs.documents.DocumentIndex as
        JSON); an existing `document_id` is replaced."""
        ...

    async def document(self, document_id: str) -> DocumentRecord | None:
        """The stored document, None when unknown."""
        ...

    async def outline(self, quiz_id: str | None, document_id: str | None) -> Outline:
        """The owners of a quiz and of a document and the quiz's question ids (None / [] for what is not
        stored), what a submission is checked against without moving texts."""
        ...

    async def register_kind(self, name: str, kind: Any) -> None:
        """Keep a custom job kind (pickled by value: jobs.kinds.pack_kind) under `name`."""
        ...

    async def kind(self, name: str) -> Any:
        """A custom job kind's pickled blob, None when unknown."""
        ...

    async def kind_names(self) -> list[str]:
        """The names of the custom job kinds registered (sorted; the built-in ones are not listed)."""
        ...

    async def kind_pace(self, name: str, blob: bool, last: int) -> KindPace:
        """A starting job's one read (hub.core.eta): the median pace (seconds per item) of the newest `last`
        completed jobs of kind `name` (None when none), and, when `blob`, the custom kind's blob."""
        ...

    async def record_pace(self, job_id: str, kind: str, seconds_per_item: float, keep: int) -> None:
        """Record a completed job's pace (seconds per item), once per job, keeping the kind's newest `keep`."""
        ...
