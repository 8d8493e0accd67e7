"""One room as its registry shard holds it (PROTOCOL.md section 7): its stream (epoch, seq, history,
resume, as an educator's), its presence and who is typing. Pure: `now` is passed in; the shard
delivers the envelopes these methods return to the ingresses watching the room."""

from __future__ import annotations

from typing import Any

from hub.core.presence import Member, Presence
from hub.core.records import RoomJoinReply
from hub.core.rooms import TYPING_TTL
from hub.core.stream import EducatorStream, Envelope, StreamPosition


class Room:
    """A room's stream, presence and typing. `room_id`: its id (checked by the ingress); `epoch`: the
    shard incarnation's; `max_messages`/`max_age`: its history's bounds (as an educator stream's)."""

    __slots__ = ("room_id", "stream", "presence", "typing", "_typed_from")

    def __init__(self, room_id: str, epoch: str, *, max_messages: int, max_age: float) -> None:
        self.room_id = room_id
        self.stream = EducatorStream(room_id, epoch, max_messages=max_messages, max_age=max_age, room=True)
        self.presence = Presence()
        self.typing: dict[str, float] = {}  # educator -> when its typing lapses (the clock of `now`)
        self._typed_from: dict[str, str | None] = {}  # educator -> the session of its last `typing: true`

    def _presence(self, action: str, member: Member, now: float) -> Envelope:
        data = {"action": action, "member": member.brief(), "memberCount": len(self.presence)}
        return self.stream.append("presence", data, now)

    def join(
        self, ingress: str, session: str, educator_id: str, present: bool, info: dict[str, Any] | None, now: float
    ) -> list[Envelope]:
        """A connection joins; the `presence` join message (kept in history) when it is its educator's
        first present connection, else nothing. `present` False: not counted (a watcher); a connection
        counted before and joining again without presence is counted out (`leave` when it was the
        last): its latest join decides, as a re-attach after a shard restart reports it."""
        if not present:
            return self.leave(ingress, session, now)
        member = self.presence.join(ingress, session, educator_id, info)
        return [self._presence("join", member, now)] if member is not None else []

    def answer(self, resume: StreamPosition | None, now: float, limit: int) -> RoomJoinReply:
        """The `joined` answer for a connection that joined at `now`: the stream's position, the missed
        messages when `resume` can be honoured, the first `limit` members and the exact count."""
        missed = self.stream.since(resume, now) if resume is not None else None
        return RoomJoinReply(
            self.stream.position,
            missed is not None,
            missed or [],
            self.presence.entries(limit),
            len(self.presence),
        )

    def _gone(self, member: Member | None, now: float) -> list[Envelope]:
        if member is None:
            return []
        out = []
        self._typed_from.pop(member.educator_id, None)
        if self.typing.pop(member.educator_id, None) is not None:
            out.append(self._typing(member.educator_id, False, now, None))
        out.append(self._presence("leave", member, now))
        return out

    def leave(self, ingress: str, session: str, now: float) -> list[Envelope]:
        """A connection leaves (a `leave`, its close, its loss); when it was its educator's last present
        one: `typing: false` if it was typing, then the `presence` leave. A connection not counted in
        presence (`presence: false`) that typed last for an educator with no present connection ends
        that typing too (`typing: false`)."""
        out = self._gone(self.presence.leave(ingress, session), now)
        if not out and session in self._typed_from.values():
            for educator_id in [e for e, s in self._typed_from.items() if s == session and e not in self.presence]:
                del self._typed_from[educator_id]
                if self.typing.pop(educator_id, None) is not None:
                    out.append(self._typing(educator_id, False, now, None))
        return out

    def drop_ingress(self, ingress: str, now: float) -> list[Envelope]:
        """Every connection of a dead (or detached) ingress leaves, as `leave` each: one at a time, so
        that each `presence` leave carries the member count just after it (a replay stays exact)."""
        out: list[Envelope] = []
        for session in self.presence.sessions(ingress):
            out.extend(self.leave(ingress, session, now))
        return out

    def publish(
        self, educator_id: str, session: str, event: str, data: dict[str, Any], ephemeral: bool, now: float
    ) -> Envelope:
        """A `room_message` from `educator_id`'s connection `session` ("http" over HTTP): kept with the
        next seq, or ephemeral (seq 0); never sent back to `session`."""
        body = {"event": event, "data": data, "from": {"educatorId": educator_id, "session": session}}
        if ephemeral:
            return self.stream.ephemeral("room_message", body, now, origin=session)
        return self.stream.append("room_message", body, now, origin=session)

    def _typing(self, educator_id: str, typing: bool, now: float, origin: str | None) -> Envelope:
        return self.stream.ephemeral("typing", {"educatorId": educator_id, "typing": typing}, now, origin=origin)

    def set_typing(self, educator_id: str, typing: bool, session: str | None, now: float) -> Envelope | None:
        """`typing: true` (marks the educator typing until now + TYPING_TTL; sent on each repeat) or
        `false` (sent only when it was typing); the ephemeral envelope to send, or None."""
        if typing:
            self.typing[educator_id] = now + TYPING_TTL
            self._typed_from[educator_id] = session
            return self._typing(educator_id, True, now, session)
        self._typed_from.pop(educator_id, None)
        if self.typing.pop(educator_id, None) is None:
            return None
        return self._typing(educator_id, False, now, session)

    def expire_typing(self, now: float) -> list[Envelope]:
        """`typing: false` for each educator whose last `typing: true` is TYPING_TTL old."""
        lapsed = [e for e, until in self.typing.items() if until <= now]
        out = []
        for educator_id in lapsed:
            del self.typing[educator_id]
            # not back to the connection that typed (it never gets its own typing envelopes)
            out.append(self._typing(educator_id, False, now, self._typed_from.pop(educator_id, None)))
        return out
