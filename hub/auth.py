"""Tokens (PROTOCOL.md section 1): HS256 JWTs with `sub`, `role`, `exp`, `iat`; and the made secret."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import jwt

from hub.core.errors import AuthError, HubError
from hub.core.rooms import check_pattern, require_room

ROLES: tuple[str, ...] = ("educator", "service", "admin")  # a token's `role` claim; admin may do anything
SECRET_FILE = "secret"
TOKEN_EXPIRED = "token expired"  # the AuthError message and the 4401 close reason at expiry
# The AuthError message (401 detail, 4401 close reason) for a token signed with another secret: the
# usual cause is a token from `hub token` run without the hub's --data-dir. Whole within the 123
# bytes a WebSocket close reason holds.
BAD_SIGNATURE = (
    "invalid token: not signed with this hub's secret (from another hub, or `hub token` without this hub's --data-dir)"
)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token speaks for. `exp`: the token's expiry (Unix seconds, as PyJWT reads it:
    a whole number); None for identities the hub makes itself, which never expire."""

    sub: str
    role: str
    exp: int | None = None
    rooms: tuple[str, ...] = ()  # the token's `rooms` patterns (PROTOCOL.md section 7)

    def expired(self, now: float, leeway: float = 0.0) -> bool:
        """True once `now` (Unix seconds) is `leeway` seconds or more past `exp` (PyJWT's own rule)."""
        return self.exp is not None and self.exp <= now - leeway

    @property
    def educator_id(self) -> str:
        """The educator this identity speaks for: the token's `sub`."""
        return self.sub

    def may(self, *roles: str) -> bool:
        """True when the identity's role is one of `roles`; an admin may do anything."""
        return self.role in roles or self.role == "admin"

    def require_room(self, room: str, *, service_may: bool = False) -> None:
        """Forbidden (`forbidden`, HTTP 403) unless this identity may use `room` (hub.core.rooms.room_permitted:
        a matching `rooms` pattern, an admin, or with `service_may` a service)."""
        require_room(self.role, self.rooms, room, service_may=service_may)


def issue_token(
    secret: str,
    sub: str,
    *,
    role: str = "educator",
    ttl: float = 86400.0,
    now: float,
    rooms: list[str] | tuple[str, ...] | None = None,
) -> str:
    """An HS256 JWT for `sub` with `role`, `iat` = `now` and `exp` = `now` + `ttl` (Unix seconds,
    truncated to whole seconds as JWT's NumericDate), and the `rooms` claim when `rooms` is given
    (patterns: a room id, or a prefix ending in `*`; PROTOCOL.md section 7). HubError for a role not in
    ROLES or a room pattern that is not one."""
    if role not in ROLES:
        raise HubError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    claims: dict[str, object] = {"sub": sub, "role": role, "iat": int(now), "exp": int(now + ttl)}
    if rooms:
        try:
            claims["rooms"] = [check_pattern(p) for p in rooms]
        except ValueError as exc:
            raise HubError(str(exc)) from None
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str, *, leeway: float = 0.0) -> Identity:
    """The token's identity; AuthError (4401 / 401) for a missing, forged, expired or odd token. A
    token signed with another secret gets BAD_SIGNATURE, which says the likely cause.

    `leeway` (seconds, Settings.token_leeway) is the clock skew allowed between the issuer and this
    host, for `exp`, `nbf` and `iat` alike (PyJWT's `leeway`): a token issued by a clock running a
    little ahead (`iat` in the future) is accepted, and one is refused `leeway` seconds after `exp`."""
    if not token:
        raise AuthError("missing token")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}, leeway=leeway)
    except jwt.ExpiredSignatureError:
        raise AuthError(TOKEN_EXPIRED) from None
    except jwt.InvalidSignatureError:
        raise AuthError(BAD_SIGNATURE) from None
    except jwt.ImmatureSignatureError as exc:
        raise AuthError(f"invalid token: {exc} (is the issuer's clock more than {leeway:g}s ahead?)") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    sub, role = claims.get("sub"), claims.get("role", "educator")
    if not isinstance(sub, str) or not sub or role not in ROLES:
        raise AuthError("invalid token claims")
    patterns = claims.get("rooms", [])
    try:
        if not isinstance(patterns, list):
            raise ValueError("the `rooms` claim is a list of room patterns")
        rooms = tuple(check_pattern(p) for p in patterns)
    except ValueError as exc:
        raise AuthError(f"invalid token claims: {exc}") from None
    return Identity(sub=sub, role=role, exp=int(claims["exp"]), rooms=rooms)


def verify_refresh(secret: str, current: Identity, token: str, *, leeway: float = 0.0) -> Identity:
    """The identity a `refresh` op moves a connection to (PROTOCOL.md section 2, "Token expiry"):
    the new token must be valid, speak for the same `sub` and `role`, and expire later than the
    current one; else AuthError (an `error` frame `unauthorized`, the connection unchanged)."""
    fresh = verify_token(secret, token, leeway=leeway)
    if (fresh.sub, fresh.role) != (current.sub, current.role):
        raise AuthError(
            f"a refresh token must be for the same identity ({current.role} {current.sub!r}), "
            f"not {fresh.role} {fresh.sub!r}"
        )
    if current.exp is not None and (fresh.exp is None or fresh.exp <= current.exp):
        raise AuthError(f"a refresh token must expire later than the current one (exp {current.exp})")
    return fresh


def is_loopback(host: str) -> bool:
    """True for `localhost` and a loopback IP address (127.0.0.0/8, ::1); False for any other name,
    an empty host (every interface) or an unparsable one."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def stored_secret(data_dir: Path) -> str | None:
    """The secret made for `data_dir` (its `secret` file, stripped), or None when there is none.
    OSError when the file exists but cannot be read."""
    path = data_dir / SECRET_FILE
    return path.read_text().strip() if path.exists() else None


def resolve_secret(configured: str | None, data_dir: Path, host: str, *, create: bool) -> str:
    """The configured secret, else the one made for this data dir (made now when `create`,
    loopback hosts only: a hub reachable from elsewhere must be given HUB_SECRET)."""
    if configured:
        return configured
    found = stored_secret(data_dir)
    if found:
        if not is_loopback(host):
            raise HubError(f"refusing to serve on {host} without HUB_SECRET set")
        return found
    if not create:
        raise HubError(f"no secret: set HUB_SECRET or start `hub serve` once with data dir {data_dir}")
    if not is_loopback(host):
        raise HubError(f"refusing to serve on {host} without HUB_SECRET set")
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path = data_dir / SECRET_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
