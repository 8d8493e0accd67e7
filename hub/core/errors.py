"""One error root, split by whose fault it is. Errors carry their close code and numbers."""

from __future__ import annotations

import re
import secrets
from typing import Any

from pydantic import ValidationError

from hub.core.closecodes import CloseCode


class HubError(Exception):
    """Root of every error the hub raises on purpose. `close_code`: the WebSocket close it becomes
    when it ends a connection (hub.core.closecodes; mapped to a close frame in one place,
    hub.ingress.connection.close_frame); `http_status` and `code` (an `error` frame's) when it does
    not; `ref`: the `ref` of the `error` frame it becomes (None: the op that failed)."""

    close_code: CloseCode = CloseCode.INTERNAL_ERROR
    http_status: int = 500
    code: str = "internal"
    ref: str | None = None

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ClientError(HubError):
    """The caller sent something wrong: the connection or request may go on."""

    close_code = CloseCode.BAD_HELLO
    http_status = 400
    code = "bad_request"


class BadFrame(ClientError):
    """An inbound frame that is not valid JSON or does not match the schema."""

    code = "bad_frame"

    def __init__(self, message: str, ref: str | None = None) -> None:
        super().__init__(message, ref=ref)
        self.ref = ref


class AuthError(ClientError):
    """No token, or one that is invalid or expired (hub.auth.verify_token; PROTOCOL.md section 1): HTTP 401
    (with `WWW-Authenticate: Bearer`), close 4401 when it refuses a `hello`, and an `error` frame
    (`unauthorized`) for a refused `refresh`, which leaves the connection as it was."""

    close_code = CloseCode.UNAUTHORIZED
    http_status = 401
    code = "unauthorized"


class Forbidden(ClientError):
    """The caller is who its token says but may not do this (an educator-only endpoint with a service token,
    a publish without a service or admin token, a broadcast without an admin one), or a browser `Origin`
    that `/ws` does not allow: HTTP 403; close 4403 (PROTOCOL.md section 2) when it refuses a handshake."""

    close_code = CloseCode.ORIGIN_REFUSED
    http_status = 403
    code = "forbidden"


class NotFound(ClientError):
    """No such job for this caller; a job that is not the caller's is not found either (PROTOCOL.md section
    5): HTTP 404, or an `error` frame (`not_found`) as the answer to a WebSocket op."""

    http_status = 404
    code = "not_found"


class Conflict(ClientError):
    """The job's status does not allow this now (its result before it is `completed`, cancelling a job that
    has ended): HTTP 409 (PROTOCOL.md section 5), or an `error` frame (`conflict`) on a WebSocket."""

    http_status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """A job status change the state table does not allow."""

    code = "invalid_transition"


class RateLimited(ClientError):
    """Too many requests, frames or connections: HTTP 429 with Retry-After, or close 4429."""

    close_code = CloseCode.TOO_MANY
    http_status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class TooLarge(ClientError):
    """An HTTP request body over Settings.max_body bytes (HUB_MAX_BODY; hub.ingress.api.BodyLimit): HTTP
    413. Its close code, 1009, is the contract's for an inbound frame over the limit (PROTOCOL.md
    section 2: 64 KiB, HUB_MAX_FRAME), a close uvicorn's websockets makes themselves."""

    close_code = CloseCode.TOO_LARGE
    http_status = 413
    code = "too_large"


class UpstreamError(HubError):
    """A part of the hub behind the ingress (a Ray actor) failed or did not answer."""

    close_code = CloseCode.INTERNAL_ERROR
    http_status = 503
    code = "upstream"


# -- what ends one WebSocket connection (each carries its close code, PROTOCOL.md section 2) -----


class TokenExpired(AuthError):
    """The connection's token reached `exp` (plus the leeway) without a refresh: close 4401 (PROTOCOL.md
    section 2, "Token expiry"); the client reconnects with a fresh token and resumes."""


class HelloTimeout(ClientError):
    """No `hello` within the hello timeout after the upgrade: close 4408."""

    close_code = CloseCode.HELLO_TIMEOUT
    code = "hello_timeout"


class TooManyConnections(RateLimited):
    """A new connection over the per-token or per-node cap (hub.core.limits.ConnectionCaps): close
    4429."""


class SlowConsumer(ClientError):
    """The client does not read what is sent to it (its send queue, or its queue of answers, stayed
    over its bound): close 4409, and the client reconnects and resumes from the stream's history."""

    close_code = CloseCode.SLOW_CONSUMER
    code = "slow_consumer"


