"""The rooms' HTTP API (PROTOCOL.md section 7, HTTP): members, publish, typing, and `POST /api/events`
(the long-poll fallback with rooms)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from hub.auth import Identity
from hub.core.errors import Forbidden, RateLimited
from hub.core.limits import Buckets
from hub.core.protocol import JoinSpec, Resume
from hub.core.rooms import HTTP_SESSION, MAX_DATA_BYTES, ROOM_ID, check_size
from hub.core.stream import StreamPosition
from hub.ingress.api import identity_dependency
from hub.ingress.polling import MAX_TIMEOUT
from hub.ingress.relay import Relay
from hub.ingress.roompolls import PollPresence, poll_with_rooms
from hub.ingress.strict import StrictJSONResponse, StrictJSONRoute
from hub.metrics import IngressMetrics
from hub.settings import Settings


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _StrictBody(_Body):
    """A room op's body takes its types exactly (as the WebSocket ops do: hub.core.protocol._RoomOp):
    `typing: "yes"` or `ephemeral: 1` is a 422, not a guess."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class RoomPublish(_StrictBody):
    """The body of `POST /api/rooms/{room}/publish`: `event` (1-64 characters), `data` (an object, at most
    16 KiB as JSON), `ephemeral` (kept in no history; default false)."""

    event: str = Field(min_length=1, max_length=64)
    data: dict[str, Any]
    ephemeral: bool = False


class RoomTyping(_StrictBody):
    """The body of `POST /api/rooms/{room}/typing`: `typing` (true for 6 s unless repeated, or false)."""

    typing: bool


class EventsPoll(_Body):
    """The body of `POST /api/events`: the educator stream's `resume` position, the `rooms` to read
    (as `hello.rooms`), and `timeout` (seconds, at most 30)."""

    resume: Resume | None = None
    rooms: list[JoinSpec] = Field(default_factory=list, max_length=10_000)
    timeout: float = Field(default=25.0, ge=0, allow_inf_nan=False)


# anchored: a path pattern is searched for, not matched whole ("bad room" holds a match of the bare one)
RoomPath = Path(pattern=f"^{ROOM_ID.pattern}$", min_length=1, max_length=128, description="a room id")


def build_room_router(relay: Relay, secret: str, settings: Settings, metrics: IngressMetrics) -> APIRouter:
    """The room routes, for the ingress whose `relay` joins rooms; tokens verified with `secret`;
    limits from `settings`. The router's `poll_presence` (PollPresence) is closed by the app at stop."""
    router = APIRouter(route_class=StrictJSONRoute, default_response_class=StrictJSONResponse)
    identity = identity_dependency(secret, settings.token_leeway)
    # An educator's publish and typing over HTTP go by the rate a connection's do (HUB_ROOM_OP_RATE,
    # per educator on this ingress); services and admins, the hub's own back ends, by none.
    http_ops = Buckets(settings.room_op_rate, settings.room_op_burst)

    def paced(who: Identity) -> None:
        if who.role != "educator":
            return
        wait = http_ops.take(who.sub, time.monotonic())
        if wait:
            raise RateLimited(
                f"more than {settings.room_op_rate:g} room publish and typing requests a second; "
                f"try again in {wait:.1f}s",
                retry_after=wait,
            )

    presence = PollPresence(relay)
    router.poll_presence = presence  # type: ignore[attr-defined]

    @router.get("/api/rooms/{room}/members")
    async def members(room: str = RoomPath, who: Identity = Depends(identity)) -> dict[str, Any]:
        """The room's present members (at most 1,000 listed) and their exact count."""
        who.require_room(room, service_may=True)
        listed, count = await relay.shard_for(room).room_members(room)
        return {"room": room, "members": listed, "memberCount": count}

    @router.post("/api/rooms/{room}/publish", status_code=202)
    async def publish(body: RoomPublish, room: str = RoomPath, who: Identity = Depends(identity)) -> dict[str, Any]:
        """A `room_message` to every member (`from.session` is "http"); `{seq}` unless ephemeral."""
        who.require_room(room, service_may=True)
        paced(who)
        check_size(body.data, MAX_DATA_BYTES, "the publish's data")
        seq = await relay.shard_for(room).room_publish(
            room, who.sub, HTTP_SESSION, body.event, body.data, body.ephemeral
        )
        metrics.room_ops.inc(op="publish")
        return {"seq": seq} if seq else {}

    @router.post("/api/rooms/{room}/typing", status_code=202)
    async def typing(body: RoomTyping, room: str = RoomPath, who: Identity = Depends(identity)) -> dict[str, Any]:
        """The educator's typing indicator in the room (ended by the hub after 6 s without a repeat)."""
        if who.role == "service":
            raise Forbidden("typing is an educator's: this endpoint needs an educator token")
        who.require_room(room)
        paced(who)
        await relay.shard_for(room).room_typing(room, who.sub, HTTP_SESSION, body.typing)
        metrics.room_ops.inc(op="typing")
        return {}

    @router.post("/api/events")
    async def events(body: EventsPoll, who: Identity = Depends(identity)) -> Response:
        """The long-poll fallback with rooms (PROTOCOL.md section 7): both streams' envelopes in
        `messages`, one `joined` or `error` object per room in `rooms`."""
        if not who.may("educator"):
            raise Forbidden(f"this endpoint needs an educator token, not {who.role}")
        timeout = min(body.timeout, MAX_TIMEOUT)
        if who.exp is not None:  # a poll outlives its token no more than a WebSocket does
            timeout = max(0.0, min(timeout, who.exp + settings.token_leeway - time.time()))
        resume = StreamPosition(body.resume.epoch, body.resume.seq) if body.resume else None
        return await poll_with_rooms(
            relay,
            presence,
            who,
            resume,
            body.rooms,
            timeout,
            max_messages=settings.poll_max_messages,
            max_rooms=settings.rooms_per_connection,
            metrics=metrics,
        )

    return router
