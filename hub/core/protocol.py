"""Wire protocol v1 (PROTOCOL.md section 2): inbound op models and outbound frame builders. Pure."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from hub.core import strictjson
from hub.core.errors import BadFrame

MessageType = Literal["quiz_status", "question_replace", "document_processing", "analytics_update", "notification"]
MESSAGE_TYPES: frozenset[str] = frozenset(get_args(MessageType))
SUBPROTOCOL = "hub.v1"


class _Op(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Resume(_Op):
    """`hello`'s `resume`: the `epoch` and last `seq` (>= 0) the client saw (PROTOCOL.md section 2)."""

    epoch: str
    seq: int = Field(ge=0)


class Hello(_Op):
    """The first frame of a connection (PROTOCOL.md section 2): the `token`, an optional `resume`, and the
    message `types` to receive (None: all)."""

    op: Literal["hello"]
    token: str
    resume: Resume | None = None
    types: list[MessageType] | None = None


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


ClientOp = Annotated[Hello | Subscribe | Unsubscribe | Ping | Cancel | Refresh, Field(discriminator="op")]
_client_op: TypeAdapter[ClientOp] = TypeAdapter(ClientOp)
KNOWN_OPS = frozenset({"hello", "subscribe", "unsubscribe", "ping", "cancel", "refresh"})


def parse_client_frame(text: str | bytes) -> Hello | Subscribe | Unsubscribe | Ping | Cancel | Refresh:
    """Parse one inbound frame; BadFrame (with the offending op as `ref`) when it is not a valid op,
    or not strict JSON (NaN, Infinity, a number past a double, a lone surrogate: hub.core.strictjson)."""
    try:
        raw = strictjson.loads(text)
    except strictjson.NotStrictJSON as exc:
        raise BadFrame(f"not strict JSON: {exc.msg}", ref=_op_of(text)) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadFrame(f"frame is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise BadFrame("frame must be a JSON object")
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


def envelope_json(seq: int, mtype: str, ts: float, data: dict[str, Any], data_json: str | None = None) -> str:
    """One envelope as JSON text; made once per message per ingress and shared by all connections.
    `data_json`, when given, is `data` already serialised (one message sent to many educators)."""
    if data_json is None:
        return dumps({"seq": seq, "type": mtype, "ts": ts, "data": data})
    return f'{{"seq":{seq},"type":{dumps(mtype)},"ts":{ts!r},"data":{data_json}}}'


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
) -> str:
    """The `welcome` frame; `snapshotTruncated: true` (optional) when the snapshot holds only the
    educator's newest jobs (GET /api/jobs pages through all of them)."""
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
    return strictjson.dumps_safe(frame)[0]  # control frames always go out; made safe, never raised


def pong_frame(ping_id: Any) -> str:
    """The `pong` answering a `ping` with this `id`, as JSON text; a value strict JSON cannot carry is made
    safe (hub.core.strictjson.dumps_safe), never raised."""
    return strictjson.dumps_safe({"op": "pong", "id": ping_id})[0]


def refreshed_frame(exp: int) -> str:
    """The answer to an accepted `refresh`: the connection now lasts to `exp` (Unix seconds)."""
    return dumps({"op": "refreshed", "exp": exp})


def error_frame(code: str, message: str, ref: str | None = None) -> str:
    """A non-fatal `error` frame (PROTOCOL.md section 2) as JSON text: `code` (a HubError's `code`), `message`
    (a sentence) and `ref`, the offending op, when known; made safe rather than raised, so an answer is
    always sent."""
    frame: dict[str, Any] = {"op": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    return strictjson.dumps_safe(frame)[0]  # an answer is always sent, whatever a message quotes
