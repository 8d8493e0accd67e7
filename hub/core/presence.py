"""Who is in a room (PROTOCOL.md section 7, "Presence"): per educator, across every ingress, counted by
present connection. Pure: the registry shard that holds the room owns one per room.

A connection is known by (ingress id, session): an educator is a member while at least one of its
connections that joined with `presence: true` is held by some ingress. An ingress that dies takes its
connections with it (`drop_ingress`, when its lease lapses at the shard). Every operation costs O(1)
in the room's size (a dict step), except `drop_ingress` (the ingress's own connections) and
`entries` (the entries listed).
"""

from __future__ import annotations

from itertools import islice
from typing import Any

ConnKey = tuple[str, str]  # (ingress id, session)


class Member:
    """One educator's present connections in one room: `conns` maps (ingress, session) to the `info`
    that connection joined with (None: none), in join order; the member's `info` is the newest one's.
    `last_info`: the `info` of its last connection once that is gone, so its `leave` names the member as
    its `join` and the member lists did."""

    __slots__ = ("educator_id", "conns", "last_info", "_entry")

    def __init__(self, educator_id: str) -> None:
        self.educator_id = educator_id
        self.conns: dict[ConnKey, dict[str, Any] | None] = {}
        self.last_info: dict[str, Any] | None = None
        self._entry: dict[str, Any] | None = None  # entry(), made again only after `conns` changed

    def changed(self) -> None:
        """Its connections changed: `entry` is made anew on its next call."""
        self._entry = None

    @property
    def info(self) -> dict[str, Any] | None:
        """The `info` of the educator's most recent present connection (None: it gave none); once the
        last one is gone, that one's (`last_info`)."""
        return next(reversed(self.conns.values())) if self.conns else self.last_info

    def entry(self) -> dict[str, Any]:
        """The member as `joined.members` and `GET /api/rooms/{room}/members` list it:
        `{educatorId, connections, info?}`. Kept between calls until `changed` (one object: a caller
        must not change it), so a `joined` answer lists a large room without making its entries again
        (bench/rooms.py: the shard's join at 1,000 members)."""
        out = self._entry
        if out is None:
            out = {"educatorId": self.educator_id, "connections": len(self.conns)}
            info = self.info
            if info is not None:
                out["info"] = info
            self._entry = out
        return out

    def brief(self) -> dict[str, Any]:
        """The member as a `presence` message names it: `{educatorId, info?}`."""
        out: dict[str, Any] = {"educatorId": self.educator_id}
        info = self.info
        if info is not None:
            out["info"] = info
        return out


class Presence:
    """The present members of one room: `members` (educator id -> Member, in order of first arrival)
    and, per ingress, its present connections (session -> educator) so that an ingress's death
    removes exactly what it held."""

    __slots__ = ("members", "_by_ingress")

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self._by_ingress: dict[str, dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, educator_id: object) -> bool:
        return educator_id in self.members

    def join(self, ingress: str, session: str, educator_id: str, info: dict[str, Any] | None) -> Member | None:
        """Count one present connection; the Member when it is the educator's first (a `join` to
        publish), else None. A connection already counted is counted once: its `info` is replaced
        (and becomes the member's newest); one counted under another educator is moved."""
        held = self._by_ingress.setdefault(ingress, {})
        before = held.get(session)
        if before is not None and before != educator_id:
            self.leave(ingress, session)
            held = self._by_ingress.setdefault(ingress, {})
        held[session] = educator_id
        member = self.members.get(educator_id)
        first = member is None
        if member is None:
            member = self.members[educator_id] = Member(educator_id)
        key = (ingress, session)
        member.conns.pop(key, None)
        member.conns[key] = info
        member.changed()
        return member if first else None

    def leave(self, ingress: str, session: str) -> Member | None:
        """Count one present connection fewer; the Member when it was the educator's last (a `leave`
        to publish), else None. A connection not counted is ignored (None)."""
        held = self._by_ingress.get(ingress)
        if held is None:
            return None
        educator_id = held.pop(session, None)
        if not held:
            del self._by_ingress[ingress]
        if educator_id is None:
            return None
        member = self.members[educator_id]
        info = member.conns.pop((ingress, session), None)
        member.changed()
        if member.conns:
            return None
        del self.members[educator_id]
        member.last_info = info
        return member

    def drop_ingress(self, ingress: str) -> list[Member]:
        """Remove every connection `ingress` held (it died, or detached); the Members that left with it."""
        gone = []
        for session in list(self._by_ingress.get(ingress, {})):
            member = self.leave(ingress, session)
            if member is not None:
                gone.append(member)
        return gone

    def sessions(self, ingress: str) -> list[str]:
        """The sessions of `ingress`'s present connections here, in join order."""
        return list(self._by_ingress.get(ingress, {}))

    def held_by(self, ingress: str) -> int:
        """How many present connections `ingress` holds here."""
        return len(self._by_ingress.get(ingress, {}))

    def entries(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` member entries (Member.entry), in order of arrival."""
        return [member.entry() for member in islice(self.members.values(), limit)]
