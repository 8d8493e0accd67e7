"""Wire protocol v1 (PROTOCOL.md section 2): inbound op models, outbound frame builders, and the models a
client reads the outbound frames with (parse what the builders make: tests/unit/test_server_frames.py). Pure."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, NamedTuple, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from hub.core import strictjson
from hub.core.errors import BadFrame
from hub.core.rooms import ROOM_ID_RULE, is_room_id

MessageType = Literal["quiz_status", "question_replace", "document_processing", "analytics_update", "notification"]
MESSAGE_TYPES: frozenset[str] = frozenset(get_args(MessageType))
SUBPROTOCOL = "hub.v1"


class _Op(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Resume(_Op):
    """`hello`'s `resume`: the `epoch` and last `seq` (>= 0) the client saw (PROTOCOL.md section 2)."""

    epoch: str
    seq: int = Field(ge=0)


def _room_id(value: str) -> str:
    if not is_room_id(value):
        raise ValueError(ROOM_ID_RULE)
    return value


RoomId = Annotated[str, AfterValidator(_room_id)]


class _RoomOp(_Op):
    """The room ops (PROTOCOL.md section 7) take their types exactly: a `presence`, `typing` or
    `ephemeral` is a JSON boolean (not "yes", "off" or 1) and a resume's `seq` an integer (not "3" or
    true), so a wrongly typed field is a `bad_frame` rather than a guess (ROOMS_WIRE: "wrong types ->
    bad_frame"). The v1 ops keep their lenient reading: clients rely on it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True)


class RoomResume(_RoomOp):
    """A room join's `resume`: the room stream's `epoch` and the last `seq` (>= 0) the client saw."""

    epoch: str
    seq: int = Field(ge=0)


class JoinSpec(_RoomOp):
    """One room to join (PROTOCOL.md section 7, `join`; an entry of `hello.rooms`): the `room` id, an
    optional `resume` position in the room's stream, whether the connection counts in the room's
    `presence` (default true), and `info` shown to other members (at most 1 KiB as JSON)."""

    room: RoomId
    resume: RoomResume | None = None
    presence: bool = True
    info: dict[str, Any] | None = None


class Hello(_Op):
    """The first frame of a connection (PROTOCOL.md section 2): the `token`, an optional `resume`, the
    message `types` to receive (None: all) and `rooms` to join at connect (section 7)."""

    op: Literal["hello"]
    token: str
    resume: Resume | None = None
    types: list[MessageType] | None = None
    rooms: list[JoinSpec] | None = None


class Join(JoinSpec):
    """Join a room (PROTOCOL.md section 7); answered by `joined`, or `error` (`forbidden`, ...)."""

    op: Literal["join"]


class Leave(_RoomOp):
    """Leave a room; answered by `left`."""

    op: Literal["leave"]
    room: RoomId


class Publish(_RoomOp):
    """A message to a room's other members: `event` (1-64 characters), `data` (an object, at most
    16 KiB as JSON), `ephemeral` (kept in no history), and an optional `id` (any JSON value: the
    publish is then answered by `ack`)."""

    op: Literal["publish"]
    room: RoomId
    event: str = Field(min_length=1, max_length=64)
    data: dict[str, Any]
    ephemeral: bool = False
    id: Any = None

    @property
    def wants_ack(self) -> bool:
        """Whether the frame carried an `id` (even null): it is answered by `ack`."""
        return "id" in self.model_fields_set


class Typing(_RoomOp):
    """A typing indicator in a room (`typing` true for 6 s unless repeated, or false)."""

    op: Literal["typing"]
    room: RoomId
    typing: bool


class Subscribe(_Op):
    """Receive these message `types` too (a connection that receives all keeps receiving all)."""

    op: Literal["subscribe"]
    types: list[MessageType]


class Unsubscribe(_Op):
    """Stop receiving these message `types`."""

    op: Literal["unsubscribe"]
    types: list[MessageType]


class Ping(_Op):
    """The application heartbeat; answered by `pong` with the same `id` (any JSON value)."""

    op: Literal["ping"]
    id: Any = None


class Cancel(_Op):
    """Cancel one of the caller's jobs, `jobId` (1 to 128 characters); answered in the stream by the job's
    `cancelled` status, or by an `error` frame when it cannot be (not_found, conflict, ...)."""

    op: Literal["cancel"]
    job_id: str = Field(min_length=1, max_length=128)


class Refresh(_Op):
    """A later token for the same identity, sent before the current one's `exp` (v1.1)."""

    op: Literal["refresh"]
    token: str


