"""The OpenAPI additions of hub/ingress/apidocs.py: per-kind params and examples that are true."""

from __future__ import annotations

import copy

from hub.ingress.apidocs import CUSTOM_PARAMS, KIND_EXAMPLES, describe_job_params
from jobs.kinds import KINDS, validate_with

# the kinds this package ships (tests register kinds of their own in the same process)
BUILTIN = [name for name, kind in KINDS.items() if kind.runner.__module__.startswith("jobs.")]

BASE = {
    "openapi": "3.1.0",
    "paths": {"/api/jobs": {"post": {"requestBody": {"content": {"application/json": {"schema": {}}}}}}},
    "components": {"schemas": {"SubmitJob": {"properties": {"kind": {"type": "string"}, "params": {}}}}},
}


def test_every_builtin_kind_has_an_example_its_model_accepts() -> None:
    assert set(BUILTIN) == {"quiz_generation", "question_replace", "document_processing"}
    assert set(KIND_EXAMPLES) == set(BUILTIN)
    for name, example in KIND_EXAMPLES.items():
        assert example["value"]["kind"] == name
        validate_with(KINDS[name], example["value"]["params"])  # raises InvalidParams if the docs lie


def test_params_become_any_of_the_kinds_models_or_a_custom_object() -> None:
    schema = describe_job_params(copy.deepcopy(BASE))
    components = schema["components"]["schemas"]
    params = components["SubmitJob"]["properties"]["params"]
    assert [c["$ref"] for c in params["anyOf"]] == [
        *(f"#/components/schemas/{k.params.__name__}" for k in KINDS.values()),
        f"#/components/schemas/{CUSTOM_PARAMS}",
    ]
    quiz = components["QuizGenerationParams"]
    assert quiz["additionalProperties"] is False  # extra="forbid" shows
    assert {"text", "documentId", "numQuestions", "quizId"} == set(quiz["properties"])
    assert components[CUSTOM_PARAMS]["additionalProperties"] is True
    examples = schema["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert list(examples) == BUILTIN


def test_a_document_without_submit_job_is_left_alone() -> None:
    assert describe_job_params({"paths": {}}) == {"paths": {}, "components": {"schemas": {}}}
