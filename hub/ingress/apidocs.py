"""The API's documentation: Swagger UI at /docs and ReDoc at /redoc served from the hub itself
(the assets the `fastapi-offline` package ships: no CDN, so they work offline), and an OpenAPI
document that says what `params` each built-in job kind takes.

FastAPI's documented "self-hosting JavaScript and CSS for docs" pattern, as fastapi-offline
packages it: `get_swagger_ui_html(swagger_js_url=..., swagger_css_url=...)` pointing at a local
static mount, `get_redoc_html(redoc_js_url=..., with_google_fonts=False)`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from jobs.kinds import KINDS

DOCS_ASSETS = "/docs-assets"  # where the Swagger UI and ReDoc files are served
CUSTOM_PARAMS = "CustomKindParams"

# One example request per built-in kind, shown in Swagger UI's "Examples" list. Each one is a
# valid submission (tests/unit/test_apidocs_examples.py checks them against the kinds' models).
KIND_EXAMPLES: dict[str, dict[str, Any]] = {
    "quiz_generation": {
        "summary": "quiz_generation: 5 questions from pasted text",
        "value": {
            "kind": "quiz_generation",
            "params": {
                "text": "Photosynthesis turns light into chemical energy. Chlorophyll absorbs red and blue light.",
                "numQuestions": 5,
            },
        },
    },
    "question_replace": {
        "summary": "question_replace: a new question 3 for a quiz",
        "value": {"kind": "question_replace", "params": {"quizId": "quiz-3f2a9c1b7d4e", "questionId": "q3"}},
    },
    "document_processing": {
        "summary": "document_processing: a Markdown file, base64",
        "value": {
            "kind": "document_processing",
            "params": {
                "content": "IyBDZWxscwpDZWxscyBhcmUgdGhlIHVuaXRzIG9mIGxpZmUuIEVhY2ggY2VsbCBoYXMgYSBtZW1icmFuZS4K",
                "filename": "cells.md",
            },
        },
    },
}

KIND_NOTES: dict[str, str] = {
    "quiz_generation": "`text` (the source document's text) or `documentId` (a processed document); "
    "`numQuestions` 1-50, default 10; `quizId` optional (made when absent).",
    "question_replace": "`quizId` and `questionId` of a question in a finished quiz.",
    "document_processing": "`text`, or `content` (the file, base64) with its `filename` (.txt, .md, .html "
    "or .pdf); `documentId` optional (made when absent).",
}


def note(name: str, model: dict[str, Any]) -> str:
    """What a kind's params are, in a sentence: ours for the built-in kinds, else its model's fields."""
    return KIND_NOTES.get(name) or "fields " + ", ".join(f"`{f}`" for f in model.get("properties", {})) + "."


def create_documented_app(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose /docs and /redoc load every asset from the hub itself, and whose
    OpenAPI document lists each job kind's params (`describe_job_params`). `kwargs` go to FastAPI."""
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        favicon_url="/static/favicon.svg",
        swagger_ui_parameters={"persistAuthorization": True},
        **kwargs,
    )
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_job_params(plain())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it
    return app


def describe_job_params(schema: dict[str, Any]) -> dict[str, Any]:
    """Document `params` of `POST /api/jobs` per kind in an OpenAPI document (changed in place and
    returned): each built-in kind's params model becomes a component schema, `SubmitJob.params` is
    `anyOf` them or a custom kind's object, and the request body gets one example per kind.
    Documentation only: what the API accepts is what the kinds' models validate at submission."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    submit = components.get("SubmitJob")
    if submit is None:
        return schema
    choices = []
    for name, kind in KINDS.items():
        model = kind.params.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        components.update(model.pop("$defs", {}))
        model["title"] = kind.params.__name__
        model["description"] = f"`{name}`: {note(name, model)}"
        components[kind.params.__name__] = model
        choices.append({"$ref": f"#/components/schemas/{kind.params.__name__}"})
    components[CUSTOM_PARAMS] = {
        "title": CUSTOM_PARAMS,
        "type": "object",
        "additionalProperties": True,
        "description": "A custom kind (registered with `hub.job_kind` or `jobs.connect().register_kind`): "
        "the fields its params model declares, or any JSON object when it declared none.",
    }
    choices.append({"$ref": f"#/components/schemas/{CUSTOM_PARAMS}"})
    lines = [f"- `{name}`: {note(name, components[kind.params.__name__])}" for name, kind in KINDS.items()]
    submit.setdefault("properties", {})["params"] = {
        "title": "Params",
        "description": "What the job needs; which fields depends on `kind` (a bad field is a 422):\n"
        + "\n".join(lines)
        + "\n- a custom kind: what its params model declares.",
        "anyOf": choices,
        "default": {},
    }
    body = schema.get("paths", {}).get("/api/jobs", {}).get("post", {}).get("requestBody", {})
    media = body.get("content", {}).get("application/json")
    if media is not None:
        media["examples"] = {name: KIND_EXAMPLES[name] for name in KINDS if name in KIND_EXAMPLES}
    return schema