AnyClientOp = Hello | Subscribe | Unsubscribe | Ping | Cancel | Refresh | Join | Leave | Publish | Typing
ClientOp = Annotated[AnyClientOp, Field(discriminator="op")]
_client_op: TypeAdapter[ClientOp] = TypeAdapter(ClientOp)
KNOWN_OPS = frozenset(
    {"hello", "subscribe", "unsubscribe", "ping", "cancel", "refresh", "join", "leave", "publish", "typing"}
)
ROOM_OPS = frozenset({"join", "leave", "publish", "typing"})


def parse_client_frame(text: str | bytes) -> AnyClientOp:
    """Parse one inbound frame; BadFrame (with the offending op as `ref`) when it is not a valid op,
    or not strict JSON (NaN, Infinity, a number past a double, a lone surrogate: hub.core.strictjson)."""
    try:
        raw = strictjson.loads(text)
    except strictjson.NotStrictJSON as exc:
        raise BadFrame(f"not strict JSON: {exc.msg}", ref=_op_of(text)) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadFrame(f"frame is not JSON: {exc}") from None
    return parse_client_object(raw)


def parse_client_object(raw: Any) -> AnyClientOp:
    """Validate one decoded inbound frame (JSON's or MessagePack's object, hub.core.codecs) as a client
    op; BadFrame (with the op as `ref` when known) when it is not an object or not a valid op."""
    if not isinstance(raw, dict):
        raise BadFrame("frame must be an object (a JSON object, a MessagePack map)")
    op = raw.get("op")
    ref = op if isinstance(op, str) else None
    if ref not in KNOWN_OPS:  # (not `op`: a list or an object as op is unhashable)
        raise BadFrame(f"unknown op {op!r}", ref=ref)
    try:
        return _client_op.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "frame"
        raise BadFrame(f"{op}: {where}: {first['msg']}", ref=ref) from None


def _op_of(text: str | bytes) -> str | None:
    """The op of a frame that is JSON only to Python's lenient reader, for an error's `ref`."""
    try:
        op = json.loads(text, parse_int=lambda _: 0).get("op")  # integers of any length
    except (ValueError, AttributeError, RecursionError):
        return None
    return op if isinstance(op, str) and op in KNOWN_OPS else None


def dumps(obj: Any) -> str:
    """Compact strict JSON (hub.core.strictjson.dumps): UnsafeValue rather than a NaN or a lone surrogate
    on the wire."""
    return strictjson.dumps(obj)


def envelope_json(
    seq: int, mtype: str, ts: float, data: dict[str, Any], data_json: str | None = None, room: str | None = None
) -> str:
    """One envelope as JSON text; made once per message per ingress and shared by all connections.
    `data_json`, when given, is `data` already serialised (one message sent to many educators). A
    room's envelope (`room`, PROTOCOL.md section 7) carries `room`, and no `seq` when `seq` is 0
    (ephemeral)."""
    if data_json is None:
        data_json = dumps(data)
    head = f'{{"seq":{seq},' if seq or room is None else "{"
    tail = "}" if room is None else f',"room":{dumps(room)}}}'
    return f'{head}"type":{dumps(mtype)},"ts":{ts!r},"data":{data_json}{tail}'


