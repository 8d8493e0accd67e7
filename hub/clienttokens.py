"""What a client knows of its token without the secret (PROTOCOL.md section 2, "Token expiry"):
its `iat` and `exp`, and so when to send `refresh`. Pure: no I/O, no clock of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import jwt

# A token, or a function (plain or async) that returns a fresh one each time it is called.
TokenSource = str | Callable[[], str | Awaitable[str]]
REFRESH_AT = 0.85  # of a token's lifetime (iat to exp): when a connection sends `refresh`


def token_times(token: str | None) -> tuple[float | None, float | None]:
    """A JWT's (`iat`, `exp`) in Unix seconds, read without verifying it (a client has no secret);
    None for a claim that is absent or a token that cannot be read."""
    if not token:
        return None, None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None, None
    iat, exp = claims.get("iat"), claims.get("exp")
    number = (int, float)
    return (float(iat) if isinstance(iat, number) else None), (float(exp) if isinstance(exp, number) else None)


def refresh_delay(token: str | None, now: float, at: float = REFRESH_AT) -> float | None:
    """Seconds from `now` until a connection holding `token` should refresh it: at `at` of its
    lifetime (from `iat`, or from `now` when it has none, to `exp`); 0 when that moment has passed;
    None for a token without `exp` (or an unreadable one), which needs no refresh."""
    iat, exp = token_times(token)
    if exp is None:
        return None
    start = iat if iat is not None and iat < exp else min(now, exp)
    return max(0.0, start + at * (exp - start) - now)
