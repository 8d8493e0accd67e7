"""The job store's kind paces (the ETA before a job's first progress: hub.core.eta) on a real SQLite file
(no Ray): the median of each kind's newest paces, only completed jobs, once per job, kept across a
reopen, and read with a custom kind's code in one call."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from actors.store import JobStore
from hub.core.eta import KindPace
from tests.unit.conftest import FakeClock


def job(job_id: str, status: str = "completed", kind: str = "quiz_generation") -> dict[str, Any]:
    return {
        "jobId": job_id,
        "kind": kind,
        "educatorId": "alice",
        "status": status,
        "progress": 100 if status == "completed" else 40,
        "message": status,
        "createdAt": 1000.0,
        "updatedAt": 1005.0,
    }


def completed(store: JobStore, clock: FakeClock, job_id: str, pace: float, kind: str = "quiz_generation") -> None:
    """A job of `kind` completes (its monitor saves `completed`, then records its pace) one second on."""
    clock.advance(1.0)
    store.save(job(job_id, kind=kind))
    store.record_pace(job_id, kind, pace, 20)


def test_the_pace_is_the_median_of_the_kinds_newest_20(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path / "jobs.db", clock)
    assert store.pace("quiz_generation", 20) is None  # a kind never run
    paces = [10.0] * 15 + [float(n) for n in range(1, 26)]  # the oldest 15 are slow ones
    for n, pace in enumerate(paces):
        completed(store, clock, f"j{n}", pace)
    newest = paces[-20:]
    assert store.pace("quiz_generation", 20) == statistics.median(newest) == 15.5
    assert store.pace("quiz_generation", 3) == 24.0  # the newest 3: 23, 24, 25
    count = store.db.execute("SELECT COUNT(*) FROM kind_paces").fetchone()[0]
    assert count == 20  # older paces are forgotten as new ones come


def test_only_completed_jobs_of_that_kind_count_and_each_once(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path / "jobs.db", clock)
    completed(store, clock, "done", 2.0)
    for status in ("processing", "failed", "cancelled"):
        store.save(job(status, status))
        store.record_pace(status, "quiz_generation", 99.0, 20)
    store.record_pace("unknown", "quiz_generation", 99.0, 20)  # a job the store does not hold
    store.record_pace("done", "quiz_generation", 50.0, 20)  # a repeated call (Ray retried it)
    store.record_pace("done", "question_replace", 50.0, 20)  # a kind the job is not
    assert store.pace("quiz_generation", 20) == 2.0
    assert store.pace("question_replace", 20) is None
    completed(store, clock, "other", 7.0, kind="document_processing")
    assert store.pace("quiz_generation", 20) == 2.0 and store.pace("document_processing", 20) == 7.0


def test_paces_survive_a_store_restart(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "jobs.db"
    store = JobStore(db, clock)
    completed(store, clock, "a", 1.0)
    completed(store, clock, "b", 3.0)
    store.db.close()
    assert JobStore(db, clock).pace("quiz_generation", 20) == 2.0


def test_a_starting_job_reads_its_pace_and_a_custom_kinds_code_in_one_call(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path / "jobs.db", clock)
    store.register_kind("word_count", b"pickled kind")
    assert store.kind_pace("word_count", True, 20) == KindPace(None, b"pickled kind")
    completed(store, clock, "w1", 0.75, kind="word_count")
    assert store.kind_pace("word_count", True, 20) == KindPace(0.75, b"pickled kind")
    assert store.kind_pace("word_count", False, 20) == KindPace(0.75, None)  # a built-in kind asks no blob
    assert store.kind_pace("nothing", True, 20) == KindPace(None, None)
