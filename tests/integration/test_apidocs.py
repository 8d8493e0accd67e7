"""The API's documentation pages load with nothing from outside the hub, the OpenAPI document
declares the bearer scheme and each job kind's params, and the educator's analytics can be read
at any time (GET /api/analytics), not only when a job completes."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from hub.server import LocalHub
from jobs.kinds import KINDS
from tests.integration.conftest import Api, scaled

pytestmark = pytest.mark.integration

URL_ATTR = re.compile(r"""(?:\b(?:src|href)=|\burl:\s*|spec-url=)["']([^"']+)["']""", re.I)


def assets_of(html: str) -> list[str]:
    """Every URL an HTML page names in src=, href=, spec-url= (ReDoc) or `url: '...'` (Swagger UI)."""
    return URL_ATTR.findall(html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_and_their_assets_load_from_the_hub_alone(hub: LocalHub, page: str) -> None:
    http = httpx.Client(base_url=hub.url, timeout=30)
    reply = http.get(page)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    html = reply.text
    assert "cdn" not in html.lower()
    assert not re.search(r"https?://", html), "the page names a URL outside the hub"
    assets = assets_of(html)
    assert "/openapi.json" in assets
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts, html
    for asset in assets:
        assert asset.startswith("/"), asset
        got = http.get(asset)
        assert got.status_code == 200, (asset, got.status_code)
        assert len(got.content) > 100, asset
    if page == "/docs":
        assert any(a.endswith("swagger-ui.css") for a in assets)
        # Swagger UI 5 renders OpenAPI 3.1 (FastAPI's); 4.x shows "Unable to render this definition"
        bundle = http.get(next(a for a in scripts if "swagger-ui-bundle" in a)).text
        assert re.search(r'"5\.\d+\.\d+"', bundle)
        assert http.get("/docs/oauth2-redirect").status_code == 200


def test_openapi_declares_the_bearer_scheme_on_the_api(hub: LocalHub) -> None:
    schema = httpx.get(hub.url + "/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["type"] == "http" and schemes["HTTPBearer"]["scheme"] == "bearer"
    guarded = [("/api/jobs", "post"), ("/api/jobs", "get"), ("/api/events", "get"), ("/api/analytics", "get")]
    for path, method in guarded:
        assert {"HTTPBearer": []} in schema["paths"][path][method]["security"], (path, method)
    assert "security" not in schema["paths"]["/healthz"]["get"]


def test_openapi_documents_params_per_job_kind(hub: LocalHub) -> None:
    schema = httpx.get(hub.url + "/openapi.json").json()
    components = schema["components"]["schemas"]
    params = components["SubmitJob"]["properties"]["params"]
    refs = [c["$ref"].rsplit("/", 1)[1] for c in params["anyOf"]]
    assert refs[-1] == "CustomKindParams"
    # The built-in kinds (kinds that tests register in this process later are not in the schema the
    # app made at its first request, which is as meant: the schema is made once).
    for name in ("quiz_generation", "question_replace", "document_processing"):
        kind = KINDS[name]
        model = components[kind.params.__name__]
        assert kind.params.__name__ in refs
        assert f"`{name}`" in params["description"] and f"`{name}`" in model["description"]
        assert set(model["properties"]) == {f.alias or n for n, f in kind.params.model_fields.items()}
    assert components["QuizGenerationParams"]["properties"]["numQuestions"]["maximum"] == 50
    examples = schema["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert {"quiz_generation", "question_replace", "document_processing"} == set(examples)


def test_the_documented_examples_are_accepted_and_the_api_accepts_what_it_did(hub: LocalHub, educator: Api) -> None:
    schema = educator.http.get("/openapi.json").json()
    examples = schema["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    quiz = examples["quiz_generation"]["value"]
    assert educator.http.post("/api/jobs", json=quiz).status_code == 202
    document = examples["document_processing"]["value"]
    assert educator.http.post("/api/jobs", json=document).status_code == 202
    # a custom kind's params stay any object (checked by the kind's own model), unknown kinds a 422
    reply = educator.http.post("/api/jobs", json={"kind": "no_such_kind", "params": {"x": 1}})
    assert reply.status_code == 422 and "unknown job kind" in reply.text


def test_bearer_errors_are_unchanged(hub: LocalHub) -> None:
    http = httpx.Client(base_url=hub.url, timeout=30)
    for headers in [{}, {"Authorization": "Basic abc"}, {"Authorization": "Token abc"}, {"Authorization": "bearer"}]:
        reply = http.get("/api/jobs", headers=headers)
        assert reply.status_code == 401, headers
        assert reply.json() == {"detail": "missing bearer token"}
        assert reply.headers["www-authenticate"] == "Bearer"
    token = hub.token("docs-bearer")
    assert http.get("/api/jobs", headers={"Authorization": f"bearer {token}"}).status_code == 200
    assert http.get("/api/jobs", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401


def test_analytics_answer_the_current_figures_before_any_update(hub: LocalHub, educator: Api) -> None:
    first = educator.http.get("/api/analytics")
    assert first.status_code == 200
    assert first.json() == {
        "jobsToday": 0,
        "quizzesGenerated": 0,
        "questionsGenerated": 0,
        "averageGenerationSeconds": None,
    }
    job = educator.submit_quiz(n=3)
    deadline = time.monotonic() + scaled(60)
    while educator.http.get(f"/api/jobs/{job}").json()["status"] != "completed":
        assert time.monotonic() < deadline, "the quiz did not complete"
        time.sleep(0.2)
    figures = educator.http.get("/api/analytics").json()
    assert figures["jobsToday"] == 1 and figures["quizzesGenerated"] == 1 and figures["questionsGenerated"] == 3
    assert figures["averageGenerationSeconds"] > 0
    service = hub.token("svc-analytics", role="service")
    refused = httpx.get(hub.url + "/api/analytics", headers={"Authorization": f"Bearer {service}"})
    assert refused.status_code == 403


def test_favicon_answers(hub: LocalHub) -> None:
    ico = httpx.get(hub.url + "/favicon.ico")
    assert ico.status_code == 200 and ico.headers["content-type"] == "image/vnd.microsoft.icon"
    assert ico.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    svg = httpx.get(hub.url + "/static/favicon.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")


def test_static_files_have_their_types(hub: LocalHub) -> None:
    """The browser client and its TypeScript declarations, typed as what they are."""
    types = {
        "/static/hub-client.js": "text/javascript",
        "/static/hub-client.d.ts": "application/typescript",
        "/static/dashboard.css": "text/css",
    }
    for path, wanted in types.items():
        reply = httpx.get(hub.url + path)
        assert reply.status_code == 200 and reply.headers["content-type"].startswith(wanted), (path, reply.headers)
