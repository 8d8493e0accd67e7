"""The HTTP edge around the routes: CORS for the browser origins trusted on `/ws`, and HEAD.

- CORS: the origins `/ws` accepts (`HUB_ALLOWED_ORIGINS`, or loopback origins when it is empty;
  see `hub.ingress.ws.origin_allowed`) get Starlette's CORSMiddleware answers on every HTTP route,
  so a front end served from another origin can submit jobs and fall back to long-polling with an
  `Authorization` header. Other origins get no `Access-Control-*` header at all (a preflight from
  one is refused with 400), so the browser keeps its same-origin rule for them. Same-origin
  requests need no CORS.
- HEAD: every GET route answers HEAD as GET, without the body (RFC 9110 section 9.3.2): uptime
  monitors probe `/healthz` with HEAD.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from hub.ingress.ws import _LOOPBACK_ORIGIN
from hub.settings import Settings

CORS_METHODS = ["GET", "POST", "HEAD", "OPTIONS"]
CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]
# Response headers a cross-origin script may read: when to retry after a 429, where the next page
# of GET /api/jobs is.
CORS_EXPOSE = ["Retry-After", "Link", "X-Next-Cursor"]
# Seconds a browser may cache a preflight answer: an HTTP detail (browsers cap it themselves,
# Chromium at 7200 s), not a setting; a changed HUB_ALLOWED_ORIGINS takes at most this long to show.
CORS_MAX_AGE = 600


def cors_options(settings: Settings) -> dict[str, Any]:
    """CORSMiddleware's arguments for the origins `/ws` trusts: the listed ones (`*`: any), or,
    with none listed, any loopback origin (http or https, any port), as `origin_allowed` does."""
    listed = settings.origins
    common: dict[str, Any] = {
        "allow_methods": CORS_METHODS,
        "allow_headers": CORS_HEADERS,
        "expose_headers": CORS_EXPOSE,
        "allow_credentials": False,  # bearer tokens, not cookies
        "max_age": CORS_MAX_AGE,
    }
    if listed:
        return {"allow_origins": ["*"] if "*" in listed else listed, **common}
    return {"allow_origins": [], "allow_origin_regex": _LOOPBACK_ORIGIN.pattern, **common}


class HubCORS(CORSMiddleware):
    """Starlette's CORSMiddleware, but an origin it does not trust gets no `Access-Control-*` header
    at all (Starlette lists the allowed methods and headers, and the exposed ones, even to it)."""

    async def send(self, message: Any, send: Any, request_headers: Any) -> None:
        """CORSMiddleware's hook for the answer to a simple (not preflight) request: for an origin it does not
        allow, the answer goes out without any `Access-Control-*` header and with `Origin` added to `Vary`;
        for any other, as Starlette makes it."""
        origin = request_headers.get("Origin")
        if message["type"] == "http.response.start" and origin is not None and not self.is_allowed_origin(origin):
            message.setdefault("headers", [])
            headers = MutableHeaders(scope=message)
            headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])  # caches keep origins apart
            return await send(message)
        await super().send(message, send, request_headers)

    def preflight_response(self, request_headers: Any) -> Response:
        """CORSMiddleware's answer to a preflight; a refused one (400) keeps no `Access-Control-*` header."""
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            for name in [k for k in response.headers if k.lower().startswith("access-control-")]:
                del response.headers[name]
        return response


class HeadAsGet:
    """ASGI middleware: a HEAD request is routed as GET and answered without the body; the status
    and headers (Content-Length included) are the GET's."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def headers_only(message: Any) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def install_edge(app: Any, settings: Settings) -> None:
    """Wrap `app` in HEAD handling and, outermost, CORS (so errors from any layer carry CORS headers)."""
    app.add_middleware(HeadAsGet)
    app.add_middleware(HubCORS, **cors_options(settings))
