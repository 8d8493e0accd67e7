"""The notebook API against an in-process hub (`local_hub`), sharing this test run's Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.server import LocalHub
from jobs import JobFailed, local_hub
from tests.conftest import scaled
from tests.integration.conftest import DOCUMENT


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
