"""One error root, split by whose fault it is. Errors carry their close code and numbers."""

from __future__ import annotations


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    close_code: int = 1011
    http_status: int = 500
    code: str = "internal"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ClientError(HubError):
    """The caller sent something wrong: the connection or request may go on."""

    close_code = 4400
    http_status = 400
    code = "bad_request"


class BadFrame(ClientError):
    """An inbound frame that is not valid JSON or does not match the schema."""

    code = "bad_frame"

    def __init__(self, message: str, ref: str | None = None) -> None:
        super().__init__(message, ref=ref)
        self.ref = ref


class AuthError(ClientError):
    close_code = 4401
    http_status = 401
    code = "unauthorized"


class Forbidden(ClientError):
    close_code = 4403
    http_status = 403
    code = "forbidden"


class NotFound(ClientError):
    http_status = 404
    code = "not_found"


class Conflict(ClientError):
    http_status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """A job status change the state table does not allow."""

    code = "invalid_transition"


class RateLimited(ClientError):
    """Too many requests, frames or connections: HTTP 429 with Retry-After, or close 4429."""

    close_code = 4429
    http_status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class TooLarge(ClientError):
    close_code = 1009
    http_status = 413
    code = "too_large"


class UpstreamError(HubError):
    """A part of the hub behind the ingress (a Ray actor) failed or did not answer."""

    close_code = 1011
    http_status = 503
    code = "upstream"
