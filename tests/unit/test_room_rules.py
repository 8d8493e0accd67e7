"""Room ids, token room patterns and who may use a room (PROTOCOL.md section 7; hub/core/rooms.py, hub/auth.py)."""

from __future__ import annotations

import time

import jwt
import pytest

from hub.auth import issue_token, verify_token
from hub.core.errors import AuthError, BadFrame, Forbidden, HubError, TooLarge
from hub.core.rooms import check_pattern, check_room_id, check_size, is_room_id, pattern_matches, room_permitted

SECRET = "s" * 32


@pytest.mark.parametrize("room", ["quiz:q-42", "a", "course:bio-101:week_3", "x" * 128, "me@school.edu", "A.b-c_d"])
def test_valid_room_ids(room: str) -> None:
    assert is_room_id(room) and check_room_id(room) == room


@pytest.mark.parametrize("room", ["", "x" * 129, "has space", "quiz/1", "é", "quiz:*", None, 5, ["quiz"], "a\n"])
def test_invalid_room_ids_are_bad_frames_with_a_sentence(room: object) -> None:
    assert not is_room_id(room)
    with pytest.raises(BadFrame, match="1 to 128 characters"):
        check_room_id(room, ref="join")


@pytest.mark.parametrize(
    ("pattern", "room", "matches"),
    [
        ("quiz:q-42", "quiz:q-42", True),
        ("quiz:q-42", "quiz:q-420", False),
        ("course:bio-101:*", "course:bio-101:week-1", True),
        ("course:bio-101:*", "course:bio-102:week-1", False),
        ("quiz:*", "quiz:", True),  # the prefix itself is a room id it covers
        ("*", "anything", True),
    ],
)
def test_patterns_match_exact_ids_or_prefixes(pattern: str, room: str, matches: bool) -> None:
    assert is_room_id(room) and pattern_matches(pattern, room) is matches


@pytest.mark.parametrize("pattern", ["", "**", "quiz:**", "has space*", 3, "é*"])
def test_malformed_patterns_are_refused(pattern: object) -> None:
    with pytest.raises(ValueError):
        check_pattern(pattern)


def test_roles() -> None:
    assert room_permitted("admin", [], "quiz:1")
    assert not room_permitted("service", [], "quiz:1")
    assert room_permitted("service", [], "quiz:1", service_may=True)
    assert not room_permitted("educator", [], "quiz:1", service_may=True)
    assert room_permitted("educator", ["quiz:*"], "quiz:1")


def test_tokens_carry_room_patterns_and_malformed_claims_are_refused() -> None:
    token = issue_token(SECRET, "alice", now=time.time(), rooms=["quiz:*", "course:bio-101"])
    who = verify_token(SECRET, token)
    assert who.rooms == ("quiz:*", "course:bio-101")
    who.require_room("quiz:q-1")
    with pytest.raises(Forbidden, match="may not use room 'course:x'"):
        who.require_room("course:x")
    assert verify_token(SECRET, issue_token(SECRET, "bob", now=time.time())).rooms == ()
    with pytest.raises(HubError, match="room pattern"):
        issue_token(SECRET, "alice", now=time.time(), rooms=["bad room"])
    for claim in ("quiz:*", [1], ["bad room"], {"a": 1}):
        forged = jwt.encode({"sub": "a", "exp": time.time() + 60, "rooms": claim}, SECRET, algorithm="HS256")
        with pytest.raises(AuthError, match="invalid token claims"):
            verify_token(SECRET, forged)


def test_sizes_count_json_bytes() -> None:
    check_size({"t": "x" * 1000}, 1024, "info")
    with pytest.raises(TooLarge, match="over the 1024"):
        check_size({"t": "é" * 600}, 1024, "info")  # 2 bytes each in UTF-8


def test_hub_token_room_adds_patterns_and_a_bad_one_is_a_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub import cli

    monkeypatch.setenv("HUB_SECRET", SECRET)
    assert cli.main(["token", "alice", "--room", "quiz:*", "--room", "course:bio-101"]) == 0
    token = capsys.readouterr().out.strip()
    assert verify_token(SECRET, token).rooms == ("quiz:*", "course:bio-101")
    assert cli.main(["token", "alice"]) == 0
    assert verify_token(SECRET, capsys.readouterr().out.strip()).rooms == ()
    assert cli.main(["token", "alice", "--room", "no spaces"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hub: room pattern 'no spaces'") and "Traceback" not in err
