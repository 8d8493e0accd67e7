"""The built-in job kinds' parameters: pydantic models validated at submission (camelCase in JSON,
unknown fields refused), so a job that cannot run is a 422 before it costs anything."""

from __future__ import annotations

import base64
import binascii
import uuid

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from pydantic.alias_generators import to_camel

from jobs import documents
from jobs.text import TOKEN_RE

# Characters of inline document text: part of the params' schema (OpenAPI shows it); even as
# \uXXXX escapes (6 bytes each) it fits in the default HUB_MAX_BODY.
MAX_TEXT = 2_000_000
# The validation context's key for the most bytes a document upload may hold (the hub's
# Settings.max_upload; `jobs.kinds.validate_with` passes it at submission). Without it (a job's
# monitor re-reading params the desk admitted) the size is not checked again.
MAX_UPLOAD_KEY = "max_upload"
# Bytes of a document that count as one item of `document_processing`'s size (its job_size): about
# as long to process as the job's fixed part (its task's start and the save).
DOCUMENT_SIZE_UNIT = 256 * 1024


def has_words(text: str) -> bool:
    """Whether `text` holds a word or a number (the tokens quizzes and the index are made of)."""
    return TOKEN_RE.search(text) is not None


class Params(BaseModel):
    """The base of every job kind's params model: camelCase names in JSON (`numQuestions`; the snake_case
    names are accepted too) and unknown fields refused. A submission whose params do not validate is
    refused with 422 naming each field (jobs.kinds.validate_with: InvalidParams)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def upload_size(self) -> int:
        """Bytes of the document these params upload, which the desk checks against
        Settings.max_upload (422 past it); 0 for params that upload none."""
        return 0

    def job_size(self) -> float:
        """How big the job is, in items of its kind's recorded pace (hub.core.eta): its ETA before the
        first progress is the kind's seconds per item x this. 1 unless the kind says otherwise (a custom
        kind's params model may override it with a number > 0)."""
        return 1.0


class AnyParams(Params):
    """Params of a custom kind that declared no model: any JSON object."""

    model_config = ConfigDict(extra="allow")


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class QuizGenerationParams(Params):
    """`quiz_generation`'s params (PROTOCOL.md section 5): the source `text` (up to MAX_TEXT characters,
    with a word or number in it) or a `documentId`; `numQuestions` (1 to 50, default 10); `quizId` (up
    to 128 characters; made, `quiz-<12 hex>`, when absent). ValueError (a 422) naming what is missing."""

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

    def job_size(self) -> float:
        """The questions asked (`numQuestions`): a quiz's duration grows with them (hub.core.eta)."""
        return float(self.num_questions)


class QuestionReplaceParams(Params):
    """`question_replace`'s params (PROTOCOL.md section 5): `quizId` and `questionId` (1 to 128 characters
    each)."""

    quiz_id: str = Field(min_length=1, max_length=128)
    question_id: str = Field(min_length=1, max_length=128)


class DocumentProcessingParams(Params):
    """`document_processing`'s params (PROTOCOL.md section 5): `text` (up to MAX_TEXT characters, with a
    word or number in it) or `content` (the file, base64) with its `filename`; `documentId` (up to 128
    characters; made, `doc-<12 hex>`, when absent). An upload that cannot be a readable document, or is
    over the validation context's MAX_UPLOAD_KEY bytes, is refused (jobs.documents.check_upload), as is
    invalid base64: each a 422 saying why."""

    document_id: str | None = Field(default=None, max_length=128)
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    content: str | None = Field(default=None, description="the file, base64")
    filename: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _source(self, info: ValidationInfo) -> DocumentProcessingParams:
        if self.content is not None:
            if not self.filename:
                raise ValueError("`content` needs its `filename` (.txt, .md, .html or .pdf)")
            try:
                raw = base64.b64decode(self.content, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("`content` is not valid base64") from None
            limit = (info.context or {}).get(MAX_UPLOAD_KEY)
            documents.check_upload(raw, self.filename, limit)  # DocumentError (over the limit too): 422
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
        """Bytes of the document (the desk checks them against Settings.max_upload: 422 past it, as any
        param that cannot run)."""
        if self.content is not None:
            return len(self.content) * 3 // 4 - self.content[-2:].count("=")
        return len((self.text or "").encode())

    def job_size(self) -> float:
        """1 + the document's bytes / DOCUMENT_SIZE_UNIT: a fixed part (the task's start, the save) and a
        part that grows with the bytes (extracting, chunking and indexing take about 0.5 s per MB of
        text and 1.4 s per MB of PDF on one core, linear from 10 kB to 4 MB, 2026-12-01), so the
        pace recorded from small documents does not overstate a large one's duration (hub.core.eta)."""
        return 1.0 + self.upload_size() / DOCUMENT_SIZE_UNIT

    def raw_bytes(self) -> tuple[bytes, str]:
        """The document as (bytes, filename): `content` decoded, or `text` as UTF-8; the filename is
        "document.txt" when none was given."""
        if self.content is not None:
            return base64.b64decode(self.content), self.filename or "document.txt"
        return (self.text or "").encode(), self.filename or "document.txt"
