"""Tokens (PROTOCOL.md section 1): HS256 JWTs with `sub`, `role`, `exp`, `iat`; and the made secret."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jwt

from hub.errors import AuthError, HubError

Role = Literal["educator", "service", "admin"]
ROLES: tuple[str, ...] = ("educator", "service", "admin")
SECRET_FILE = "secret"


@dataclass(frozen=True, slots=True)
class Identity:
    sub: str
    role: str

    @property
    def educator_id(self) -> str:
        return self.sub

    def may(self, *roles: str) -> bool:
        return self.role in roles or self.role == "admin"


def issue_token(secret: str, sub: str, *, role: str = "educator", ttl: float = 86400.0, now: float) -> str:
    if role not in ROLES:
        raise HubError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    claims = {"sub": sub, "role": role, "iat": int(now), "exp": int(now + ttl)}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str) -> Identity:
    """The token's identity; AuthError (4401 / 401) for a missing, forged, expired or odd token."""
    if not token:
        raise AuthError("missing token")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    sub, role = claims.get("sub"), claims.get("role", "educator")
    if not isinstance(sub, str) or not sub or role not in ROLES:
        raise AuthError("invalid token claims")
    return Identity(sub=sub, role=role)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def stored_secret(data_dir: Path) -> str | None:
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
