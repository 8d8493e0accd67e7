"""Idempotent submission's rules (PROTOCOL.md section 9, first bullet): what an `Idempotency-Key`
header may hold, and the canonical digest of a submission's body that a repeat is compared by.

Pure: no clock, no store. The job store keeps the keys (actors.store.JobStore.save_keyed); the job
desk applies the rules (hub.ingress.desk.JobDesk.submit_once).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

HEADER = "Idempotency-Key"
MAX_KEY = 128  # characters (PROTOCOL.md section 9: 1-128 printable ASCII characters)


def key_problem(values: list[str]) -> str | None:
    """Why the request's `Idempotency-Key` header values (`values`: each occurrence, as the HTTP
    server decoded it, latin-1) cannot be used, as a sentence; None for exactly one key of 1 to
    MAX_KEY printable ASCII characters (U+0020 to U+007E). No header at all is fine (None)."""
    if not values:
        return None
    if len(values) > 1:
        return f"send one {HEADER} header, not {len(values)}"
    key = values[0]
    if not key:
        return f"the {HEADER} header is empty; send 1 to {MAX_KEY} printable ASCII characters"
    if len(key) > MAX_KEY:
        return f"the {HEADER} header is {len(key)} characters long; the most is {MAX_KEY}"
    bad = next((c for c in key if not " " <= c <= "~"), None)
    if bad is not None:
        return (
            f"the {HEADER} header holds a character that is not printable ASCII ({bad!r}); "
            f"send 1 to {MAX_KEY} characters from space to '~'"
        )
    return None


def body_digest(kind: str, params: dict[str, Any]) -> str:
    """The SHA-256 (hex) of a submission's `{kind, params}` as canonical JSON: keys sorted, no
    whitespace, non-ASCII characters as they are (UTF-8), NaN and Infinity refused (ValueError: a
    body the strict JSON edge lets through never holds them). Two bodies get the same digest exactly
    when they are the same JSON value, whatever their key order or spacing on the wire; 1 and 1.0
    differ (they are different JSON texts)."""
    text = json.dumps(
        {"kind": kind, "params": params}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Held(NamedTuple):
    """What an educator's idempotency key names in the job store: the job's id, the digest of the body
    that first used the key (body_digest), and the job's status as last recorded (the store records
    every status change)."""

    job_id: str
    digest: str
    status: str


CONFLICT = (
    "this Idempotency-Key was already used by you for a different submission (another kind or other params) "
    "within the last {hours:g} hours; send a new key for a new job"
)


class Recorded(NamedTuple):
    """A key this ingress recorded with its job (KeyMemo): the job's id, the body's digest and when the
    key was claimed (seconds since the epoch, the job's `createdAt`)."""

    job_id: str
    digest: str
    claimed_at: float


class KeyMemo:
    """The idempotency keys this ingress recorded itself, newest `size` of them (least recently used
    go first), so that a repeat needs no job-store call: the key's job and body digest never change
    while the key holds (the store keeps them in one row, written once), only the job's status does,
    which the educator's registry shard answers. A key is trusted only until `ttl - margin` seconds
    after it was claimed (the store's own clock decides near the end). Only keys whose job started
    are put here (a job taken back at its start frees its key in the store before that). Pure: the
    caller passes the time."""

    def __init__(self, size: int, ttl: float, margin: float = 60.0) -> None:
        self.size = size
        self.until = max(0.0, ttl - margin)  # seconds after its claim a key is answered from here
        self._keys: dict[tuple[str, str], Recorded] = {}  # insertion order: least recently used first

    def put(self, educator_id: str, key: str, recorded: Recorded) -> None:
        """Remember that `educator_id`'s `key` names `recorded` (its job just recorded by this ingress)."""
        if self.size <= 0:
            return
        slot = (educator_id, key)
        self._keys.pop(slot, None)
        self._keys[slot] = recorded
        while len(self._keys) > self.size:
            del self._keys[next(iter(self._keys))]

    def get(self, educator_id: str, key: str, now: float) -> Recorded | None:
        """What `educator_id`'s `key` names, if this ingress recorded it and it is not near its end
        (`now`: seconds since the epoch); None: ask the store."""
        slot = (educator_id, key)
        found = self._keys.get(slot)
        if found is None:
            return None
        if now - found.claimed_at >= self.until:
            del self._keys[slot]
            return None
        self._keys[slot] = self._keys.pop(slot)  # the most recently used now
        return found

    def __len__(self) -> int:
        return len(self._keys)
