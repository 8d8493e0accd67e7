"""What a person is shown when a job fails, and the inputs refused at submission (no Ray started:
Ray's exception classes are built by hand, as Ray builds them on the way back from a task)."""

from __future__ import annotations

import base64
import io
import json
import pickle
import re
import traceback
import zipfile
from typing import Any

import pytest
from ray.exceptions import RayTaskError

from hub.core.errors import (
    HUB_FAILED,
    ClientError,
    InvalidInput,
    InvalidParams,
    clean_sentence,
    new_reference,
    public_reason,
    unwrap,
)
from hub.settings import Settings
from jobs.documents import SUPPORTED, DocumentError, check_upload, extract_text
from jobs.kinds import KINDS, validate_with
from jobs.quiz import QuizInputError
from tests.pdfgen import make_pdf

MAX_BYTES = Settings.model_fields["max_upload"].default  # the hub's upload limit (HUB_MAX_UPLOAD), as shipped

ANSI = re.compile(r"\x1b\[")
LEAKS = ("Traceback", "ray::", "pid=", "ip=", "10.0.0.7", "/srv/", ".py", 'File "', "\n")


def from_ray_task(exc: Exception, name: str = "analyse_document") -> Exception:
    """`exc` as awaiting a Ray task that raised it gives it: RayTaskError(<its class>), whose str is
    the task's coloured traceback with the worker's pid, IP and file paths."""
    try:
        raise exc
    except Exception as raised:
        tb = traceback.format_exc().replace("<stdin>", "/srv/hub/jobs/tasks.py")
        wrapped = RayTaskError(name, tb, raised, proctitle=f"ray::{name}()", pid=4242, ip="10.0.0.7")
    return wrapped.as_instanceof_cause()


def assert_clean(text: str) -> None:
    assert not ANSI.search(text), text
    for leak in LEAKS:
        assert leak not in text, (leak, text)


def test_a_wrapped_input_error_is_what_the_task_raised() -> None:
    original = QuizInputError("The text is empty, so there is nothing to make questions from.")
    wrapped = from_ray_task(original)
    assert "ray::analyse_document" in str(wrapped) and ANSI.search(str(wrapped))  # what used to be shown
    assert unwrap(wrapped) is original
    twice = from_ray_task(wrapped, "process_document")  # a task that awaited another task
    assert unwrap(twice) is original
    plain = ValueError("x")
    assert unwrap(plain) is plain


@pytest.mark.parametrize(
    "error",
    [
        QuizInputError("The text is empty, so there is nothing to make questions from."),
        DocumentError("x.pdf could not be read as a PDF; the file may be damaged."),
        InvalidInput("Row 3 of your spreadsheet has no answer column."),
    ],
)
def test_an_input_error_is_shown_as_its_sentence_wrapped_or_not(error: InvalidInput) -> None:
    for exc in (error, from_ray_task(error)):
        shown, about_input = public_reason(exc, "abcd1234")
        assert about_input and shown == error.message
        assert_clean(shown)


@pytest.mark.parametrize(
    "error",
    [
        ValueError('bad thing in File "/srv/hub/jobs/quiz.py", line 3'),
        KeyError("quiz-123"),
        RuntimeError(""),
        ZeroDivisionError("division by zero"),
        ClientError("a hub error that is not about the job's input"),
    ],
)
def test_anything_else_is_the_hub_failed_with_a_reference(error: Exception) -> None:
    for exc in (error, from_ray_task(error)):
        shown, about_input = public_reason(exc, "abcd1234")
        assert not about_input and shown == "the hub failed; reference abcd1234" == HUB_FAILED.format(
            reference="abcd1234"
        )


def test_an_input_error_without_words_falls_back_to_the_reference() -> None:
    assert public_reason(InvalidInput("  \x1b[31m\x1b[0m "), "ref00001") == (
        "the hub failed; reference ref00001",
        False,
    )


def test_references_are_short_and_distinct() -> None:
    refs = {new_reference() for _ in range(200)}
    assert len(refs) == 200 and all(re.fullmatch(r"[0-9a-f]{8}", r) for r in refs)


def test_clean_sentence_drops_escapes_and_control_characters_and_caps_the_length() -> None:
    assert clean_sentence("\x1b[36mRow 3\x1b[39m is\tempty.\n\x00Fix it.\x07") == "Row 3 is empty. Fix it."
    long = clean_sentence("word " * 1000, limit=50)
    assert len(long) == 50 and long.endswith("…")


def test_input_errors_are_client_errors_and_value_errors_and_cross_processes() -> None:
    for cls in (QuizInputError, DocumentError):
        assert issubclass(cls, InvalidInput) and issubclass(cls, ValueError)
        again = pickle.loads(pickle.dumps(cls("The text is empty.")))
        assert type(again) is cls and again.message == "The text is empty."
    assert InvalidInput.http_status == 422 and issubclass(InvalidInput, ClientError)


# -- uploads checked from their name and bytes ------------------------------------------------------


def docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document>Photosynthesis makes sugar.</w:document>")
    return buf.getvalue()


PDF = make_pdf([["Photosynthesis turns light into chemical energy in the chloroplasts of plants."]])