def batch_frame(envelopes: list[str], skipped: int = 0) -> str:
    """A `batch` frame from already-serialised envelopes (no re-encoding per connection)."""
    tail = f',"skipped":{skipped}}}' if skipped else "}"
    return '{"op":"batch","messages":[' + ",".join(envelopes) + "]" + tail


def welcome_frame(
    *,
    session: str,
    educator_id: str,
    epoch: str,
    seq: int,
    heartbeat: float,
    resumed: bool,
    snapshot: list[dict[str, Any]] | None,
    snapshot_truncated: bool = False,
    rooms: list[dict[str, Any]] | None = None,
) -> str:
    """The `welcome` frame; `snapshotTruncated: true` (optional) when the snapshot holds only the
    educator's newest jobs (GET /api/jobs pages through all of them); `rooms` (when the hello asked
    for rooms): one `joined` or `error` object per `hello.rooms` entry, in order (room_answers)."""
    frame: dict[str, Any] = {
        "op": "welcome",
        "session": session,
        "educatorId": educator_id,
        "epoch": epoch,
        "seq": seq,
        "heartbeat": heartbeat,
        "resumed": resumed,
    }
    if not resumed:
        frame["snapshot"] = snapshot or []
        if snapshot_truncated:
            frame["snapshotTruncated"] = True
    if rooms is not None:
        frame["rooms"] = rooms
    return strictjson.dumps_safe(frame)[0]  # control frames always go out; made safe, never raised


def joined_object(
    room: str, epoch: str, seq: int, resumed: bool, members: list[dict[str, Any]], member_count: int
) -> dict[str, Any]:
    """The `joined` answer to a room join (PROTOCOL.md section 7) as an object: a frame of its own
    (`control_frame`) or an entry of `welcome.rooms` and of a long-poll's `rooms`."""
    return {
        "op": "joined",
        "room": room,
        "epoch": epoch,
        "seq": seq,
        "resumed": resumed,
        "members": members,
        "memberCount": member_count,
    }


