"""Keyset paging of an educator's jobs (`GET /api/jobs`): opaque cursors and the next page's link. Pure.

A page is the jobs strictly older than the cursor's key, newest first, where a job's key is
(createdAt, jobId): createdAt never changes, and jobId breaks ties, so a page never repeats or skips
a job however many are added or changed meanwhile (jobs added after the first page are not shown by
later pages: they are newer than it; fetch the first page again for them).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from urllib.parse import urlencode

from hub.core import strictjson
from hub.core.errors import ClientError

DEFAULT_LIMIT = 500  # jobs per page when the request names no `limit`: what a v1 caller got before paging
MAX_LIMIT = 500  # the most one page holds


class BadCursor(ClientError):
    """A `cursor` this hub did not make (or one altered): HTTP 422."""

    http_status = 422
    code = "bad_cursor"


Key = tuple[float, str]


def encode_cursor(created_at: float, job_id: str) -> str:
    """The cursor after the job with this key: URL-safe base64 of a JSON pair, without padding."""
    raw = json.dumps([created_at, job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The key a cursor from `encode_cursor` holds; BadCursor for anything else."""
    try:
        # strict: a number past a double or a lone surrogate is no key this hub made
        raw = strictjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("cursor is not one this hub gave; start again without it") from None
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not isinstance(raw[0], int | float)
        or isinstance(raw[0], bool)
        or not math.isfinite(raw[0])
        or not isinstance(raw[1], str)
    ):
        raise BadCursor("cursor is not one this hub gave; start again without it")
    return float(raw[0]), raw[1]


def next_link(path: str, limit: int, cursor: str) -> str:
    """An RFC 8288 `Link` header value for the next page, as a reference relative to the host (it
    stays right behind a reverse proxy that rewrites the host)."""
    return f'<{path}?{urlencode({"limit": limit, "cursor": cursor})}>; rel="next"'
