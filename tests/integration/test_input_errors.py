"""Issue 13 C: every error a person sees is a sentence about their input or "the hub failed;
reference X" (the traceback is in the log under X), on every transport; inputs that can be checked
are refused with 422 before a job starts."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import ray

from hub.core.errors import InvalidInput
from hub.server import LocalHub
from jobs import JobFailed, connect
from jobs.kinds import Params
from tests.conftest import scaled
from tests.integration.conftest import Api, messages_until, open_ws, terminal

LEAKS = re.compile(
    r"Traceback|ray::|\x1b|pid=|ip=|\d+\.\d+\.\d+\.\d+|/\w+/\w+|\w+\.py\b|File \"|RayTaskError|line \d+", re.I
)
REFERENCE = re.compile(r"the hub failed; reference ([0-9a-f]{8})")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", "<w:document>Photosynthesis makes sugar from light.</w:document>")
    return buf.getvalue()


def listed(api: Api) -> list[dict[str, Any]]:
    """GET /api/jobs: the list of jobs (the whole answer, or its one list when it is paged)."""
    body = api.http.get("/api/jobs").json()
    return body if isinstance(body, list) else next(v for v in body.values() if isinstance(v, list))


def assert_sentence(text: str) -> None:
    assert text and not LEAKS.search(text), text


# -- refused at submission -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "says"),
    [
        ("quiz_generation", {"text": "", "numQuestions": 3}, "empty"),
        ("quiz_generation", {"text": "   \n\t  ", "numQuestions": 3}, "empty"),
        ("quiz_generation", {"text": "?! -- ...", "numQuestions": 3}, "no words"),
        ("document_processing", {"text": ""}, "empty"),
        ("document_processing", {"text": " \n \n "}, "empty"),
        ("document_processing", {"content": b64(b""), "filename": "notes.txt"}, "empty"),
        ("document_processing", {"content": b64(b"  \n\t "), "filename": "notes.txt"}, "no readable text"),
        ("document_processing", {"content": b64(docx()), "filename": "lesson.docx"}, "not a supported file type"),
        ("document_processing", {"content": b64(b"Just words, no PDF."), "filename": "lesson.pdf"}, "not a PDF"),
        ("document_processing", {"content": b64(docx()), "filename": "lesson.txt"}, "ZIP archive"),
    ],
)
def test_inputs_checked_at_submission_are_refused_with_a_sentence_and_start_nothing(
    hub: LocalHub, educator: Api, kind: str, params: dict[str, Any], says: str
) -> None:
    reply = educator.http.post("/api/jobs", json={"kind": kind, "params": params})
    assert reply.status_code == 422, reply.text
    messages = [e["msg"] for e in reply.json()["detail"]]
    assert any(says in m for m in messages), messages
    for message in messages:
        assert_sentence(message.replace("lesson.pdf", "").replace("lesson.docx", "").replace("lesson.txt", ""))
    if "filename" in params and "supported" in says:
        assert all(ext in messages[0] for ext in (".txt", ".md", ".html", ".pdf"))  # names what is supported
    assert listed(educator) == []  # no job was started


def test_a_document_over_the_limit_is_refused_before_a_job_starts(hub: LocalHub, educator: Api) -> None:
    content = b64(b"a" * (hub.settings.max_upload + 1))  # HUB_MAX_UPLOAD, 20 MiB by default
    reply = educator.http.post(
        "/api/jobs", json={"kind": "document_processing", "params": {"content": content, "filename": "big.txt"}}
    )
    assert reply.status_code == 422  # issue 13 C: refused before a job starts, as any param that cannot run
    assert "the limit is 20 MiB" in json.dumps(reply.json()["detail"])
    assert listed(educator) == []


# -- failing inside a task -------------------------------------------------------------------------


def run(hub: LocalHub, api: Api, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Submit with a WebSocket open; return the failed job as every transport shows it."""

    async def go() -> dict[str, Any]:
        ws, _ = await open_ws(hub, {"token": api.token})
        reply = await asyncio.to_thread(api.http.post, "/api/jobs", json={"kind": kind, "params": params})
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["jobId"]
        envelopes, _ = await messages_until(ws, terminal(job_id))
        await ws.close()
        again, welcome = await open_ws(hub, {"token": api.token})
        await again.close()
        return {"ws": envelopes[-1]["data"], "snapshot": welcome["snapshot"], "jobId": job_id}

    got = asyncio.run(go())
    job_id = got["jobId"]
    first = api.http.get("/api/events", params={"timeout": 0}).json()
    polled = api.http.get("/api/events", params={"epoch": first["epoch"], "after": 0, "timeout": 0}).json()
    shown = {
        "ws": got["ws"],
        "snapshot": next(j for j in got["snapshot"] if j["jobId"] == job_id),
        "get": api.http.get(f"/api/jobs/{job_id}").json(),
        "list": next(j for j in listed(api) if j["jobId"] == job_id),
        "poll_snapshot": next(j for j in first["snapshot"] if j["jobId"] == job_id),
        "poll": [m["data"] for m in polled["messages"] if m["data"].get("jobId") == job_id][-1],
    }
    errors = {where: (s["status"], s.get("error"), s["message"]) for where, s in shown.items()}
    assert len(set(errors.values())) == 1, errors  # the same on every transport
    status, error, message = errors["ws"]
    assert status == "failed" and error and message == f"Failed: {error}"
    assert_sentence(error)
    return {"jobId": job_id, "error": error}


