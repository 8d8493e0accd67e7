"""The typed records that cross a process boundary between the hub's parts (Ray calls today, the
sockets of the data plane later): what a registry shard answers a hello, a pull and a publish, and
what the job store answers about quizzes and documents. Pure; both sides import them from here.

Named tuples, not dataclasses: they pickle by reference to this module (so they live at its top
level) and cost about one tuple each: a pull reply as a FeedBatch pickles as fast as the dict it
replaces. The envelopes inside a pull stay plain tuples (`FeedItem`), the one place the count is
large: for 200 envelopes, pickling and unpickling them as Envelope named tuples costs 2-3.5 x as
much, as dicts 1.2-3.4 x, as frozen dataclasses 3-12 x (`bench/records.py`, 2026-11-30, on the
2-core machine and on a quiet 16-core one; docs/benchmarks.md, 2026-11-26, measured the dataclasses
at 15 x).

Job states cross as hub.core.jobstate.JobState (a frozen pydantic model, read by attribute): a
shard's `job`, `states`, `jobs_of` and `update_job`, the store's `get` and `list_jobs_page`. What
stays a dict is the wire JSON a client sees, where a reply carries many job states once per
connection: a hello's snapshot (HelloReply.snapshot, put in the `welcome` frame as it is) and the
store's `list_jobs_many` (a shard's loads on hellos, parsed into JobStates at once). Pickled, 500
JobStates cost about 5 x their wire dicts (1.8-1.9 ms against 0.36 ms, `bench/records.py`), and each
would be dumped again at the ingress (0.7 ms); an educator's analytics figures stay a dict too.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from hub.core.stream import Envelope, StreamPosition

__all__ = [
    "DataPlaneEndpoint",
    "DocumentRecord",
    "Envelope",
    "FeedBatch",
    "FeedItem",
    "HelloReply",
    "Outline",
    "PublishReply",
    "QuizRecord",
    "RoomJoinReply",
    "RoomMember",
    "ShardStats",
    "StreamPosition",
]

# One connection's membership of a room as an ingress reports it (a join, or its re-attach after a
# shard restart): (room, session, educator, present, info).
RoomMember = tuple[str, str, str, bool, dict[str, Any] | None]


# One queued message of an ingress's feed: (feed number, tuple(envelope)); `Envelope._make` rebuilds it.
FeedItem = tuple[int, tuple[Any, ...]]


class FeedBatch(NamedTuple):
    """A shard's answer to an ingress's `pull`: everything after the acknowledged feed number.

    `unknown`: the shard has no feed for this ingress (first contact, a shard restart, a lapsed
    lease); the ingress must `attach` again (items is then empty). `lost`: messages may be missing
    for this ingress (dropped on overflow since the last pull, or the feed the ingress acknowledged
    was dropped and a new one made since); the ingress's clients of that shard must resume from
    history. `feed`: the identity of the feed the items come from ("" when unknown): the ingress
    names it in its next pull, with its ack."""

    epoch: str
    unknown: bool
    items: list[FeedItem]
    lost: bool
    feed: str = ""


class HelloReply(NamedTuple):
    """A shard's answer to one client's hello (`hello`/`hello_many`), from which the ingress makes
    the `welcome` frame (PROTOCOL.md section 3) or a long-poll's first answer.

    `position`: the stream's epoch and its last seq now. `resumed`: the client's resume point was
    honoured, and `messages` holds what it missed (envelopes, oldest first); otherwise `snapshot`
    holds the educator's job states (JobState wire dicts, newest first) and `snapshot_truncated`
    says it holds only the newest jobs the shard keeps (the rest page from GET /api/jobs).

    The snapshot stays wire dicts, not JobStates: it crosses once per connection with up to
    ShardConfig.jobs_per_educator (500) states, which the ingress writes into the `welcome` frame as
    they are; as JobStates it would cost about 5 x to pickle and unpickle, and `wire()` each again at
    the ingress (`bench/records.py`: 500 states, 1.8-1.9 ms against 0.36 ms, plus 0.7 ms)."""

    position: StreamPosition
    resumed: bool
    messages: list[Envelope]
    snapshot: list[dict[str, Any]] | None = None
    snapshot_truncated: bool = False


class RoomJoinReply(NamedTuple):
    """A shard's answer to one connection's room join (PROTOCOL.md section 7, `joined`): the room
    stream's `position` (epoch, last seq), whether the join's resume was `resumed` (then `messages`
    holds what it missed, oldest first), the first members (`members`: `{educatorId, connections,
    info?}` entries, at most Settings.room_members_listed) and the exact `member_count`."""

    position: StreamPosition
    resumed: bool
    messages: list[Envelope]
    members: list[dict[str, Any]]
    member_count: int


class PublishReply(NamedTuple):
    """A shard's answer to `publish(updates)`: its `epoch` (a monitor that sees it change re-announces
    its job) and one seq per update, in order (0 for an update the transition table refused)."""

    epoch: str
    seqs: list[int]


class ShardStats(NamedTuple):
    """A shard's figures for operators (/metrics, the cluster tests): its number and `epoch`, how
    many educator streams, jobs and attached ingresses it holds, messages `published` since it
    started, messages `pending` per ingress feed (ingress id -> count) and its jobs by status; its rooms,
    their present members (summed over rooms), and `presence` and `room_message` envelopes made since
    it started (PROTOCOL.md section 7)."""

    shard: int
    epoch: str
    educators: int
    jobs: int
    ingresses: int
    published: int
    pending: dict[str, int]
    jobs_by_status: dict[str, int]
    rooms: int = 0
    room_members: int = 0
    presence_changes: int = 0
    room_messages: int = 0
    jobs_waiting: int = 0  # queued or processing jobs whose state carries `waiting` (PROTOCOL.md section 9)


class Outline(NamedTuple):
    """What the job store says a submission is checked against, without moving texts: the owner of a
    quiz and of a document (None when there is none) and the quiz's question ids."""

    quiz_owner: str | None
    question_ids: list[str]
    document_owner: str | None


class QuizRecord(NamedTuple):
    """A stored quiz: its source text and its questions (the quiz JSON's question dicts)."""

    quiz_id: str
    educator_id: str
    document_id: str | None
    source_text: str
    questions: list[dict[str, Any]]


class DocumentRecord(NamedTuple):
    """A stored document: its extracted text and its index (jobs.documents.DocumentIndex as JSON;
    `doc_index`, as its column is named, since `index` is a tuple's method)."""

    document_id: str
    educator_id: str
    filename: str | None
    text: str
    doc_index: dict[str, Any]


class DataPlaneEndpoint(NamedTuple):
    """Where and how to reach a registry shard's data-plane socket (DESIGN.md, "The data path"), as
    the shard answers it over Ray (the control plane) to a caller that Ray let in.

    `host`: the shard's node address, where `port` serves TLS; `loopback_port`: the same service
    without TLS on 127.0.0.1, for callers on the shard's own node (nothing leaves the machine);
    `cert_pem`: the shard's self-signed certificate, the one a TLS caller trusts (pinned; a new one
    each incarnation); `token`: a JWT the shard signed, good for `Settings.dataplane_token_ttl`
    seconds, that opens a connection (sent in the upgrade's Authorization header)."""

    host: str
    port: int
    loopback_port: int
    cert_pem: str
    token: str
