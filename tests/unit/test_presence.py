"""Presence (hub.core.presence, PROTOCOL.md section 7 "Presence"): per educator, counted by present
connection across ingresses; pure, no clock needed."""

from __future__ import annotations

from hub.core.presence import Presence


def test_first_connection_joins_the_educator_and_the_last_one_leaves_it() -> None:
    p = Presence()
    first = p.join("ing-a", "s1", "alice", {"name": "Alice"})
    assert first is not None and first.educator_id == "alice"
    assert p.join("ing-b", "s2", "alice", None) is None  # a second connection: no second join
    assert len(p) == 1 and "alice" in p
    # the member's info is its newest connection's (that one gave none)
    assert p.entries(10) == [{"educatorId": "alice", "connections": 2}]
    assert p.leave("ing-a", "s1") is None  # one connection still holds alice
    gone = p.leave("ing-b", "s2")
    assert gone is not None and gone.educator_id == "alice"
    assert len(p) == 0 and p.entries(10) == [] and p.held_by("ing-a") == p.held_by("ing-b") == 0


def test_the_same_connection_joining_again_is_counted_once_and_its_info_replaced() -> None:
    p = Presence()
    assert p.join("ing", "s1", "alice", {"v": 1}) is not None
    assert p.join("ing", "s1", "alice", {"v": 2}) is None
    assert p.entries(10) == [{"educatorId": "alice", "connections": 1, "info": {"v": 2}}]
    assert p.held_by("ing") == 1
    gone = p.leave("ing", "s1")
    assert gone is not None and len(p) == 0


def test_member_info_is_the_newest_connections_and_falls_back_when_it_goes() -> None:
    p = Presence()
    p.join("ing", "s1", "alice", {"tab": 1})
    p.join("ing", "s2", "alice", {"tab": 2})
    assert p.members["alice"].brief() == {"educatorId": "alice", "info": {"tab": 2}}
    p.join("ing", "s1", "alice", {"tab": 1, "again": True})  # an info update makes s1 the newest
    assert p.members["alice"].info == {"tab": 1, "again": True}
    p.leave("ing", "s1")
    assert p.members["alice"].info == {"tab": 2}
    p.join("ing", "s3", "alice", None)
    assert p.members["alice"].entry() == {"educatorId": "alice", "connections": 2}  # newest gave no info


def test_a_session_reused_by_another_educator_moves_and_neither_is_listed_twice() -> None:
    p = Presence()
    p.join("ing", "s1", "alice", None)
    bob = p.join("ing", "s1", "bob", None)
    assert bob is not None and bob.educator_id == "bob"
    assert [m["educatorId"] for m in p.entries(10)] == ["bob"]
    assert p.held_by("ing") == 1


def test_leaving_what_was_never_joined_is_ignored() -> None:
    p = Presence()
    assert p.leave("ing", "nobody") is None
    p.join("ing", "s1", "alice", None)
    assert p.leave("ing", "s2") is None and p.leave("other", "s1") is None
    assert len(p) == 1 and p.members["alice"].entry()["connections"] == 1
    assert p.leave("ing", "s1") is not None
    assert p.leave("ing", "s1") is None  # twice: once


def test_drop_ingress_removes_exactly_what_that_ingress_held() -> None:
    p = Presence()
    p.join("dead", "s1", "alice", None)
    p.join("dead", "s2", "alice", None)
    p.join("dead", "s3", "bob", None)
    p.join("live", "s4", "bob", None)
    p.join("dead", "s5", "carol", {"c": 1})
    gone = p.drop_ingress("dead")
    assert sorted(m.educator_id for m in gone) == ["alice", "carol"]  # bob stays: "live" holds him
    assert p.entries(10) == [{"educatorId": "bob", "connections": 1}]
    assert p.held_by("dead") == 0 and p.held_by("live") == 1
    assert p.drop_ingress("dead") == [] and p.drop_ingress("never") == []


def test_entries_list_at_most_the_limit_in_arrival_order_and_the_count_is_exact() -> None:
    p = Presence()
    for i in range(1500):
        p.join("ing", f"s{i}", f"e{i:04d}", None)
    listed = p.entries(1000)
    assert len(listed) == 1000 and len(p) == 1500
    assert [m["educatorId"] for m in listed[:3]] == ["e0000", "e0001", "e0002"]
    p.leave("ing", "s0")
    assert p.entries(1)[0]["educatorId"] == "e0001"
    # a returning educator arrives last
    p.join("ing", "s0", "e0000", None)
    assert p.entries(2000)[-1]["educatorId"] == "e0000"
