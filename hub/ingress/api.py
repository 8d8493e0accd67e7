"""The HTTP API (PROTOCOL.md section 5)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from hub.auth import Identity, verify_token
from hub.errors import AuthError, Forbidden, HubError, RateLimited, TooLarge
from hub.ingress.desk import JobDesk, Publish
from hub.ingress.polling import MAX_TIMEOUT, poll_events


class SubmitJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


def build_router(
    desk: JobDesk, secret: str, health: Any, metrics_text: Any, relay: Any, *, token_leeway: float = 0.0
) -> APIRouter:
    """The API routes; `token_leeway`: Settings.token_leeway (clock skew allowed on tokens, seconds)."""
    router = APIRouter()

    async def identity(authorization: str | None = Header(default=None)) -> Identity:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthError("missing bearer token")
        return verify_token(secret, authorization[7:].strip(), leeway=token_leeway)

    async def educator(who: Identity = Depends(identity)) -> Identity:
        if not who.may("educator"):
            raise Forbidden(f"this endpoint needs an educator token, not {who.role}")
        return who

    @router.post("/api/jobs", status_code=202)
    async def submit(body: SubmitJob, who: Identity = Depends(educator)) -> dict[str, Any]:
        state = await desk.submit(who, body.kind, body.params)
        return {"jobId": state["jobId"], "status": "queued"}

    @router.get("/api/jobs")
    async def list_jobs(who: Identity = Depends(educator)) -> list[dict[str, Any]]:
        return await desk.jobs_of(who)

    @router.get("/api/jobs/{job_id}")
    async def get_job(job_id: str, who: Identity = Depends(identity)) -> dict[str, Any]:
        return await desk.get(who, job_id)

    @router.get("/api/jobs/{job_id}/result")
    async def get_result(job_id: str, who: Identity = Depends(identity)) -> Any:
        return await desk.result(who, job_id)

    @router.post("/api/jobs/{job_id}/cancel", status_code=202)
    async def cancel(job_id: str, who: Identity = Depends(educator)) -> dict[str, Any]:
        await desk.cancel(who, job_id)
        return {"jobId": job_id, "status": "cancelling"}

    @router.get("/api/events")
    async def events(
        epoch: str | None = Query(default=None, max_length=64),
        after: int | None = Query(default=None, ge=0),
        timeout: float = Query(default=25.0, ge=0, description=f"seconds, at most {MAX_TIMEOUT:g}"),
        who: Identity = Depends(educator),
    ) -> dict[str, Any]:
        return await poll_events(relay, who.sub, epoch, after, timeout)

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
    from jobs.kinds import BadParams

    async def hub_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubError)
        metrics.errors.inc(code=exc.code)
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        return JSONResponse({"detail": exc.message}, status_code=exc.http_status, headers=headers)

    async def bad_params(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BadParams)
        metrics.errors.inc(code="bad_params")
        return JSONResponse({"detail": exc.errors}, status_code=422)

    app.add_exception_handler(HubError, hub_error)
    app.add_exception_handler(BadParams, bad_params)


async def ping_all(shards: list[Any], timeout: float = 3.0) -> tuple[bool, dict[str, Any]]:
    try:
        epochs = await asyncio.wait_for(asyncio.gather(*(s.ping() for s in shards)), timeout)
    except (TimeoutError, HubError) as exc:
        return False, {"error": str(exc) or "registry shards did not answer in time"}
    return True, {"shards": len(epochs)}


class BodyLimit:
    """ASGI middleware: a request body over `max_body` bytes gets 413, declared or streamed."""

    def __init__(self, app: Any, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            response = JSONResponse({"detail": f"request body over {self.max_body:,} bytes"}, status_code=413)
            return await response(scope, receive, send)
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise TooLarge(f"request body over {self.max_body:,} bytes")
            return message

        await self.app(scope, counted, send)
