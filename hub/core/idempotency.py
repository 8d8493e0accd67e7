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
