"""Adapter tests of the HTTP edge (hub/ingress/edge.py, BodyLimit): an ASGI app built with the hub's
middleware, driven in process by Starlette's TestClient (no sockets, no Ray)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from hub.ingress.api import BodyLimit
from hub.ingress.edge import install_edge
from hub.ingress.ws import origin_allowed
from hub.metrics import IngressMetrics
from hub.settings import Settings

LIMIT = 1000


class Body(BaseModel):
    text: str


def make_app(allowed_origins: str = "") -> tuple[FastAPI, IngressMetrics]:
    metrics = IngressMetrics()
    app = FastAPI()

    @app.post("/api/jobs", status_code=202)
    async def submit(body: Body) -> dict[str, Any]:
        return {"size": len(body.text)}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        return {"size": len(await request.body())}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(BodyLimit, max_body=LIMIT, metrics=metrics)
    install_edge(app, Settings(allowed_origins=allowed_origins))
    return app, metrics


def preflight(client: TestClient, origin: str, path: str = "/api/jobs", method: str = "POST") -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def cors_headers(reply: Any) -> dict[str, str]:
    return {k: v for k, v in reply.headers.items() if k.lower().startswith("access-control-")}


@pytest.mark.parametrize(
    ("allowed", "origin", "trusted"),
    [
        ("", "http://localhost:3000", True),  # the default: loopback origins, any port
        ("", "http://127.0.0.1:5173", True),
        ("", "https://[::1]:8443", True),
        ("", "http://localhost.evil.example", False),
        ("", "https://app.example.com", False),
        ("http://localhost:3000,https://app.example.com/", "https://app.example.com", True),
        ("http://localhost:3000,https://app.example.com/", "http://localhost:3000", True),
        ("http://localhost:3000,https://app.example.com/", "http://localhost:3001", False),
        ("*", "https://anywhere.example", True),
    ],
)
def test_cors_trusts_exactly_the_origins_ws_trusts(allowed: str, origin: str, trusted: bool) -> None:
    app, _ = make_app(allowed)
    settings = Settings(allowed_origins=allowed)
    assert origin_allowed(origin, "hub.example:8000", settings.origins) is trusted  # the /ws rule
    with TestClient(app) as client:
        for path, method in (("/api/jobs", "POST"), ("/api/events", "GET")):
            reply = preflight(client, origin, path, method)
            if trusted:
                assert reply.status_code == 200
                assert reply.headers["access-control-allow-origin"] in (origin, "*")
                allowed_methods = reply.headers["access-control-allow-methods"]
                assert {"GET", "POST", "HEAD"} <= {m.strip() for m in allowed_methods.split(",")}
                assert "authorization" in reply.headers["access-control-allow-headers"].lower()
            else:
                assert reply.status_code == 400
                assert cors_headers(reply) == {}
        actual = client.post("/api/jobs", json={"text": "hi"}, headers={"Origin": origin})
        assert actual.status_code == 202
        if trusted:
            assert actual.headers["access-control-allow-origin"] in (origin, "*")
            exposed = actual.headers["access-control-expose-headers"].lower()
            assert "retry-after" in exposed and "link" in exposed and "x-next-cursor" in exposed
        else:
            assert cors_headers(actual) == {}


def test_cors_headers_on_errors_too() -> None:
    """A refused request (413 here) still carries CORS headers, so the page can read why."""
    app, _ = make_app()
    with TestClient(app) as client:
        reply = client.post("/raw", content=b"x" * (LIMIT + 1), headers={"Origin": "http://localhost:3000"})
    assert reply.status_code == 413
    assert reply.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_head_answers_as_get_without_a_body() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        got = client.get("/healthz")
        head = client.head("/healthz")
        missing = client.head("/nowhere")
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))
    assert head.headers["content-type"] == got.headers["content-type"]
    assert missing.status_code == 404 and missing.content == b""


def chunks(total: int, size: int = 100) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


@pytest.mark.parametrize("path", ["/api/jobs", "/raw"])
def test_a_streamed_body_over_the_limit_is_413_on_every_route(path: str) -> None:
    app, metrics = make_app()
    with TestClient(app) as client:
        reply = client.post(path, content=chunks(LIMIT + 50), headers={"content-type": "application/json"})
        assert reply.status_code == 413, reply.text
        assert reply.json() == {"detail": f"request body over {LIMIT:,} bytes"}
        assert metrics.errors.get(code="too_large") == 1
        declared = client.post(path, content=b"x" * (LIMIT + 1), headers={"content-type": "application/json"})
        assert declared.status_code == 413 and declared.json() == reply.json()
        ok = client.post("/raw", content=chunks(LIMIT))
        assert ok.status_code == 200 and ok.json() == {"size": LIMIT}


def test_the_api_documents_paging() -> None:
    from hub.ingress.api import build_router

    app = FastAPI()
    app.include_router(build_router(None, "secret", None, None, None, poll_max_messages=1000))  # type: ignore[arg-type]
    listing = app.openapi()["paths"]["/api/jobs"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 500 and params["limit"]["schema"]["default"] == 500
    assert "cursor" in params
    assert set(listing["responses"]["200"]["headers"]) == {"Link", "X-Next-Cursor"}
