"""The HTTP API (PROTOCOL.md section 5)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from hub.auth import Identity, verify_token
from hub.core.errors import AuthError, Forbidden, HubError, InvalidParams, RateLimited, TooLarge
from hub.core.handles import ShardHandle
from hub.core.idempotency import HEADER, MAX_KEY, key_problem
from hub.core.paging import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, next_link
from hub.ingress.desk import JobDesk, Publish
from hub.ingress.polling import MAX_TIMEOUT, poll_events
from hub.ingress.relay import Relay
from hub.ingress.strict import MSGPACK_TOO, StrictJSONResponse, StrictJSONRoute, negotiated

PAGE_HEADERS = {  # GET /api/jobs: where the next page is (absent on the last page)
    "Link": {"description": 'RFC 8288: `</api/jobs?limit=N&cursor=C>; rel="next"`', "schema": {"type": "string"}},
    "X-Next-Cursor": {"description": "the `cursor` of the next page", "schema": {"type": "string"}},
}


SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "a repeat of an earlier submission's Idempotency-Key and body: that job's `{jobId, status}`"},
    409: {"description": "the Idempotency-Key was already used with another body"},
}


class SubmitJob(BaseModel):
    """The body of `POST /api/jobs` (PROTOCOL.md section 5): `kind` (1 to 64 characters: a built-in or
    registered kind) and `params` (a JSON object, checked against the kind's model by the job desk: 422
    naming each bad field). Any other field is refused with 422."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


def identity_dependency(secret: str, token_leeway: float) -> Callable[..., Awaitable[Identity]]:
    """A FastAPI dependency giving the Identity of the request's bearer token (AuthError, 401, when it
    has none or a bad one; `token_leeway`: Settings.token_leeway). It declares the scheme in the
    OpenAPI document (Swagger UI's "Authorize"); the refusal stays the hub's own."""
    bearer = HTTPBearer(auto_error=False, bearerFormat="JWT", description="A token from `hub token`.")

    async def identity(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Identity:
        if credentials is None or not credentials.credentials.strip():
            raise AuthError("missing bearer token")
        return verify_token(secret, credentials.credentials.strip(), leeway=token_leeway)

    return identity


def build_router(
    desk: JobDesk,
    secret: str,
    health: Callable[[], Awaitable[tuple[bool, dict[str, Any]]]],
    metrics_text: Callable[[], Awaitable[str]],
    relay: Relay,
    *,
    token_leeway: float = 0.0,
    poll_max_messages: int,
) -> APIRouter:
    """The API routes. `health`: () -> (ok, detail) for GET /healthz; `metrics_text`: () -> the text
    GET /metrics serves; `relay`: what a long-poll (GET /api/events) joins; `token_leeway`:
    Settings.token_leeway (clock skew allowed on tokens, seconds); `poll_max_messages`:
    Settings.poll_max_messages (the most one long-poll answer carries)."""
    router = APIRouter(route_class=StrictJSONRoute, default_response_class=StrictJSONResponse)  # strict JSON
    identity = identity_dependency(secret, token_leeway)

    async def educator(who: Identity = Depends(identity)) -> Identity:
        if not who.may("educator"):
            raise Forbidden(f"this endpoint needs an educator token, not {who.role}")
        return who

    @router.post("/api/jobs", status_code=202, responses=SUBMIT_RESPONSES)
    async def submit(
        request: Request,
        response: Response,
        body: SubmitJob,
        who: Identity = Depends(educator),
        idempotency_key: str | None = Header(
            default=None,
            alias=HEADER,
            description=f"1 to {MAX_KEY} printable ASCII characters: a repeat with the same key and body "
            "within 24 hours gets the first job (200) and starts nothing (PROTOCOL.md section 9)",
        ),
    ) -> dict[str, Any]:
        """Start a job (202 `{jobId, status: "queued"}`); with an `Idempotency-Key` the caller already used
        for the same body, the first job's `{jobId, status}` as it is now (200); for another body, 409."""
        keys = request.headers.getlist(HEADER)
        problem = key_problem(keys)
        if problem is not None:
            raise InvalidParams([{"loc": ["header", HEADER], "msg": problem, "type": "value_error"}])
        job_id, status, repeated = await desk.submit_once(who, body.kind, body.params, keys[0] if keys else None)
        if repeated:
            response.status_code = 200
        return {"jobId": job_id, "status": status}

    @router.get("/api/jobs", responses={200: {"headers": PAGE_HEADERS}})
    async def list_jobs(
        request: Request,
        response: Response,
        limit: int = Query(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="jobs per page"),
        cursor: str | None = Query(
            default=None, max_length=512, description="where the page starts: a previous answer's X-Next-Cursor"
        ),
        who: Identity = Depends(educator),
    ) -> list[dict[str, Any]]:
        """The caller's jobs, newest first, a page at a time; when there are more, the answer's
        `Link: <...>; rel="next"` and `X-Next-Cursor` headers say where the next page is."""
        page, after = await desk.jobs_page(who, limit, decode_cursor(cursor) if cursor else None)
        if after is not None:
            token = encode_cursor(*after)
            response.headers["Link"] = next_link(request.url.path, limit, token)
            response.headers["X-Next-Cursor"] = token
        return [state.wire() for state in page]

    @router.get("/api/analytics")
    async def analytics(who: Identity = Depends(educator)) -> dict[str, Any]:
        """The caller's analytics figures now, as `analytics_update` carries them (the job store counts them)."""
        return await desk.analytics_of(who)

    @router.get("/api/jobs/{job_id}", responses=MSGPACK_TOO)
    async def get_job(request: Request, job_id: str, who: Identity = Depends(identity)) -> Response:
        return negotiated(request, (await desk.get(who, job_id)).wire())

    @router.get("/api/jobs/{job_id}/result", responses=MSGPACK_TOO)
    async def get_result(request: Request, job_id: str, who: Identity = Depends(identity)) -> Response:
        return negotiated(request, await desk.result(who, job_id))

    @router.post("/api/jobs/{job_id}/cancel", status_code=202)
    async def cancel(job_id: str, who: Identity = Depends(educator)) -> dict[str, Any]:
        await desk.cancel(who, job_id)
        return {"jobId": job_id, "status": "cancelling"}

    @router.get("/api/events")
    async def events(
        epoch: str | None = Query(default=None, max_length=64),
        after: int | None = Query(default=None, ge=0),
        timeout: float = Query(
            default=25.0, ge=0, allow_inf_nan=False, description=f"seconds, at most {MAX_TIMEOUT:g}"
        ),
        who: Identity = Depends(educator),
    ) -> Response:
        if who.exp is not None:  # a poll outlives its token no more than a WebSocket does (4401 at exp)
            timeout = max(0.0, min(timeout, who.exp + token_leeway - time.time()))
        return await poll_events(relay, who.sub, epoch, after, timeout, poll_max_messages)

    @router.post("/api/publish", status_code=202)
    async def publish(body: Publish, who: Identity = Depends(identity)) -> dict[str, Any]:
        return {"delivered": await desk.publish(who, body)}

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        ok, detail = await health()
        return JSONResponse({"status": "ok" if ok else "unavailable", **detail}, status_code=200 if ok else 503)

    @router.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(await metrics_text(), media_type="text/plain; version=0.0.4")

    return router


def install_error_handlers(app: Any, metrics: Any) -> None:
    """Make the hub's errors HTTP answers on `app` (a FastAPI app): a HubError becomes `{"detail": message}`
    with its `http_status` (a 401 with `WWW-Authenticate: Bearer`, a 429 with `Retry-After` in whole
    seconds, at least 1); an InvalidParams becomes 422 with `{"detail": errors}`, FastAPI's own list of
    `{loc, msg, type}` (PROTOCOL.md section 5). Each is counted in `metrics.errors` by its `code`."""
    from hub.core.errors import InvalidParams

    async def hub_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubError)
        metrics.errors.inc(code=exc.code)
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        return JSONResponse({"detail": exc.message}, status_code=exc.http_status, headers=headers)

    async def bad_params(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvalidParams)
        metrics.errors.inc(code="bad_params")
        return JSONResponse({"detail": exc.errors}, status_code=422)

    app.add_exception_handler(HubError, hub_error)
    app.add_exception_handler(InvalidParams, bad_params)