def test_a_pdf_valid_at_its_header_but_damaged_fails_with_a_sentence(hub: LocalHub, educator: Api) -> None:
    params = {"content": b64(b"%PDF-1.4\n1 0 obj << /Type /Catalog broken"), "filename": "damaged.pdf"}
    failed = run(hub, educator, "document_processing", params)
    assert failed["error"] == "damaged.pdf could not be read as a PDF; the file may be damaged."


def test_a_text_that_cannot_yield_questions_fails_with_the_tasks_sentence(hub: LocalHub, educator: Api) -> None:
    failed = run(hub, educator, "quiz_generation", {"text": "Hi there. Ok.", "numQuestions": 3})
    assert failed["error"].startswith("The text cannot yield any question")


def in_ray_logs(text: str, timeout: float) -> bool:
    """Whether `text` appears in the Ray session's worker logs (where actors' hub.* loggers write)."""
    logs = Path(ray._private.worker._global_node.get_logs_dir_path())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in logs.glob("worker-*"):
            try:
                if text in path.read_text(errors="replace"):
                    return True
            except OSError:
                continue
        time.sleep(0.2)
    return False


class WhichParams(Params):
    how: str


@ray.remote(max_retries=0)
def _task_that_refuses(sentence: str) -> None:
    raise InvalidInput(sentence)


@ray.remote(max_retries=0)
def _task_that_breaks() -> None:
    raise OSError("[Errno 28] No space left on device: '/srv/hub/scratch/tmp-4242'")


async def failing_kind(ctx: Any, params: WhichParams) -> dict[str, Any]:
    ctx.progress(10.0, "Checking the rows")
    if params.how == "input":
        raise InvalidInput("Row 3 of the answer sheet has no answer; fill it in and submit again.")
    if params.how == "task-input":
        await ctx.track(_task_that_refuses.remote("The answer sheet is empty; add at least one row."))
    if params.how == "task-crash":
        await ctx.track(_task_that_breaks.remote())
    raise RuntimeError(f"unexpected state in {__file__} (pid 4242)")


@pytest.fixture(scope="module")
def failing_registered(hub: LocalHub) -> None:
    nb = connect(hub.url, hub.token("errors-registrar"), namespace=hub.settings.namespace)
    nb.register_kind("failing_kind", failing_kind, WhichParams)
    nb.close()


@pytest.mark.parametrize(
    ("how", "sentence"),
    [
        ("input", "Row 3 of the answer sheet has no answer; fill it in and submit again."),
        ("task-input", "The answer sheet is empty; add at least one row."),
    ],
)
def test_a_custom_kind_raising_the_input_error_shows_its_sentence(
    hub: LocalHub, educator: Api, failing_registered: None, how: str, sentence: str
) -> None:
    assert run(hub, educator, "failing_kind", {"how": how})["error"] == sentence


@pytest.mark.parametrize("how", ["plain", "task-crash"])
def test_a_custom_kind_failing_otherwise_shows_a_reference_that_is_in_the_log(
    hub: LocalHub, educator: Api, failing_registered: None, how: str
) -> None:
    failed = run(hub, educator, "failing_kind", {"how": how})
    found = REFERENCE.fullmatch(failed["error"])
    assert found, failed["error"]
    assert in_ray_logs(f"reference {found.group(1)}", scaled(15))  # the traceback is logged under it


def test_the_notebook_client_says_the_same_sentence(hub: LocalHub, educator: Api, failing_registered: None) -> None:
    nb = connect(hub.url, educator.token, namespace=hub.settings.namespace)
    try:
        job = nb.submit("failing_kind", how="task-input")
        with pytest.raises(JobFailed) as info:
            job.result(timeout=scaled(60))
    finally:
        nb.close()
    text = str(info.value)
    assert text.endswith("failed: The answer sheet is empty; add at least one row.")
    assert not LEAKS.search(json.dumps(info.value.state["error"]))


def test_a_quiz_or_document_that_is_not_the_educators_is_refused_at_submission(hub: LocalHub, educator: Api) -> None:
    """What the job store already shows wrong is a 422 before a job starts, not a failed job: an
    unknown quiz, a question the quiz lacks, another educator's quiz, an unknown document."""
    other = Api(hub, hub.token(f"{educator.educator_id}-other"))
    theirs = other.submit_quiz(n=2)
    deadline = time.monotonic() + scaled(60)
    while (state := other.http.get(f"/api/jobs/{theirs}").json())["status"] != "completed":
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    quiz = other.http.get(f"/api/jobs/{theirs}/result").json()
    question = quiz["questions"][0]["id"]

    refused = [
        ("question_replace", {"quizId": "zzz", "questionId": "q1"}, "no quiz 'zzz'"),
        ("question_replace", {"quizId": quiz["quizId"], "questionId": question}, f"no quiz {quiz['quizId']!r}"),
        ("quiz_generation", {"documentId": "doc-nowhere", "numQuestions": 2}, "no processed document 'doc-nowhere'"),
    ]
    for kind, params, says in refused:
        reply = educator.http.post("/api/jobs", json={"kind": kind, "params": params})
        assert reply.status_code == 422, reply.text
        assert says in reply.json()["detail"], reply.json()
    missing = other.http.post(
        "/api/jobs", json={"kind": "question_replace", "params": {"quizId": quiz["quizId"], "questionId": "nope"}}
    )
    assert missing.status_code == 422 and "has no question 'nope'" in missing.json()["detail"]
    assert listed(educator) == []  # nothing started
    ok = other.http.post(
        "/api/jobs", json={"kind": "question_replace", "params": {"quizId": quiz["quizId"], "questionId": question}}
    )
    assert ok.status_code == 202, ok.text  # the owner's own quiz and question pass
