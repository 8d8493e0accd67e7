"""A member's `leave` names it as its `join` did (PROTOCOL.md section 7: `member` is {educatorId, info?}),
whether its last connection leaves, closes or goes with a dead ingress (hub.core.room, hub.core.presence)."""

from __future__ import annotations

from hub.core.presence import Presence
from hub.core.room import Room


def test_a_leave_carries_the_info_of_the_last_connection_that_went() -> None:
    presence = Presence()
    assert presence.join("i1", "s1", "ann", {"name": "Ann"}) is not None
    assert presence.join("i2", "s2", "ann", {"name": "Ann (tab 2)"}) is None
    assert presence.leave("i2", "s2") is None  # one connection left: no leave
    gone = presence.leave("i1", "s1")
    assert gone is not None and gone.brief() == {"educatorId": "ann", "info": {"name": "Ann"}}
    assert presence.join("i1", "s3", "bob", None) is not None
    gone = presence.leave("i1", "s3")
    assert gone is not None and gone.brief() == {"educatorId": "bob"}  # no info given: none shown


def test_the_members_of_a_dead_ingress_leave_with_their_info_and_typing_ends_first() -> None:
    room = Room("quiz:q-1", "e" * 16, max_messages=100, max_age=3600.0)
    room.join("i1", "a1", "ann", True, {"name": "Ann"}, 1.0)
    room.join("i1", "c1", "cat", True, {"name": "Cat"}, 1.0)
    room.join("i2", "c2", "cat", True, {"name": "Cat"}, 1.0)
    room.join("i2", "b1", "ben", True, {"name": "Ben"}, 1.0)
    room.set_typing("ann", True, "a1", 2.0)
    out = room.drop_ingress("i1", 3.0)
    assert [(e.type, e.data) for e in out] == [
        ("typing", {"educatorId": "ann", "typing": False}),
        ("presence", {"action": "leave", "member": {"educatorId": "ann", "info": {"name": "Ann"}}, "memberCount": 2}),
    ]
    assert room.presence.entries(10) == [
        {"educatorId": "cat", "connections": 1, "info": {"name": "Cat"}},
        {"educatorId": "ben", "connections": 1, "info": {"name": "Ben"}},
    ]
