"""The notebook API against an in-process hub (`local_hub`), sharing this test run's Ray."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hub.core.errors import HubError
from hub.server import LocalHub
from jobs import JobFailed, connect, local_hub
from tests.conftest import scaled
from tests.integration.conftest import DOCUMENT, SECRET


def test_local_hub_submit_wait_result_and_failure(hub: LocalHub, tmp_path: Path) -> None:
    with local_hub("nb-alice", data_dir=tmp_path, namespace="hub-notebook-test", shards=1) as nb:
        job = nb.submit_quiz(DOCUMENT, num_questions=3)
        final = job.wait(timeout=scaled(60))
        assert final["status"] == "completed" and final["progress"] == 100
        quiz = job.result()
        assert len(quiz["questions"]) == 3
        assert job.status()["status"] == "completed"
        assert nb.jobs()[0]["jobId"] == job.id
        assert "completed" in repr(job)

        bad = nb.submit_quiz("Too short. Really.", num_questions=2)
        with pytest.raises(JobFailed) as info:
            bad.result(timeout=scaled(60))
        assert info.value.state["status"] == "failed" and info.value.state["error"]
        with pytest.raises(RuntimeError, match="422"):
            nb.submit("quiz_generation", numQuestions=99, text=DOCUMENT)


def test_local_hub_says_what_it_uses_files_under_the_educator_and_keeps_access_logs_out(
    hub: LocalHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with local_hub(educator="nb-erin", data_dir=tmp_path, namespace="hub-notebook-quiet", shards=1) as nb:
        said = capsys.readouterr().out
        assert f"data dir {tmp_path} (job store {tmp_path / 'jobs.db'})" in said
        assert f"secret from {tmp_path / 'secret'}" in said and "educator 'nb-erin'" in said
        assert nb._local.server.config.access_log is False  # no line per HTTP request in the cell
        job = nb.submit_quiz(DOCUMENT, num_questions=2)
        job.watch(timeout=scaled(60))
        assert nb.jobs()[0]["educatorId"] == "nb-erin"
        bar = capsys.readouterr().err
        assert "100%" in bar and "| completed" in bar and ", completed" not in bar
    with local_hub(educator="nb-erin", data_dir=tmp_path, namespace="hub-notebook-quiet", shards=1) as again:
        assert again.jobs()[0]["jobId"] == job.id  # stopped hubs release their data dir


def test_connect_with_another_hubs_secret_says_which_secret_signed_the_token(
    hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HUB_SECRET", "HUB_TOKEN", "HUB_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "secret").write_text("the-secret-of-some-other-hub-0123456789\n")
    with pytest.raises(HubError, match=f"refused a token signed with the secret from {tmp_path / 'secret'}"):
        connect(hub.url, educator="nb-frank", data_dir=tmp_path)


def test_connect_pages_through_jobs_and_renews_a_token_it_made(hub: LocalHub, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUB_TOKEN", "HUB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUB_SECRET", SECRET)  # connect() makes its tokens with the hub's secret
    with connect(hub.url, educator=f"nb-pages-{time.monotonic_ns() % 10**8}") as nb:
        submitted = [nb.submit_quiz(DOCUMENT, num_questions=1) for _ in range(3)]
        for job in submitted:
            job.wait(timeout=scaled(60))
        every = [j["jobId"] for j in nb.jobs()]
        assert sorted(every) == sorted(j.id for j in submitted)
        assert [j["jobId"] for j in nb.jobs(page=2)] == every  # two pages, followed by cursor
        assert [j["jobId"] for j in nb.jobs(limit=2, page=1)] == every[:2]

        first = nb.token
        time.sleep(1.1)  # iat has whole seconds: a token made now differs
        renewed = nb._fresh_token()  # what the WebSocket client calls before the token expires
        assert renewed != first
        reply = nb._http.get("/api/jobs", params={"limit": 1})
        assert reply.status_code == 200 and reply.request.headers["Authorization"] == f"Bearer {renewed}"
