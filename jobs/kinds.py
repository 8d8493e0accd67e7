"""Job kinds: their parameters (validated at submission, 422 on bad params) and their runners."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from jobs.context import JobContext

MAX_TEXT = 2_000_000  # characters of inline document text


class Params(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class QuizGenerationParams(Params):
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    document_id: str | None = Field(default=None, max_length=128)
    num_questions: int = Field(default=10, ge=1, le=50)
    quiz_id: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _source(self) -> QuizGenerationParams:
        if not (self.text and self.text.strip()) and not self.document_id:
            raise ValueError("give the source document's `text` or a `documentId`")
        if self.quiz_id is None:
            self.quiz_id = "quiz-" + uuid.uuid4().hex[:12]
        return self


Runner = Callable[[JobContext, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    params: type[Params]
    runner: Runner
    ids: Callable[[Any], dict[str, str | None]]  # routing ids a job state carries (quizId, ...)


KINDS: dict[str, JobKind] = {}


def register_kind(kind: JobKind) -> JobKind:
    KINDS[kind.name] = kind
    return kind


class BadParams(ValueError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid job params")
        self.errors = errors


def validate(kind: str, params: dict[str, Any]) -> tuple[JobKind, Params]:
    """The kind and its validated params; BadParams with pydantic-style errors otherwise."""
    job_kind = KINDS.get(kind)
    if job_kind is None:
        raise BadParams([{"loc": ["body", "kind"], "msg": f"unknown job kind {kind!r}; one of {sorted(KINDS)}",
                          "type": "value_error"}])
    try:
        return job_kind, job_kind.params.model_validate(params)
    except ValidationError as exc:
        raise BadParams(
            [{"loc": ["body", "params", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None


def _load_builtin() -> None:
    from jobs import quiz_job

    register_kind(JobKind("quiz_generation", QuizGenerationParams, quiz_job.run,
                          lambda p: {"quiz_id": p.quiz_id}))


_load_builtin()
