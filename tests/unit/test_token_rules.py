"""Token expiry (PROTOCOL.md section 2, "Token expiry"), clock-skew leeway, and the `refresh` op:
the pure parts (hub.auth, hub.core.protocol, Settings)."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from hub.auth import TOKEN_EXPIRED, Identity, issue_token, verify_refresh, verify_token
from hub.core.errors import AuthError, BadFrame
from hub.core.protocol import Refresh, parse_client_frame, refreshed_frame
from hub.settings import Settings

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def token(now: float, **claims: object) -> str:
    body: dict[str, object] = {"sub": "alice", "role": "educator", "iat": int(now), "exp": int(now) + 60}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, SECRET, algorithm="HS256")


# -- leeway (issue 13, E: "a token whose iat is 1 s in the future is refused") ------------------------


def test_iat_one_second_ahead_is_accepted_within_the_leeway() -> None:
    now = time.time()
    ahead = token(now, iat=int(now) + 2)  # whole seconds: at least 1 s ahead of `now`
    with pytest.raises(AuthError, match="not yet valid"):
        verify_token(SECRET, ahead)  # no leeway: refused, as before
    assert verify_token(SECRET, ahead, leeway=30).sub == "alice"


def test_iat_and_nbf_beyond_the_leeway_are_refused_with_a_sentence() -> None:
    now = time.time()
    for claims in ({"iat": int(now) + 120}, {"nbf": int(now) + 120}):
        with pytest.raises(AuthError) as caught:
            verify_token(SECRET, token(now, **claims), leeway=30)
        assert "not yet valid" in caught.value.message and "30s ahead" in caught.value.message
    assert verify_token(SECRET, token(now, nbf=int(now) + 10), leeway=30).sub == "alice"


def test_exp_is_honoured_for_leeway_seconds_then_refused() -> None:
    now = time.time()
    just_expired = token(now, iat=int(now) - 100, exp=int(now) - 5)
    with pytest.raises(AuthError, match=TOKEN_EXPIRED):
        verify_token(SECRET, just_expired)
    assert verify_token(SECRET, just_expired, leeway=30).exp == int(now) - 5
    with pytest.raises(AuthError, match=TOKEN_EXPIRED):
        verify_token(SECRET, token(now, iat=int(now) - 100, exp=int(now) - 31), leeway=30)


def test_identity_carries_exp_and_knows_when_it_expired() -> None:
    now = int(time.time())
    who = verify_token(SECRET, issue_token(SECRET, "alice", ttl=60, now=now))
    assert who.exp == now + 60
    assert not who.expired(now + 59.9) and who.expired(now + 60.0)
    assert not who.expired(now + 89.9, leeway=30) and who.expired(now + 90.0, leeway=30)
    assert not Identity("backend", "admin").expired(1e12)  # the hub's own identities never expire


def test_the_leeway_setting_defaults_to_thirty_seconds_and_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().token_leeway == 30.0
    monkeypatch.setenv("HUB_TOKEN_LEEWAY", "5")
    assert Settings().token_leeway == 5.0
    with pytest.raises(ValueError):
        Settings(token_leeway=-1)


# -- refresh ------------------------------------------------------------------------------------------


def test_refresh_moves_the_identity_to_a_later_exp() -> None:
    now = time.time()
    current = verify_token(SECRET, token(now, exp=int(now) + 10))
    fresh = verify_refresh(SECRET, current, token(now, exp=int(now) + 100))
    assert (fresh.sub, fresh.role, fresh.exp) == ("alice", "educator", int(now) + 100)


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"sub": "mallory"}, "same identity"),
        ({"role": "admin"}, "same identity"),
        ({"exp": None}, "invalid token"),
        ({"exp": 0, "iat": 0}, TOKEN_EXPIRED),
        ({}, "expire later"),  # the same exp as the current token
    ],
)
def test_refresh_is_refused_for_another_identity_or_a_bad_or_no_later_token(claims: dict, why: str) -> None:
    now = time.time()
    current = verify_token(SECRET, token(now))
    with pytest.raises(AuthError, match=why):
        verify_refresh(SECRET, current, token(now, **claims))


def test_refresh_with_a_forged_token_is_refused() -> None:
    now = time.time()
    current = verify_token(SECRET, token(now, exp=int(now) + 10))
    forged = jwt.encode({"sub": "alice", "exp": int(now) + 100}, "another-secret-of-the-same-length-0123", "HS256")
    with pytest.raises(AuthError, match="invalid token"):
        verify_refresh(SECRET, current, forged)
    with pytest.raises(AuthError):
        verify_refresh(SECRET, current, "")


def test_refresh_op_parses_and_refreshed_frame_is_exact() -> None:
    op = parse_client_frame(json.dumps({"op": "refresh", "token": "t"}))
    assert isinstance(op, Refresh) and op.token == "t"
    for bad in ({"op": "refresh"}, {"op": "refresh", "token": 5}, {"op": "refresh", "token": "t", "x": 1}):
        with pytest.raises(BadFrame) as caught:
            parse_client_frame(json.dumps(bad))
        assert caught.value.ref == "refresh"
    assert json.loads(refreshed_frame(1764094212)) == {"op": "refreshed", "exp": 1764094212}


# -- the Python client's token timing -----------------------------------------------------------------


def test_the_client_reads_iat_and_exp_without_the_secret_and_refreshes_at_85_percent() -> None:
    from hub.clienttokens import refresh_delay, token_times

    now = 1_000_000.0
    tok = token(now, iat=1_000_000, exp=1_000_100)
    assert token_times(tok) == (1_000_000.0, 1_000_100.0)
    assert refresh_delay(tok, now) == pytest.approx(85.0)
    assert refresh_delay(tok, now + 50) == pytest.approx(35.0)
    assert refresh_delay(tok, now + 90) == 0.0  # past the refresh point (or expired): at once
    no_iat = token(now, iat=None, exp=1_000_040)
    assert refresh_delay(no_iat, now) == pytest.approx(34.0)  # 85% of what is left
    assert token_times("not-a-token") == (None, None) and refresh_delay("not-a-token", now) is None
    assert refresh_delay(token(now, exp=None), now) is None and refresh_delay(None, now) is None