@pytest.mark.parametrize(
    ("content", "filename", "says"),
    [
        (docx(), "lesson.docx", "not a supported file type (.docx)"),
        (b"Plain words, honestly.", "lesson.pdf", "not a PDF file"),
        (docx(), "lesson.pdf", "not a PDF file"),
        (b"", "lesson.pdf", "empty"),
        (b"", "empty.txt", "empty"),
        (b"   \n\t  ", "blank.txt", "no readable text"),
        (docx(), "lesson.txt", "ZIP archive"),
        (PDF, "lesson.md", "is a PDF"),
        (b"\x89PNG\r\n\x1a\n....", "photo.html", "PNG image"),
        (b"abc\x00\x01\x02 binary", "data.txt", "binary"),
        (b"x" * (MAX_BYTES + 1), "huge.txt", "limit is 20 MiB"),
    ],
)
def test_uploads_that_cannot_be_documents_are_refused_with_a_sentence(content: bytes, filename: str, says: str) -> None:
    with pytest.raises(DocumentError, match=re.escape(says)) as info:
        check_upload(content, filename, MAX_BYTES)
    assert info.value.message.endswith(".") and filename in info.value.message
    if "supported" in says or "PDF file" in says:
        assert all(ext in info.value.message for ext in SUPPORTED)  # it names what is supported
    with pytest.raises(DocumentError):
        extract_text(content, filename, max_bytes=MAX_BYTES)  # the task refuses it the same way


def test_real_documents_pass_the_upload_check() -> None:
    check_upload(PDF, "lesson.pdf")
    check_upload(b"\r\n" + PDF, "lesson.pdf")  # a little junk before the header is allowed (PDF 1.7 H.3)
    check_upload("Fotosíntesis: la luz.".encode("utf-16"), "notes.txt")
    check_upload(b"<p>Chloroplasts</p>", "page.html")
    assert "Photosynthesis" in extract_text(PDF, "lesson.pdf")


def test_a_pdf_valid_at_its_header_but_damaged_fails_in_the_task_with_a_sentence() -> None:
    check_upload(b"%PDF-1.4 not really a pdf", "x.pdf")  # cannot be told at submission
    with pytest.raises(DocumentError, match="could not be read as a PDF") as info:
        extract_text(b"%PDF-1.4 not really a pdf", "x.pdf")
    assert_clean(public_reason(info.value, "r")[0])


# -- job params refused at submission (422) --------------------------------------------------------


def refusal(kind: str, params: dict[str, Any]) -> str:
    with pytest.raises(InvalidParams) as info:
        validate_with(KINDS[kind], params)
    return json.dumps(info.value.errors)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("kind", "params", "says"),
    [
        ("quiz_generation", {"text": ""}, "empty (or only spaces)"),
        ("quiz_generation", {}, "give the source document"),
        ("quiz_generation", {"text": " \n\t "}, "empty (or only spaces)"),
        ("quiz_generation", {"text": "   ", "documentId": "doc-1"}, "empty (or only spaces)"),
        ("quiz_generation", {"text": "?! ... --"}, "no words or numbers"),
        ("document_processing", {"text": ""}, "empty (or only spaces)"),
        ("document_processing", {"text": "  \n "}, "empty (or only spaces)"),
        ("document_processing", {"text": "!!! ???"}, "no words or numbers"),
        ("document_processing", {"content": b64(docx()), "filename": "lesson.docx"}, "not a supported file type"),
        ("document_processing", {"content": b64(b"hello there"), "filename": "fake.pdf"}, "not a PDF file"),
        ("document_processing", {"content": b64(b""), "filename": "a.txt"}, "is empty"),
        ("document_processing", {"content": b64(b" \n "), "filename": "a.txt"}, "no readable text"),
    ],
)
def test_inputs_that_can_be_checked_at_submission_are_refused_with_a_sentence(
    kind: str, params: dict[str, Any], says: str
) -> None:
    assert says in refusal(kind, params)


def test_good_inputs_pass_validation() -> None:
    validate_with(KINDS["quiz_generation"], {"text": "Plants make sugar from light."})
    validate_with(KINDS["quiz_generation"], {"documentId": "doc-1"})
    validate_with(KINDS["document_processing"], {"content": b64(PDF), "filename": "lesson.pdf"})
    size = validate_with(KINDS["document_processing"], {"content": b64(b"abcd"), "filename": "a.txt"})
    assert size.upload_size() == 4  # type: ignore[attr-defined]


# -- an actor that fails to answer ----------------------------------------------------------------


def test_an_actor_call_that_fails_is_a_sentence_and_the_log_says_what_failed(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio
    import logging

    from actors.handles import StoreClient
    from actors.store import StoreBusy
    from hub.core.errors import UpstreamError

    class Method:
        def remote(self, *args: Any) -> Any:
            async def fail() -> None:
                raise from_ray_task(StoreBusy("the job store could not write (database is locked)"), "save")

            return fail()

    class Handle:
        save = Method()

    with caplog.at_level(logging.WARNING, logger="hub.ray"), pytest.raises(UpstreamError) as info:
        asyncio.run(StoreClient(Handle()).save({"jobId": "j"}))
    assert info.value.message == "the hub's job store did not answer; try again in a moment"
    assert any("job store: save failed: StoreBusy" in r.getMessage() for r in caplog.records)


def test_a_params_refusal_is_the_validators_sentence_without_pydantics_prefix() -> None:
    from jobs.kinds import KINDS, validate_with

    with pytest.raises(InvalidParams) as info:
        validate_with(KINDS["quiz_generation"], {"text": "   "})
    msg = info.value.errors[0]["msg"]
    assert msg.startswith("the `text` is empty"), msg  # pydantic's own "Value error, " is gone
    assert str(info.value).startswith("invalid params: ") and "Value error" not in str(info.value)
