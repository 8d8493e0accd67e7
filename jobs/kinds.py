"""Job kinds: their parameters (validated at submission, 422 on bad params) and their runners.

Built-in kinds live here; custom kinds are registered at run time by a notebook or service
(`jobs.job_kind`) and kept by the job store actor, where monitors find them by name.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from hub.errors import InvalidInput as InvalidInput  # raised by job kinds: shown as it is
from jobs import documents, quiz
from jobs.context import JobContext

MAX_TEXT = 2_000_000  # characters of inline document text
MAX_UPLOAD = documents.MAX_BYTES  # bytes of a document upload (20 MiB)


def has_words(text: str) -> bool:
    """Whether `text` holds a word or a number (the tokens quizzes and the index are made of)."""
    return quiz._TOKEN_RE.search(text) is not None


class Params(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class AnyParams(Params):
    """Params of a custom kind that declared no model: any JSON object."""

    model_config = ConfigDict(extra="allow")


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class QuizGenerationParams(Params):
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    document_id: str | None = Field(default=None, max_length=128)
    num_questions: int = Field(default=10, ge=1, le=50)
    quiz_id: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _source(self) -> QuizGenerationParams:
        if self.text is not None and self.text.strip() and not has_words(self.text):
            raise ValueError("the `text` has no words or numbers, so no question can be made from it")
        if self.text is not None and not self.text.strip():
            raise ValueError(
                "the `text` is empty (or only spaces); give the document's text, "
                "or leave it out and give a `documentId`"
            )
        if not self.text and not self.document_id:
            raise ValueError("give the source document's `text` or a `documentId`")
        if self.quiz_id is None:
            self.quiz_id = _new_id("quiz")
        return self


class QuestionReplaceParams(Params):
    quiz_id: str = Field(min_length=1, max_length=128)
    question_id: str = Field(min_length=1, max_length=128)


class DocumentProcessingParams(Params):
    document_id: str | None = Field(default=None, max_length=128)
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    content: str | None = Field(default=None, description="the file, base64")
    filename: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _source(self) -> DocumentProcessingParams:
        if self.content is not None:
            if not self.filename:
                raise ValueError("`content` needs its `filename` (.txt, .md, .html or .pdf)")
            try:
                raw = base64.b64decode(self.content, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("`content` is not valid base64") from None
            documents.check_upload(raw, self.filename)  # DocumentError (over MAX_UPLOAD too): a ValueError, so 422
        elif self.text is not None and not self.text.strip():
            raise ValueError("the `text` is empty (or only spaces); give the document's text")
        elif not self.text:
            raise ValueError("give the document's `text`, or its `content` (base64) with a `filename`")
        elif not has_words(self.text):
            raise ValueError("the `text` has no words or numbers, so there is nothing to process")
        if self.document_id is None:
            self.document_id = _new_id("doc")
        return self

    def upload_size(self) -> int:
        """Bytes of the document (checked against MAX_UPLOAD: 422 past it, as any param that cannot run)."""
        if self.content is not None:
            return len(self.content) * 3 // 4 - self.content[-2:].count("=")
        return len((self.text or "").encode())

    def raw_bytes(self) -> tuple[bytes, str]:
        if self.content is not None:
            return base64.b64decode(self.content), self.filename or "document.txt"
        return (self.text or "").encode(), self.filename or "document.txt"


Runner = Callable[[JobContext, Any], Any]


@dataclass(frozen=True)
class JobKind:
    name: str
    params: type[Params]
    runner: Runner  # async def or plain def (run on a thread) taking (ctx, params)
    ids: Callable[[Any], dict[str, Any]] = lambda p: {}  # routing ids a job state carries
    message_extra: Callable[[Any], dict[str, Any] | None] | None = None  # added to `completed`
    # What the job's monitor actor asks Ray for, e.g. {"num_cpus": 1, "num_gpus": 1} for a kind that
    # computes in the monitor itself. Coordinating monitors (the built-in kinds, whose work runs in
    # their own Ray tasks) ask for nothing: num_cpus=0.
    resources: dict[str, float] | None = None
    # Refuses at submission, with InvalidInput (422), what the job store already shows to be wrong
    # (a quiz or document that is not the educator's): async (store, educator_id, params) -> None.
    check: Callable[[Any, str, Any], Awaitable[None]] | None = None

    async def call(self, ctx: Any, params: Any) -> Any:
        if inspect.iscoroutinefunction(self.runner):
            return await self.runner(ctx, params)
        return await asyncio.to_thread(self.runner, _ThreadContext(ctx, asyncio.get_running_loop()), params)


class _ThreadContext:
    """A JobContext for a plain function on a worker thread: progress hops to the monitor's loop."""

    def __init__(self, ctx: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._ctx = ctx
        self._loop = loop
        self.job_id = ctx.job_id
        self.educator_id = ctx.educator_id
        self.store = ctx.store

    def track(self, ref: Any) -> Any:
        self._loop.call_soon_threadsafe(self._ctx.track, ref)
        return ref

    def progress(self, percent: float, message: str, **fields: Any) -> None:
        self._loop.call_soon_threadsafe(lambda: self._ctx.progress(percent, message, **fields))

    @property
    def cancelled(self) -> bool:
        return bool(self._ctx.cancelled)

    def check_cancelled(self) -> None:
        self._ctx.check_cancelled()


KINDS: dict[str, JobKind] = {}


def register_kind(kind: JobKind) -> JobKind:
    KINDS[kind.name] = kind
    return kind


def sentence(msg: str) -> str:
    """A pydantic error message as people read it: a validator's own sentence loses the
    "Value error, " pydantic puts before it."""
    return msg.removeprefix("Value error, ")


class BadParams(ValueError):
    """Params (or a publish's data) that cannot be used: HTTP 422 with `errors` as FastAPI's
    `detail` list (`{loc, msg, type}` each); `str()` names each field and why, for code that calls
    the desk directly (Backend.publish)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'params'}: {e.get('msg')}" for e in errors
        )
        super().__init__(f"invalid params: {where}" if where else "invalid params")
        self.errors = errors

    @classmethod
    def of(cls, exc: ValidationError, field: str) -> BadParams:
        """From pydantic's errors on the body's `field` ("params", "data"), located as FastAPI
        locates its own (`["body", field, ...]`), each message a sentence."""
        return cls(
            [{"loc": ["body", field, *e["loc"]], "msg": sentence(e["msg"]), "type": e["type"]} for e in exc.errors()]
        )


def validate_with(job_kind: JobKind, params: dict[str, Any]) -> Params:
    try:
        return job_kind.params.model_validate(params)
    except ValidationError as exc:
        raise BadParams.of(exc, "params") from None


def unknown_kind(kind: str, custom: list[str] = []) -> BadParams:  # noqa: B006 (read only)
    names = sorted([*KINDS, *custom])
    return BadParams(
        [{"loc": ["body", "kind"], "msg": f"unknown job kind {kind!r}; one of {names}", "type": "value_error"}]
    )


async def resolve_kind(name: str, store: Any) -> JobKind | None:
    """A built-in kind, or a custom one the job store holds (pickled by value: see `pack_kind`)."""
    kind = KINDS.get(name)
    if kind is None and store is not None:
        blob = await store.kind(name)
        if blob is not None:
            from ray import cloudpickle

            kind = cloudpickle.loads(blob)
    return kind


def pack_kind(kind: JobKind) -> bytes:
    """Pickle a custom kind by value, so the store, the ingress and monitors can load it without
    importing the notebook's or script's own modules."""
    import sys

    from ray import cloudpickle

    if kind.name in KINDS:
        raise ValueError(f"{kind.name!r} is a built-in job kind")
    for obj in (kind.runner, kind.params):
        module = sys.modules.get(getattr(obj, "__module__", "__main__"))
        if (
            module is not None
            and module.__name__ not in ("__main__", "builtins")
            and not module.__name__.startswith(("jobs.", "hub.", "actors.", "pydantic"))
        ):
            cloudpickle.register_pickle_by_value(module)
    return cloudpickle.dumps(kind)


def _load_builtin() -> None:
    from jobs import document_job, quiz_job

    register_kind(
        JobKind(
            "quiz_generation",
            QuizGenerationParams,
            quiz_job.run,
            lambda p: {"quiz_id": p.quiz_id, "document_id": p.document_id},
            check=quiz_job.check_quiz,
        )
    )
    register_kind(
        JobKind(
            "question_replace",
            QuestionReplaceParams,
            quiz_job.replace_question,
            lambda p: {"quiz_id": p.quiz_id, "question_id": p.question_id},
            message_extra=lambda r: {"question": r["question"]},
            check=quiz_job.check_replace,
        )
    )
    register_kind(
        JobKind(
            "document_processing", DocumentProcessingParams, document_job.run, lambda p: {"document_id": p.document_id}
        )
    )


_load_builtin()
