"""Idempotent submission against the real hub (PROTOCOL.md section 9, first bullet; Ray, uvicorn, the job
store actor on its SQLite file): a repeat of an `Idempotency-Key` is 200 with the first job and no second
job exists; another body is 409; a malformed or over-long key is 422; another educator's same key is
their own; ten concurrent requests with one key start one job; keys survive a hub restart; the notebook
client sends a key by default and the one it is given."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.server import LocalHub
from hub.settings import Settings
from jobs import connect
from tests.conftest import scaled
from tests.integration.conftest import DOCUMENT, SECRET, Api
from tests.integration.test_restart import kill_everything

BODY = {"kind": "quiz_generation", "params": {"text": DOCUMENT, "numQuestions": 1}}


def post(api: Api, key: str | None, body: dict[str, Any] = BODY) -> httpx.Response:
    return api.http.post("/api/jobs", json=body, headers={} if key is None else {"Idempotency-Key": key})


def jobs_of(api: Api) -> list[dict[str, Any]]:
    reply = api.http.get("/api/jobs")
    assert reply.status_code == 200, reply.text
    return list(reply.json())


def test_a_repeat_is_200_with_the_first_job_and_only_one_job_exists(educator: Api) -> None:
    first = post(educator, "quiz-1")
    assert first.status_code == 202 and first.json()["status"] == "queued"
    job_id = first.json()["jobId"]
    again = post(educator, "quiz-1")
    assert again.status_code == 200, again.text
    assert set(again.json()) == {"jobId", "status"} and again.json()["jobId"] == job_id
    assert again.json()["status"] in {"queued", "processing", "completed"}
    assert [j["jobId"] for j in jobs_of(educator)] == [job_id]
    deadline = time.monotonic() + scaled(60)
    while educator.http.get(f"/api/jobs/{job_id}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    later = post(educator, "quiz-1")
    assert later.status_code == 200 and later.json() == {"jobId": job_id, "status": "completed"}
    assert len(jobs_of(educator)) == 1


def test_another_body_with_the_same_key_is_409(educator: Api) -> None:
    job_id = post(educator, "quiz-2").json()["jobId"]
    other = {"kind": "quiz_generation", "params": {"text": DOCUMENT, "numQuestions": 2}}
    clash = post(educator, "quiz-2", other)
    assert clash.status_code == 409
    assert "Idempotency-Key" in clash.json()["detail"] and "different submission" in clash.json()["detail"]
    assert [j["jobId"] for j in jobs_of(educator)] == [job_id]
    metrics = httpx.get(f"{educator.hub.url}/metrics").text
    assert "hub_idempotency_conflicts_total" in metrics and "hub_idempotent_repeats_total" in metrics


@pytest.mark.parametrize(
    ("raw", "words"),
    [(b"", "empty"), (b"k" * 129, "129 characters long"), ("clé".encode(), "not printable ASCII")],
)
def test_a_malformed_or_over_long_key_is_422_with_a_sentence(educator: Api, raw: bytes, words: str) -> None:
    headers = [(b"authorization", f"Bearer {educator.token}".encode()), (b"idempotency-key", raw)]
    reply = httpx.post(f"{educator.hub.url}/api/jobs", json=BODY, headers=headers)
    assert reply.status_code == 422, reply.text
    (error,) = reply.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"] and words in error["msg"]
    assert jobs_of(educator) == []


def test_the_same_key_from_another_educator_is_a_separate_job(hub: LocalHub, educator: Api) -> None:
    other = Api(hub, hub.token(f"{educator.educator_id}-other"))
    mine = post(educator, "shared-key")
    theirs = post(other, "shared-key")
    assert (mine.status_code, theirs.status_code) == (202, 202)
    assert mine.json()["jobId"] != theirs.json()["jobId"]
    assert [j["jobId"] for j in jobs_of(educator)] == [mine.json()["jobId"]]
    assert [j["jobId"] for j in jobs_of(other)] == [theirs.json()["jobId"]]


def test_ten_concurrent_requests_with_one_key_start_one_job(educator: Api) -> None:
    with ThreadPoolExecutor(10) as pool:
        clients = [httpx.Client(base_url=educator.hub.url, headers=dict(educator.http.headers)) for _ in range(10)]
        replies = list(pool.map(lambda c: c.post("/api/jobs", json=BODY, headers={"Idempotency-Key": "race"}), clients))
        for c in clients:
            c.close()
    codes = sorted(r.status_code for r in replies)
    assert codes == [200] * 9 + [202], [r.text for r in replies]
    assert len({r.json()["jobId"] for r in replies}) == 1
    assert len(jobs_of(educator)) == 1


def test_the_notebook_client_sends_a_fresh_key_by_default_and_the_one_given(hub: LocalHub, educator: Api) -> None:
    nb = connect(hub.url, educator.token)
    try:
        a = nb.submit("quiz_generation", text=DOCUMENT, numQuestions=1)
        b = nb.submit("quiz_generation", text=DOCUMENT, numQuestions=1)
        assert a.id != b.id  # a fresh key per call: two jobs
        c = nb.submit_quiz(DOCUMENT, num_questions=1, idempotency_key="nb-key")
        d = nb.submit_quiz(DOCUMENT, num_questions=1, idempotency_key="nb-key")
        assert c.id == d.id
        assert post(educator, "nb-key", BODY).json()["jobId"] == c.id  # the same key over plain HTTP
        assert len(jobs_of(educator)) == 3
    finally:
        nb.close()


def test_keys_survive_a_hub_restart_on_the_same_store(hub: LocalHub, tmp_path: Path) -> None:
    settings = Settings(
        port=0, secret=SECRET, data_dir=tmp_path, namespace="hub-idem-restart", shards=1, log_level="warning"
    )
    first = LocalHub(settings)
    token = first.token("idem-restart")
    job_id = ""
    try:
        api = Api(first, token)
        reply = post(api, "before-restart")
        assert reply.status_code == 202
        job_id = reply.json()["jobId"]
        deadline = time.monotonic() + scaled(60)
        while api.http.get(f"/api/jobs/{job_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        first.stop()
        kill_everything(settings.namespace, settings.shards, [job_id] if job_id else [])
    second = LocalHub(settings)
    try:
        api = Api(second, token)
        again = post(api, "before-restart")
        assert again.status_code == 200 and again.json() == {"jobId": job_id, "status": "completed"}
        other = {"kind": "quiz_generation", "params": {"text": DOCUMENT, "numQuestions": 2}}
        assert post(api, "before-restart", other).status_code == 409
        assert [j["jobId"] for j in jobs_of(api)] == [job_id]
    finally:
        second.stop()
        kill_everything(settings.namespace, settings.shards, [])
