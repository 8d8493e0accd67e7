"""The job store's partial results (PROTOCOL.md section 9) in a real SQLite file: items are kept with the
state that counts them in one transaction, read back in the order kept, survive reopening the file
(a restarted store), and go with the state that ends the job; nothing is kept for an ended job."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from actors.store import JobStore, StoreBusy


def state(status: str = "processing", items_done: int | None = None, **kw: Any) -> dict[str, Any]:
    out = {
        "jobId": "j1",
        "kind": "quiz_generation",
        "educatorId": "alice",
        "status": status,
        "progress": 40.0,
        "message": status,
        "createdAt": 1.0,
        "updatedAt": 2.0,
        **kw,
    }
    if items_done is not None:
        out["itemsDone"] = items_done
    return out


def test_items_are_kept_with_their_state_in_the_order_kept_and_survive_reopening(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    store.save(state("queued"))
    store.save_items(state(items_done=1), [(2, 5, {"id": "q3", "prompt": "Which …?"})])
    store.save_items(state(items_done=3), [(0, 5, {"id": "q1"}), (4, 5, {"id": "q5"})])
    again = JobStore(tmp_path / "jobs.db")  # the store actor restarted
    assert again.items("j1") == [(2, 5, {"id": "q3", "prompt": "Which …?"}), (0, 5, {"id": "q1"}), (4, 5, {"id": "q5"})]
    stored = again.get("j1")
    assert stored is not None and stored.items_done == 3
    assert again.items("other") == []


def test_the_state_that_ends_a_job_deletes_its_items_and_an_ended_job_keeps_none(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    store.save_items(state(items_done=1), [(0, 2, "a")])
    store.save(state("completed", items_done=2), {"questions": ["a", "b"]})
    assert store.items("j1") == []
    store.save_items(state(items_done=2), [(1, 2, "b")])  # a late write after the end
    assert store.items("j1") == []
    ended = store.get("j1")
    assert ended is not None and ended.status == "completed"  # and the late state did not undo it
    store.save_items({**state(items_done=1), "jobId": "j2"}, [(0, None, "x")])
    store.delete("j2")
    assert store.items("j2") == [] and store.get("j2") is None


def test_items_and_their_state_are_written_all_or_none(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db", busy_timeout=0.05)
    store.save_items(state(items_done=1), [(0, 3, "a")])
    other = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
    try:
        with pytest.raises(StoreBusy):
            store.save_items(state(items_done=2), [(1, 3, "b")])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.items("j1") == [(0, 3, "a")]
    stored = store.get("j1")
    assert stored is not None and stored.items_done == 1