class ShuttingDown(HubError):
    """This server is shutting down or draining: close 1001; the client reconnects (to any replica)
    and resumes."""

    close_code = CloseCode.GOING_AWAY
    http_status = 503
    code = "shutting_down"


class ServiceRestart(UpstreamError):
    """What feeds this connection restarted or lost its place (a registry shard, the relay's task for
    it) or did not answer the hello: close 1012; the client reconnects and resumes."""

    close_code = CloseCode.SERVICE_RESTART
    code = "restarting"


class WriteFailed(HubError):
    """A write to this one connection failed for a reason other than the client leaving (a bug, a
    frame that cannot be encoded): close 1011 (docs/protocol.md, "Beyond the contract"), this
    connection alone; the client reconnects and resumes."""

    close_code = CloseCode.INTERNAL_ERROR


class InvalidInput(ClientError):
    """The job's input cannot be worked on (an empty text, an unreadable file, a quiz that does not
    exist). Raised by job code, built-in or custom: its message is a sentence about the input and is
    shown to the educator as it is (the job ends `failed` with it; at submission it is a 422)."""

    http_status = 422
    code = "invalid_input"


def sentence(msg: str) -> str:
    """A pydantic error message as people read it: a validator's own sentence loses the
    "Value error, " pydantic puts before it."""
    return msg.removeprefix("Value error, ")


class InvalidParams(ClientError):
    """Params (or a publish's data) that cannot be used: HTTP 422 with `errors` as FastAPI's
    `detail` list (`{loc, msg, type}` each); `str()` names each field and why, for code that calls
    the desk directly (Backend.publish)."""

    http_status = 422
    code = "bad_params"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'params'}: {e.get('msg')}" for e in errors
        )
        super().__init__(f"invalid params: {where}" if where else "invalid params")
        self.errors = errors

    @classmethod
    def of(cls, exc: ValidationError, field: str) -> InvalidParams:
        """From pydantic's errors on the body's `field` ("params", "data"), located as FastAPI
        locates its own (`["body", field, ...]`), each message a sentence."""
        return cls(
            [{"loc": ["body", field, *e["loc"]], "msg": sentence(e["msg"]), "type": e["type"]} for e in exc.errors()]
        )


HUB_FAILED = "the hub failed; reference {reference}"
MAX_REASON = 1000  # characters of an input error's sentence shown to a person
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def new_reference() -> str:
    """A short id (8 hex digits) that ties what a person is shown to the log line holding the
    traceback."""
    return secrets.token_hex(4)


def unwrap(exc: BaseException) -> BaseException:
    """The exception job code raised, out of the wrappers Ray puts around it on the way back from a
    task or actor (ray.exceptions.RayTaskError and the classes `as_instanceof_cause` makes, which
    keep the original as `.cause`), however deeply nested (a task that awaited another task)."""
    seen = 0
    while seen < 32 and hasattr(exc, "as_instanceof_cause"):
        cause = getattr(exc, "cause", None)
        if not isinstance(cause, BaseException) or cause is exc:
            break
        exc, seen = cause, seen + 1
    return exc


def clean_sentence(text: str, limit: int = MAX_REASON) -> str:
    """`text` without terminal escapes or control characters (newlines become spaces), stripped and
    cut to `limit` characters (an ellipsis marks the cut)."""
    text = _CONTROL.sub(" ", _ANSI.sub("", text).replace("\n", " ").replace("\t", " "))
    text = re.sub(r" {2,}", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def public_reason(exc: BaseException, reference: str) -> tuple[str, bool]:
    """What a person is shown for a failed job: (sentence, True) when the failure is an
    InvalidInput (also one that came back wrapped by Ray): its own message, cleaned; otherwise
    ("the hub failed; reference <reference>", False), and the caller logs the traceback under
    that reference. Never a traceback, a path, a pid or an address from the exception itself."""
    inner = unwrap(exc)
    if isinstance(inner, InvalidInput):
        message = getattr(inner, "message", None)
        sentence = clean_sentence(message if isinstance(message, str) else str(inner))
        if sentence:
            return sentence, True
    return HUB_FAILED.format(reference=reference), False


class NotJoined(ClientError):
    """A room op (`publish`, `typing`) on a room this connection has not joined (PROTOCOL.md section 7):
    an `error` frame, the connection stays open."""

    http_status = 409
    code = "not_joined"
