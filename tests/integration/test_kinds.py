"""Every job kind under its own monitor actor, custom kinds, and cancellation at each stage."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import ray

from hub.server import LocalHub
from jobs import connect
from jobs.kinds import Params
from tests.conftest import scaled
from tests.integration.conftest import DOCUMENT, Api, messages_until, open_ws, terminal
from tests.pdfgen import make_pdf


def run_job(
    hub: LocalHub, api: Api, kind: str, params: dict[str, Any], timeout: float = 60.0, after_submit: Any = None
) -> list[dict[str, Any]]:
    """Submit a job with a WebSocket open; return its messages up to its terminal one."""

    async def go() -> list[dict[str, Any]]:
        ws, _ = await open_ws(hub, {"token": api.token})
        reply = await asyncio.to_thread(api.http.post, "/api/jobs", json={"kind": kind, "params": params})
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["jobId"]
        if after_submit is not None:
            await asyncio.to_thread(after_submit, job_id)
        envelopes, _ = await messages_until(ws, terminal(job_id), timeout)
        await ws.close()
        return [e for e in envelopes if e["data"].get("jobId") == job_id]

    return asyncio.run(go())


def statuses(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["data"]["status"] for m in msgs]


def test_question_replace_writes_a_new_different_question(hub: LocalHub, educator: Api) -> None:
    made = run_job(hub, educator, "quiz_generation", {"text": DOCUMENT, "numQuestions": 5})
    quiz = educator.http.get(f"/api/jobs/{made[0]['data']['jobId']}/result").json()
    old = quiz["questions"][1]
    msgs = run_job(hub, educator, "question_replace", {"quizId": quiz["quizId"], "questionId": old["id"]})
    assert {m["type"] for m in msgs} == {"question_replace"}
    assert statuses(msgs)[0] == "queued" and statuses(msgs)[-1] == "completed"
    assert all(m["data"]["quizId"] == quiz["quizId"] and m["data"]["questionId"] == old["id"] for m in msgs)
    new = msgs[-1]["data"]["question"]
    assert new["id"] == old["id"] and new["sourceSentence"] != old["sourceSentence"]
    others = {q["answer"].lower() for q in quiz["questions"] if q["id"] != old["id"]}
    assert new["answer"].lower() not in others
    result = educator.http.get(f"/api/jobs/{msgs[0]['data']['jobId']}/result").json()
    assert result["question"] == new

    # refused at submission (the job store shows them wrong), not failed jobs
    missing = {"kind": "question_replace", "params": {"quizId": quiz["quizId"], "questionId": "nope"}}
    reply = educator.http.post("/api/jobs", json=missing)
    assert reply.status_code == 422 and "no question 'nope'" in reply.json()["detail"]
    stranger = Api(hub, hub.token("someone-else"))
    theirs = {"kind": "question_replace", "params": {"quizId": quiz["quizId"], "questionId": old["id"]}}
    assert stranger.http.post("/api/jobs", json=theirs).status_code == 422  # not their quiz


@pytest.mark.parametrize("fmt", ["text", "md", "html", "pdf"])
def test_document_processing_stages_and_quiz_from_the_document(hub: LocalHub, educator: Api, fmt: str) -> None:
    sentences = [s.strip() + "." for s in DOCUMENT.split(". ") if s.strip()]
    if fmt == "text":
        params: dict[str, Any] = {"text": DOCUMENT}
    elif fmt == "md":
        md = "# Photosynthesis\n\n" + "\n\n".join(f"*{s}*" if i % 3 == 0 else s for i, s in enumerate(sentences))
        params = {"content": base64.b64encode(md.encode()).decode(), "filename": "notes.md"}
    elif fmt == "html":
        page = (
            "<html><head><style>p{}</style><script>var secret=1;</script></head><body>"
            + "".join(f"<p>{s}</p>" for s in sentences)
            + "</body></html>"
        )
        params = {"content": base64.b64encode(page.encode()).decode(), "filename": "page.html"}
    else:
        params = {
            "content": base64.b64encode(make_pdf([sentences[:12], sentences[12:]])).decode(),
            "filename": "paper.pdf",
        }
    msgs = run_job(hub, educator, "document_processing", params)
    assert {m["type"] for m in msgs} == {"document_processing"}
    assert statuses(msgs)[-1] == "completed", msgs[-1]
    stages = list(dict.fromkeys(m["data"]["stage"] for m in msgs))
    assert stages == ["uploaded", "parsing", "chunking", "indexing", "done"]
    doc_id = msgs[0]["data"]["documentId"]
    assert all(m["data"]["documentId"] == doc_id for m in msgs)
    result = educator.http.get(f"/api/jobs/{msgs[0]['data']['jobId']}/result").json()
    assert result["chunks"] >= 1 and result["characters"] > 500
    assert "secret" not in " ".join(result["terms"])

    quiz = run_job(hub, educator, "quiz_generation", {"documentId": doc_id, "numQuestions": 3})
    assert statuses(quiz)[-1] == "completed", quiz[-1]
    assert quiz[-1]["data"].get("quizId")


def test_bad_documents_fail_or_are_refused(hub: LocalHub, educator: Api) -> None:
    broken = run_job(
        hub,
        educator,
        "document_processing",
        {"content": base64.b64encode(b"%PDF-1.4 not really").decode(), "filename": "x.pdf"},
    )
    assert statuses(broken)[-1] == "failed" and broken[-1]["data"]["error"]
    for params in ({"content": "!!!", "filename": "a.txt"}, {"content": "aGk=", "filename": None}, {}):
        assert (
            educator.http.post("/api/jobs", json={"kind": "document_processing", "params": params}).status_code == 422
        )
    unknown_doc = educator.http.post(
        "/api/jobs", json={"kind": "quiz_generation", "params": {"documentId": "doc-nope"}}
    )
    assert unknown_doc.status_code == 422 and "no processed document 'doc-nope'" in unknown_doc.json()["detail"]


# -- custom kinds and cancellation -------------------------------------------------------------


class SlowParams(Params):
    steps: int = 20
    delay: float = 0.05


def slow_kind(ctx: Any, params: SlowParams) -> dict[str, int]:
    for i in range(params.steps):
        if ctx.cancelled:
            return {"stopped": i}
        ctx.progress(100 * i / params.steps, f"Step {i + 1} of {params.steps}")
        time.sleep(params.delay)
    return {"steps": params.steps}


@ray.remote(num_cpus=0, max_retries=0)
def ticker(path: str, count: int) -> int:
    # Written whole or not at all (a temporary file renamed over the marker): the cancel interrupts
    # the task anywhere, also between write_text's truncate and its write, which left an empty file.
    scratch = Path(path + ".tmp")
    for i in range(count):
        scratch.write_text(str(i))
        os.replace(scratch, path)
        time.sleep(0.05)
    return count


async def task_kind(ctx: Any, params: Any) -> dict[str, Any]:
    ctx.progress(5, "Ticking in a Ray task")
    return {"ticks": await ctx.track(ticker.remote(params.path, 1200))}


@pytest.fixture(scope="module")
def kinds_registered(hub: LocalHub) -> None:
    nb = connect(hub.url, hub.token("kind-registrar"), namespace=hub.settings.namespace)
    nb.register_kind("slow_steps", slow_kind, SlowParams)

    @nb.job_kind("ticking")
    async def ticking(ctx: Any, params: Any) -> dict[str, Any]:
        return await task_kind(ctx, params)

    nb.close()


def test_custom_kind_runs_with_progress_eta_and_validated_params(
    hub: LocalHub, educator: Api, kinds_registered: None
) -> None:
    msgs = run_job(hub, educator, "slow_steps", {"steps": 30, "delay": 0.05})
    assert statuses(msgs)[-1] == "completed"
    # The kind's own progress messages stream: several distinct steps, in order. Not one step in
    # particular: ticks 50 ms apart meet the monitor's 50 ms coalescing, which may drop any one.
    texts = [m["data"]["message"] for m in msgs]
    steps = [int(t.split()[1]) for t in texts if re.fullmatch(r"Step \d+ of 30", t)]
    assert len(set(steps)) >= 5 and steps == sorted(steps), steps
    assert any("etaSeconds" in m["data"] for m in msgs)
    assert msgs[-1]["data"].get("kind") == "slow_steps"
    assert educator.http.get(f"/api/jobs/{msgs[0]['data']['jobId']}/result").json() == {"steps": 30}
    bad = educator.http.post("/api/jobs", json={"kind": "slow_steps", "params": {"steps": "many"}})
    assert bad.status_code == 422
    unknown = educator.http.post("/api/jobs", json={"kind": "nope", "params": {}})
    assert "slow_steps" in unknown.text


def cancel_via_http(api: Api, delay: float) -> Any:
    def cancel(job_id: str) -> None:
        time.sleep(delay)
        reply = api.http.post(f"/api/jobs/{job_id}/cancel")
        assert reply.status_code == 202, reply.text

    return cancel


def test_cancel_while_queued(hub: LocalHub, educator: Api, kinds_registered: None) -> None:
    msgs = run_job(hub, educator, "slow_steps", {"steps": 200}, after_submit=cancel_via_http(educator, 0))
    assert statuses(msgs)[-1] == "cancelled"
    job_id = msgs[0]["data"]["jobId"]
    again = educator.http.post(f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_cancel_while_processing_stops_the_ray_task(
    hub: LocalHub, educator: Api, tmp_path: Path, kinds_registered: None
) -> None:
    marker = tmp_path / "ticks"

    def cancel_when_ticking(job_id: str) -> None:
        deadline = time.monotonic() + scaled(60)
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        cancel_via_http(educator, 0)(job_id)

    msgs = run_job(hub, educator, "ticking", {"path": str(marker)}, after_submit=cancel_when_ticking)
    assert statuses(msgs)[-1] == "cancelled"
    time.sleep(0.5)
    ticks = marker.read_text()
    time.sleep(1.0)
    assert marker.read_text() == ticks, "the job's Ray task kept running after cancel"
    assert int(ticks) < 1000


def test_cancel_op_over_websocket_and_after_completion(hub: LocalHub, educator: Api, kinds_registered: None) -> None:
    async def go() -> list[str]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        reply = await asyncio.to_thread(
            educator.http.post, "/api/jobs", json={"kind": "slow_steps", "params": {"steps": 400}}
        )
        job_id = reply.json()["jobId"]
        await messages_until(ws, lambda e: e["data"].get("jobId") == job_id and e["data"]["progress"] > 1)
        await ws.send(f'{{"op": "cancel", "jobId": "{job_id}"}}')
        envelopes, _ = await messages_until(ws, terminal(job_id))
        await ws.close()
        return [e["data"]["status"] for e in envelopes if e["data"].get("jobId") == job_id]

    assert asyncio.run(go())[-1] == "cancelled"
    done = run_job(hub, educator, "quiz_generation", {"text": DOCUMENT, "numQuestions": 2})
    late = educator.http.post(f"/api/jobs/{done[0]['data']['jobId']}/cancel")
    assert late.status_code == 409
    other = Api(hub, hub.token("not-the-owner")).http.post(f"/api/jobs/{done[0]['data']['jobId']}/cancel")
    assert other.status_code == 404


def assigned_resources(ctx: Any, params: Any) -> dict[str, float]:
    import ray

    return dict(ray.get_runtime_context().get_assigned_resources())


def test_a_kind_that_asks_for_a_cpu_gets_one_and_coordinators_ask_for_none(hub: LocalHub, educator: Api) -> None:
    nb = connect(hub.url, hub.token("resource-registrar"), namespace=hub.settings.namespace)
    nb.register_kind("needs_cpu", assigned_resources, resources={"num_cpus": 1})
    nb.register_kind("coordinates", assigned_resources)
    nb.close()
    for kind, cpus in (("needs_cpu", 1.0), ("coordinates", 0.0)):
        msgs = run_job(hub, educator, kind, {})
        assert statuses(msgs)[-1] == "completed", msgs[-1]
        got = educator.http.get(f"/api/jobs/{msgs[0]['data']['jobId']}/result").json()
        assert got.get("CPU", 0.0) == cpus, (kind, got)