async def ping_all(shards: Sequence[ShardHandle], timeout: float = 3.0) -> tuple[bool, dict[str, Any]]:
    """Whether every registry shard answers `ping()` within `timeout` seconds (asked all at once), for
    `GET /healthz`: (True, {"shards": count}), or (False, {"error": a sentence}) when the wait timed out
    or a shard's ping raised a HubError; any other exception propagates."""
    try:
        epochs = await asyncio.wait_for(asyncio.gather(*(s.ping() for s in shards)), timeout)
    except (TimeoutError, HubError) as exc:
        return False, {"error": str(exc) or "registry shards did not answer in time"}
    return True, {"shards": len(epochs)}


class BodyLimit:
    """ASGI middleware: a request body over `max_body` bytes gets 413 `{"detail": ...}` on every
    route, whether its size is declared (Content-Length: answered before the app runs) or streamed
    (Transfer-Encoding: chunked: answered the moment the count passes the limit, whatever the app
    was doing with the body; what the app answers afterwards is dropped, so a body parser's own
    "error parsing the body" 400 never reaches the client)."""

    def __init__(self, app: Any, max_body: int, metrics: Any = None) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    def _too_large(self) -> JSONResponse:
        if self.metrics is not None:
            self.metrics.errors.inc(code=TooLarge.code)
        return JSONResponse({"detail": f"request body over {self.max_body:,} bytes"}, status_code=413)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return await self._too_large()(scope, receive, send)
        seen = 0
        started = refused = False

        async def counted() -> Any:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    if started:  # the app answers while it reads: too late for a 413
                        raise TooLarge(f"request body over {self.max_body:,} bytes")
                    refused = True
                    await self._too_large()(scope, receive, send)
                    raise TooLarge(f"request body over {self.max_body:,} bytes")
            return message

        async def guarded(message: Any) -> None:
            nonlocal started
            if refused:
                return  # the 413 is out; whatever the app makes of the refused body is not sent
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except TooLarge:
            if not refused:
                raise
