"""Room ops of one WebSocket connection (PROTOCOL.md section 7): `join` (and `hello.rooms`), `leave`,
`publish`, `typing`. Each is checked here (permission from the token's `rooms`, the room count, sizes,
the op rate) before any shard sees it; a refused op raises the HubError its `error` frame carries
(`forbidden`, `not_joined`, `rate_limited`, `too_large`), and the connection stays open."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hub.auth import Identity
from hub.core.errors import HubError, NotJoined, RateLimited, TooLarge, UpstreamError
from hub.core.limits import TokenBucket
from hub.core.protocol import (
    JoinSpec,
    Leave,
    Publish,
    Typing,
    ack_object,
    control_frame,
    error_object,
    joined_object,
)
from hub.core.records import RoomJoinReply
from hub.core.rooms import MAX_DATA_BYTES, MAX_INFO_BYTES, check_size
from hub.core.stream import StreamPosition
from hub.ingress.connection import Connection
from hub.ingress.relay import Relay
from hub.metrics import IngressMetrics
from hub.settings import Settings


def joined_of(room: str, reply: RoomJoinReply) -> dict[str, Any]:
    """The `joined` object for a shard's RoomJoinReply."""
    epoch, seq = reply.position
    return joined_object(room, epoch, seq, reply.resumed, reply.members, reply.member_count)


def resume_of(spec: JoinSpec) -> StreamPosition | None:
    """The position a join resumes the room's stream from (None: no resume)."""
    return StreamPosition(spec.resume.epoch, spec.resume.seq) if spec.resume else None


def plan_joins(
    identity: Identity, specs: list[JoinSpec], limit: int, metrics: IngressMetrics
) -> tuple[list[dict[str, Any] | None], dict[str, JoinSpec]]:
    """Check the joins of `hello.rooms` or of a long-poll's `rooms` (`check_join`, `limit` rooms at most):
    per entry, in order, the `error` object of a refused one (None for one accepted; refusals counted in
    `metrics`), and the rooms to join, each once (its first accepted entry; a repeat is answered alike)."""
    answers: list[dict[str, Any] | None] = []
    wanted: dict[str, JoinSpec] = {}
    for spec in specs:
        try:
            check_join(identity, spec, wanted, limit)
        except HubError as exc:
            metrics.errors.inc(code=exc.code)
            answers.append(error_object(exc.code, exc.message, "join", spec.room))
            continue
        answers.append(None)
        wanted.setdefault(spec.room, spec)
    return answers, wanted


def check_join(identity: Identity, spec: JoinSpec, joined: dict[str, Any], limit: int) -> None:
    """Raise the HubError that refuses `spec` for `identity`, holding `joined` rooms: `forbidden` (no
    pattern matches, PROTOCOL.md section 7), `too_large` (past `limit` rooms, or `info` over 1 KiB)."""
    identity.require_room(spec.room)
    if spec.room not in joined and len(joined) >= limit:
        raise TooLarge(f"at most {limit} rooms per connection; leave one first")
    if spec.info is not None:
        check_size(spec.info, MAX_INFO_BYTES, "the join's info")


class RoomOps:
    """The room ops of one connection `conn`, for the relay of its ingress; `settings` gives the limits
    (rooms_per_connection, room_op_rate, room_op_burst); `metrics` counts the ops."""

    def __init__(self, conn: Connection, relay: Relay, settings: Settings, metrics: IngressMetrics) -> None:
        self.conn = conn
        self.relay = relay
        self.settings = settings
        self.metrics = metrics
        self.bucket = TokenBucket(settings.room_op_rate, settings.room_op_burst, time.monotonic())

    async def at_hello(self, identity: Identity, specs: list[JoinSpec]) -> tuple[list[dict[str, Any]], list[Any]]:
        """Join `hello.rooms` at once (concurrently): the `welcome.rooms` objects, in order, and the joins to
        start once the welcome is queued ((room, RoomJoinReply) each, for `started`). UpstreamError when a
        room's shard did not answer (the hello is then refused 1012, the rooms joined left)."""
        answers, wanted = plan_joins(identity, specs, self.settings.rooms_per_connection, self.metrics)
        joining = {
            room: asyncio.ensure_future(self.relay.join_room(self.conn, room, resume_of(s), s.presence, s.info))
            for room, s in wanted.items()
        }
        replies: dict[str, RoomJoinReply] = {}
        refused: dict[str, dict[str, Any]] = {}
        unanswered: UpstreamError | None = None
        for room, future in joining.items():
            try:
                replies[room] = await future
            except UpstreamError as exc:  # not a room error code: the hello fails (1012), as its own would
                unanswered = exc
                continue
            except HubError as exc:
                refused[room] = error_object(exc.code, exc.message, "join", room)
                continue
            self.metrics.room_ops.inc(op="join")
        if unanswered is not None:
            raise unanswered
        out = [
            answer or (joined_of(spec.room, replies[spec.room]) if spec.room in replies else refused[spec.room])
            for answer, spec in zip(answers, specs, strict=True)
        ]
        return out, list(replies.items())

    def started(self, starts: list[Any]) -> None:
        """Start the hello's room joins (after the welcome is queued): their backlogs and held envelopes."""
        for room, reply in starts:
            self.conn.start_room(room, reply.position, reply.messages, None)

    async def join(self, identity: Identity, spec: JoinSpec) -> None:
        """The `join` op: checked, joined at the room's shard, answered by `joined` (then the missed
        envelopes when resumed)."""
        check_join(identity, spec, self.conn.rooms, self.settings.rooms_per_connection)
        reply = await self.relay.join_room(self.conn, spec.room, resume_of(spec), spec.presence, spec.info)
        self.metrics.room_ops.inc(op="join")
        self.conn.start_room(spec.room, reply.position, reply.messages, control_frame(joined_of(spec.room, reply)))

    def leave(self, frame: Leave) -> None:
        """The `leave` op: out of the room (if in it), answered by `left`."""
        self.relay.leave_room(self.conn, frame.room)
        self.metrics.room_ops.inc(op="leave")
        self.conn.send_control(control_frame({"op": "left", "room": frame.room}))

    def _checked(self, room: str) -> None:
        if room not in self.conn.rooms:
            raise NotJoined(f"join room {room!r} before sending to it")
        now = time.monotonic()
        if not self.bucket.take(now):
            raise RateLimited(
                f"more than {self.settings.room_op_rate:g} publish and typing ops a second; slow down",
                self.bucket.retry_after(now),
            )

    async def publish(self, identity: Identity, frame: Publish) -> None:
        """The `publish` op: to the room's other members; with an `id`, answered by `ack`."""
        self._checked(frame.room)
        check_size(frame.data, MAX_DATA_BYTES, "the publish's data")
        shard = self.relay.shard_for(frame.room)
        seq = await shard.room_publish(
            frame.room, identity.sub, self.conn.session, frame.event, frame.data, frame.ephemeral
        )
        self.metrics.room_ops.inc(op="publish")
        if frame.wants_ack:
            self.conn.send_control(control_frame(ack_object(frame.id, frame.room, seq)))

    async def typing(self, identity: Identity, frame: Typing) -> None:
        """The `typing` op: sent on to the room (the shard ends it after 6 s without a repeat)."""
        self._checked(frame.room)
        await self.relay.shard_for(frame.room).room_typing(frame.room, identity.sub, self.conn.session, frame.typing)
        self.metrics.room_ops.inc(op="typing")
