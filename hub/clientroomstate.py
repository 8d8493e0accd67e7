"""What the Python client knows of one room (PROTOCOL.md section 7): its stream position, dedupe and member
list (RoomState). Pure: no sockets, no clock; hub.clientrooms holds the rest of the client's rooms."""

from __future__ import annotations

from typing import Any

from hub.core.protocol import Joined, WireEnvelope
from hub.core.stream import StreamPosition


class RoomState:
    """What the client knows of one room (pure: no sockets, no clock): the `room` id, how it joins
    (`presence`, `info`), its stream `position` (the joined epoch and the last seq seen; None before the
    first `joined`), whether it is `joined` on the current connection, and its members as the hub gave them:
    `members` (a list of member dicts `{educatorId, connections, info?}`, as on the wire) and the exact
    `member_count`. Members come from each `joined` (replaced whole: the list as it is at the joined `seq`)
    and then from the `presence` envelopes after that seq (a `join` adds the member unless listed, as
    `{educatorId, connections: 1, info?}`: presence announces an educator's first connection only, so the
    count of a member who came later is 1 until the next `joined`; a `leave` removes it; `memberCount` taken
    as sent). Presence replayed after a resume at or below the joined seq is
    handed on but already in the list: applying it again could only drop a member who came back (this
    client's own earlier connection leaving, say). So the joined list plus the presence after it give the
    exact list, no one twice, no one left behind (PROTOCOL.md section 7)."""

    def __init__(self, room: str, presence: bool = True, info: dict[str, Any] | None = None) -> None:
        self.room = room
        self.presence = presence
        self.info = info
        self.position: StreamPosition | None = None
        self.joined = False
        self.member_count = 0
        self._members: dict[str, dict[str, Any]] = {}
        self._members_seq = 0  # the seq the member list is exact at (the last joined's)

    @property
    def members(self) -> list[dict[str, Any]]:
        """The member dicts, in the order the hub listed them (later joiners after)."""
        return list(self._members.values())

    def spec(self) -> dict[str, Any]:
        """This room as `hello.rooms`, a poll's `rooms` entry and (with `op`) a `join` carry it: `room`,
        `resume` once a position is known, `presence` only when false (the default is true), `info` when
        given."""
        spec: dict[str, Any] = {"room": self.room}
        if self.position is not None:
            spec["resume"] = self.position._asdict()
        if not self.presence:
            spec["presence"] = False
        if self.info is not None:
            spec["info"] = self.info
        return spec

    def apply_joined(self, frame: Joined, wire: dict[str, Any]) -> None:
        """A `joined` for this room: the member list replaced by the one sent (the dicts of `wire`, exact);
        the position moved to the joined epoch and seq unless the join `resumed` (then the missed messages
        follow and move it)."""
        self.joined = True
        if not frame.resumed or self.position is None or self.position.epoch != frame.epoch:
            self.position = StreamPosition(frame.epoch, frame.seq)
        self._members = {}
        for member in wire["members"]:
            self._members[member["educatorId"]] = dict(member)
        self.member_count = frame.member_count
        self._members_seq = frame.seq

    def accept(self, env: WireEnvelope) -> bool:
        """Whether a room envelope is new (to be handed on), moving the position and the members with it:
        one with a seq at or below the position's is a repeat (delivery is at least once) and False; an
        ephemeral one (no seq) is always new and moves nothing."""
        if env.seq is not None:
            if self.position is not None:
                if env.seq <= self.position.seq:
                    return False
                self.position = self.position._replace(seq=env.seq)
            if env.type == "presence" and env.seq > self._members_seq:
                self._presence(env.data)
        return True

    def _presence(self, data: dict[str, Any]) -> None:
        """A kept `presence` envelope's data applied; one naming no member is skipped."""
        member = data.get("member")
        educator = member.get("educatorId") if isinstance(member, dict) else None
        if not isinstance(educator, str) or not isinstance(member, dict):
            return  # (not the contract's shape: nothing to apply)
        if data.get("action") == "join":
            entry = self._members.setdefault(educator, {"educatorId": educator, "connections": 1})
            if "info" in member:
                entry["info"] = member["info"]
        elif data.get("action") == "leave":
            self._members.pop(educator, None)
        count = data.get("memberCount")
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            self.member_count = count
        else:
            self.member_count = len(self._members)