def error_object(code: str, message: str, ref: str | None = None, room: str | None = None) -> dict[str, Any]:
    """An `error` as an object (error_frame's), with the `room` of a room op when known."""
    frame: dict[str, Any] = {"op": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    if room is not None:
        frame["room"] = room
    return frame


def control_frame(obj: dict[str, Any]) -> str:
    """A server object (`joined`, `left`, `ack`, an error object) as frame text, made safe, never raised."""
    return strictjson.dumps_safe(obj)[0]


def ack_object(ack_id: Any, room: str, seq: int) -> dict[str, Any]:
    """The `ack` of a publish that carried an `id`: `{op, id, room, seq}`, no `seq` when ephemeral (0)."""
    frame: dict[str, Any] = {"op": "ack", "id": ack_id, "room": room}
    if seq:
        frame["seq"] = seq
    return frame


def pong_frame(ping_id: Any) -> str:
    """The `pong` answering a `ping` with this `id`, as JSON text; a value strict JSON cannot carry is made
    safe (hub.core.strictjson.dumps_safe), never raised."""
    return strictjson.dumps_safe({"op": "pong", "id": ping_id})[0]


def refreshed_frame(exp: int) -> str:
    """The answer to an accepted `refresh`: the connection now lasts to `exp` (Unix seconds)."""
    return dumps({"op": "refreshed", "exp": exp})


def error_frame(code: str, message: str, ref: str | None = None, room: str | None = None) -> str:
    """A non-fatal `error` frame (PROTOCOL.md section 2) as JSON text: `code` (a HubError's `code`), `message`
    (a sentence), `ref`, the offending op, when known, and `room` for a room op's (section 7); made safe
    rather than raised, so an answer is always sent."""
    return control_frame(error_object(code, message, ref, room))  # always sent, whatever a message quotes


# -- server frames, as a client reads them ------------------------------------------------------------


class MalformedFrame(ValueError):
    """A frame from the hub that is not JSON, not an object, or an op this version knows whose fields do not
    match PROTOCOL.md (a missing or mistyped field). The message says which op and field."""


class _Frame(BaseModel):
    """A server frame or reply as a client reads it: camelCase on the wire, snake_case here; fields a newer
    hub adds are kept (`model_extra`), never an error (PROTOCOL.md: the contract changes only by adding);
    strict types (a seq is an int, not "5"); frozen."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True, strict=True)


def _has_job_ids(jobs: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Snapshot entries are job states (PROTOCOL.md section 4; dicts, as the client keeps them): each
    needs a string `jobId`, the key a client files it under."""
    for job in jobs or ():
        if not isinstance(job.get("jobId"), str):
            raise ValueError("a snapshot entry has no string jobId")
    return jobs


class WireEnvelope(_Frame):
    """One message in a `batch` (PROTOCOL.md section 2, Envelope): `seq` (None for an ephemeral room
    envelope, section 7), `type`, `ts` (the hub's time, Unix seconds), `data`, and `room` (None for the
    educator's own stream)."""

    seq: int | None = Field(default=None, ge=0)
    type: str
    ts: float
    data: dict[str, Any] = Field(default_factory=dict)
    room: str | None = None


class Welcome(_Frame):
    """The answer to `hello` (welcome_frame): the `session` id, `educator_id`, the stream's `epoch` and last
    `seq`, the `heartbeat` in seconds, whether the hello's resume was `resumed`, and when it was not, the
    `snapshot` of job states (and `snapshot_truncated` when it holds only the newest jobs). `rooms` (v1.1,
    PROTOCOL.md section 7; present when the hello carried `rooms`): one `joined` or `error` object per
    entry of the hello's `rooms`, in order, each read with parse_server_frame."""

    op: Literal["welcome"]
    session: str
    educator_id: str | None = None
    epoch: str
    seq: int = Field(ge=0)
    heartbeat: float | None = Field(default=None, gt=0)
    resumed: bool
    snapshot: list[dict[str, Any]] | None = None
    snapshot_truncated: bool = False
    rooms: list[dict[str, Any]] | None = None

    _job_ids = field_validator("snapshot")(_has_job_ids)


class Batch(_Frame):
    """Deliveries (batch_frame): `messages` in ascending seq, and how many progress ticks were `skipped`
    (conflated) before them."""

    op: Literal["batch"]
    messages: list[WireEnvelope]
    skipped: int = Field(default=0, ge=0)


class Pong(_Frame):
    """The answer to `ping` (pong_frame), with the ping's `id` (any JSON value)."""

    op: Literal["pong"]
    id: Any = None


class ErrorFrame(_Frame):
    """A non-fatal `error` (error_frame): `code` (a HubError's code: bad_frame, unauthorized, ...), `message`
    (a sentence), `ref`, the op it answers, when known, and `room` (v1.1) when it answers a room op whose
    frame had a string `room` (PROTOCOL.md section 7: forbidden, not_joined, rate_limited, too_large,
    bad_frame)."""

    op: Literal["error"]
    code: str
    message: str
    ref: str | None = None
    room: str | None = None


class Refreshed(_Frame):
    """The answer to an accepted `refresh` (refreshed_frame): the connection now lasts to `exp` (Unix seconds)."""

    op: Literal["refreshed"]
    exp: int | float


class Member(_Frame):
    """One entry of a room's member list (PROTOCOL.md section 7, presence): the `educator_id`, how many of its
    `connections` are in the room with presence, and the `info` object it joined with (None when it gave
    none)."""

    educator_id: str
    connections: int = Field(ge=0)
    info: dict[str, Any] | None = None


class Joined(_Frame):
    """The answer to `join` (and an entry of `welcome.rooms` / a poll's `rooms`; PROTOCOL.md section 7): the
    `room`, its stream's `epoch` and last `seq`, whether the join's resume was `resumed` (then the missed
    room messages follow in batches), the `members` (at most 1,000 listed) and the exact `member_count`."""

    op: Literal["joined"]
    room: str
    epoch: str
    seq: int = Field(ge=0)
    resumed: bool
    members: list[Member]
    member_count: int = Field(ge=0)


class Left(_Frame):
    """The answer to `leave`: the `room` left."""

    op: Literal["left"]
    room: str


class Ack(_Frame):
    """The answer to a `publish` that carried an `id`: that `id` (any JSON value), the `room`, and the
    message's `seq` in the room's stream (None for an ephemeral publish, which has none)."""

    op: Literal["ack"]
    id: Any = None
    room: str
    seq: int | None = Field(default=None, ge=0)


ServerFrame = Annotated[
    Welcome | Batch | Pong | ErrorFrame | Refreshed | Joined | Left | Ack, Field(discriminator="op")
]
_server_frame: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)
SERVER_OPS = frozenset({"welcome", "batch", "pong", "error", "refreshed", "joined", "left", "ack"})


