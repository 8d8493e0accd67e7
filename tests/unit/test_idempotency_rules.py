"""Idempotent submission's rules (PROTOCOL.md section 9, first bullet): the `Idempotency-Key` header's
form (hub.core.idempotency.key_problem), the canonical body digest, and the keys in a real job store
file (actors.store.JobStore: per educator, atomic with the job's record, forgotten after the TTL,
kept across a reopened store). No Ray, no sockets."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from actors.store import JobStore
from hub.core.idempotency import MAX_KEY, Held, KeyMemo, Recorded, body_digest, key_problem
from tests.unit.conftest import FakeClock

DAY = 86400.0


@pytest.mark.parametrize("key", ["a", "x" * MAX_KEY, "order-42/retry:1", " spaced key ", "~!\"#$%&'()*+,-./"])
def test_keys_of_1_to_128_printable_ascii_characters_pass(key: str) -> None:
    assert key_problem([key]) is None


def test_no_header_is_no_key() -> None:
    assert key_problem([]) is None


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ([""], "empty"),
        (["x" * (MAX_KEY + 1)], "129 characters long; the most is 128"),
        (["x" * 10_000], "10000 characters long"),
        (["caf\xc3\xa9"], "not printable ASCII"),  # UTF-8 'é' as an HTTP server decodes it (latin-1)
        (["tab\there"], "not printable ASCII"),
        (["del\x7f"], "not printable ASCII"),
        (["nul\x00"], "not printable ASCII"),
        (["a", "b"], "send one Idempotency-Key header, not 2"),
    ],
)
def test_a_malformed_key_is_refused_with_a_sentence(values: list[str], words: str) -> None:
    problem = key_problem(values)
    assert problem is not None and words in problem
    assert "Idempotency-Key" in problem and "Traceback" not in problem


def test_the_digest_compares_bodies_as_json_values() -> None:
    first = body_digest("quiz_generation", {"text": "cells", "numQuestions": 3, "opts": {"a": 1, "b": [1, 2]}})
    reordered = body_digest("quiz_generation", {"opts": {"b": [1, 2], "a": 1}, "numQuestions": 3, "text": "cells"})
    assert first == reordered and len(first) == 64
    assert body_digest("quiz_generation", {"text": "cells", "numQuestions": 4}) != body_digest(
        "quiz_generation", {"text": "cells", "numQuestions": 3}
    )
    assert body_digest("document_processing", {"text": "x"}) != body_digest("quiz_generation", {"text": "x"})
    assert body_digest("k", {"list": [1, 2]}) != body_digest("k", {"list": [2, 1]})
    assert body_digest("k", {"t": "é"}) == body_digest("k", {"t": "\u00e9"})
    assert body_digest("k", {}) != body_digest("k", {"extra": None})


def test_the_digest_refuses_values_strict_json_has_not() -> None:
    with pytest.raises(ValueError):
        body_digest("k", {"n": float("nan")})


def job(job_id: str, educator: str = "alice", status: str = "queued", at: float = 1000.0) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "kind": "quiz_generation",
        "educatorId": educator,
        "status": status,
        "progress": 0,
        "message": status,
        "createdAt": at,
        "updatedAt": at,
    }


def test_a_key_names_its_first_job_and_a_second_claim_writes_nothing(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path / "jobs.db", clock)
    assert store.keyed_job("alice", "k1", DAY) is None
    assert store.save_keyed(job("j1"), "k1", "d1", DAY) is None
    assert store.keyed_job("alice", "k1", DAY) == ("j1", "d1", "queued")
    assert store.save_keyed(job("j2"), "k1", "d2", DAY) == ("j1", "d1", "queued")
    assert store.get("j2") is None  # the loser's job was never recorded
    assert [s.job_id for s in store.list_jobs("alice")] == ["j1"]


def test_keys_are_per_educator(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path / "jobs.db", clock)
    assert store.save_keyed(job("a1", "alice"), "same", "d", DAY) is None
    assert store.save_keyed(job("b1", "bob"), "same", "d", DAY) is None
    assert store.keyed_job("alice", "same", DAY) == ("a1", "d", "queued")
    assert store.keyed_job("bob", "same", DAY) == ("b1", "d", "queued")


def test_a_key_older_than_the_ttl_is_forgotten_and_swept(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path / "jobs.db", clock)
    store.save_keyed(job("j1"), "k", "d", DAY)
    clock.advance(DAY - 1)
    assert store.keyed_job("alice", "k", DAY) == ("j1", "d", "queued")
    clock.advance(1)
    assert store.keyed_job("alice", "k", DAY) is None
    assert store.save_keyed(job("j2"), "k", "d", DAY) is None  # the key names the new job now
    assert store.keyed_job("alice", "k", DAY) == ("j2", "d", "queued")
    store.save_keyed(job("j3"), "other", "d", DAY)
    clock.advance(DAY)
    store.save_keyed(job("j4"), "fresh", "d", DAY)  # sweeps every key past the TTL
    rows = store.db.execute("SELECT key FROM idempotency_keys").fetchall()
    assert rows == [("fresh",)]
    assert store.get("j1") is not None  # forgetting a key keeps its job


def test_keys_survive_reopening_the_store_file(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "jobs.db"
    store = JobStore(db, clock)
    store.save_keyed(job("j1"), "k", "d", DAY)
    store.save(job("j1", status="processing"))
    store.db.close()
    reopened = JobStore(db, clock)
    assert reopened.keyed_job("alice", "k", DAY) == ("j1", "d", "processing")  # the status as recorded now
    state = reopened.get("j1")
    assert state is not None and state.status == "processing"


def test_an_undone_job_frees_its_key(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path / "jobs.db", clock)
    store.save_keyed(job("j1"), "k", "d", DAY)
    store.delete("j1")
    assert store.keyed_job("alice", "k", DAY) is None and store.get("j1") is None
    store.save_keyed(job("j2"), "k2", "d", DAY)
    store.forget_keys("j2")
    assert store.keyed_job("alice", "k2", DAY) is None and store.get("j2") is not None


def test_concurrent_claims_on_two_connections_record_one_job(tmp_path: Path) -> None:
    """Ten threads, each its own store connection to one file, claim one key at once: one job is recorded
    and every other claim gets that job (BEGIN IMMEDIATE serialises them)."""
    db = tmp_path / "jobs.db"
    JobStore(db)
    stores = [JobStore(db) for _ in range(10)]
    start = threading.Barrier(10)
    answers: list[Held | None] = [None] * 10

    def claim(k: int) -> None:
        start.wait()
        answers[k] = stores[k].save_keyed(job(f"j{k}", at=1e9), "k", "d", DAY)

    threads = [threading.Thread(target=claim, args=(k,)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [k for k, a in enumerate(answers) if a is None]
    assert len(winners) == 1
    assert {a for a in answers if a is not None} == {(f"j{winners[0]}", "d", "queued")}
    assert [s.job_id for s in stores[0].list_jobs("alice")] == [f"j{winners[0]}"]


def test_the_memo_answers_keys_it_was_given_until_near_their_end() -> None:
    memo = KeyMemo(size=10, ttl=3600.0, margin=60.0)
    memo.put("alice", "k", Recorded("j1", "d1", 1000.0))
    assert memo.get("alice", "k", 1000.0) == Recorded("j1", "d1", 1000.0)
    assert memo.get("bob", "k", 1000.0) is None  # keys are per educator
    assert memo.get("alice", "k", 1000.0 + 3539.0) is not None
    assert memo.get("alice", "k", 1000.0 + 3540.0) is None  # near its end the store decides
    assert len(memo) == 0  # and it is gone from here


def test_the_memo_keeps_the_most_recently_used_keys() -> None:
    memo = KeyMemo(size=2, ttl=3600.0)
    memo.put("alice", "a", Recorded("ja", "d", 0.0))
    memo.put("alice", "b", Recorded("jb", "d", 0.0))
    assert memo.get("alice", "a", 1.0) is not None  # "a" is now the most recently used
    memo.put("alice", "c", Recorded("jc", "d", 0.0))
    assert memo.get("alice", "b", 1.0) is None
    assert memo.get("alice", "a", 1.0) is not None and memo.get("alice", "c", 1.0) is not None
    assert len(memo) == 2


def test_a_memo_of_size_0_keeps_nothing() -> None:
    memo = KeyMemo(size=0, ttl=3600.0)
    memo.put("alice", "a", Recorded("ja", "d", 0.0))
    assert memo.get("alice", "a", 1.0) is None and len(memo) == 0