class Received(NamedTuple):
    """One frame read from the hub: `frame`, the typed record (None for an op this version does not know: a
    newer hub's addition, to be ignored), and `wire`, the decoded JSON object itself (what a client hands
    to its users' callbacks, unknown fields and all)."""

    frame: Welcome | Batch | Pong | ErrorFrame | Refreshed | Joined | Left | Ack | None
    wire: dict[str, Any]


def _first_error(name: str, exc: ValidationError, tagged: bool) -> str:
    """`name: field.path: what is wrong` for the first error pydantic found (`tagged`: the path starts with
    the union's tag, which is left out)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"][1 if tagged else 0 :]) or "frame"
    return f"{name}: {where}: {first['msg']}"


def read_server_frame(text: str | bytes) -> Received:
    """Decode one frame from the hub (a text frame's JSON) into a Received; MalformedFrame when it is not
    a JSON object, or when its op is one of SERVER_OPS but its fields do not match the model."""
    try:
        wire = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedFrame(f"frame is not JSON: {exc}") from None
    if not isinstance(wire, dict):
        raise MalformedFrame(f"frame is a JSON {type(wire).__name__}, not an object")
    return Received(parse_server_frame(wire), wire)


def parse_server_frame(
    wire: dict[str, Any],
) -> Welcome | Batch | Pong | ErrorFrame | Refreshed | Joined | Left | Ack | None:
    """The typed record of a decoded server frame; None when its op is not one of SERVER_OPS (PROTOCOL.md
    adds ops in later versions: a client ignores those it does not know); MalformedFrame when its fields
    do not match."""
    op = wire.get("op")
    if not isinstance(op, str) or op not in SERVER_OPS:
        return None
    try:
        return _server_frame.validate_python(wire)
    except ValidationError as exc:
        raise MalformedFrame(_first_error(op, exc, tagged=True)) from None


class EventsReply(_Frame):
    """The answer to a long-poll, `GET /api/events` (PROTOCOL.md section 5; hub.ingress.polling) or
    `POST /api/events` (section 7): the stream's `epoch` and last `seq`, whether the poll's position was
    `resumed`, the `messages` after it (with rooms: both streams' envelopes), when it was not resumed, the
    `snapshot` of job states (`snapshot_truncated` as in Welcome), and for a poll that named rooms, `rooms`:
    one `joined` or `error` object per room, as in Welcome."""

    epoch: str
    seq: int = Field(ge=0)
    resumed: bool
    messages: list[WireEnvelope] = Field(default_factory=list)
    snapshot: list[dict[str, Any]] | None = None
    snapshot_truncated: bool = False
    rooms: list[dict[str, Any]] | None = None

    _job_ids = field_validator("snapshot")(_has_job_ids)


def parse_events_reply(wire: object) -> EventsReply:
    """The typed record of a decoded `/api/events` answer; MalformedFrame when it does not match."""
    try:
        return EventsReply.model_validate(wire)
    except ValidationError as exc:
        raise MalformedFrame(_first_error("events", exc, tagged=False)) from None
