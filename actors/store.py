"""JobStore: job records, quizzes and processed documents in an embedded SQLite database.

A plain class (unit-tested without Ray) made a Ray actor at the edge. Written at every status
transition of a job and at a bounded rate for progress (by the job's monitor); read when a shard
meets an educator for the first time and by the HTTP API for what the shards no longer hold.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hub.core import strictjson
from hub.core.errors import UpstreamError
from hub.core.eta import KindPace, median_pace
from hub.core.idempotency import Held
from hub.core.items import KeptItem
from hub.core.jobstate import JobState
from hub.core.records import DocumentRecord, Outline, QuizRecord

log = logging.getLogger("hub.store")


def _json_text(value: Any, what: str) -> str:
    """`value` as strict JSON text for a column. NaN, Infinity and lone surrogates (from a job
    kind's result or fields) are made safe here, where they enter, with a log line (hub.core.strictjson:
    null, U+FFFD), so every read of the record carries the same value; TypeError as json.dumps."""
    try:
        return strictjson.dumps(value)
    except strictjson.UnsafeValue as exc:
        log.warning("%s made safe for strict JSON: %s", what, exc)
        return strictjson.dumps(strictjson.safe(value))


SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    educator_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    state TEXT NOT NULL,
    result TEXT
);
DROP INDEX IF EXISTS jobs_by_educator;
CREATE INDEX IF NOT EXISTS jobs_by_educator_newest ON jobs (educator_id, created_at DESC, job_id DESC);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status);
CREATE TABLE IF NOT EXISTS quizzes (
    quiz_id TEXT PRIMARY KEY,
    educator_id TEXT NOT NULL,
    document_id TEXT,
    source_text TEXT NOT NULL,
    questions TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    educator_id TEXT NOT NULL,
    filename TEXT,
    text TEXT NOT NULL,
    doc_index TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    educator_id TEXT NOT NULL,
    key TEXT NOT NULL,
    digest TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (educator_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys (created_at);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_job ON idempotency_keys (job_id);
CREATE TABLE IF NOT EXISTS job_items (
    job_id TEXT NOT NULL,
    item_index INTEGER NOT NULL,
    total INTEGER,
    value TEXT NOT NULL,
    PRIMARY KEY (job_id, item_index)
);
CREATE TABLE IF NOT EXISTS kind_paces (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    seconds_per_item REAL NOT NULL,
    finished_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS kind_paces_by_kind_newest ON kind_paces (kind, finished_at DESC);
"""

SAVE_JOB = """INSERT INTO jobs (job_id, educator_id, kind, status, created_at, updated_at, state, result)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (job_id) DO UPDATE SET status = excluded.status,
                 updated_at = excluded.updated_at, state = excluded.state,
                 result = COALESCE(excluded.result, jobs.result)
               WHERE jobs.status NOT IN ('completed', 'failed', 'cancelled')"""

# An item of a job that has ended is not kept (its result holds them all).
SAVE_ITEM = """INSERT OR REPLACE INTO job_items (job_id, item_index, total, value)
               SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE job_id = ?1
                 AND status IN ('completed', 'failed', 'cancelled'))"""
TERMINAL_STATUSES = ("completed", "failed", "cancelled")

STOPPED_REASON = "the hub stopped while this job was running"


def _stored_state(text: str) -> JobState:
    """A `state` column's JSON text (a JobState's wire dict, as `save` was given it) as a JobState, parsed
    and checked by pydantic in one step (`model_validate_json`: 2.2 us a row, against 2.8 us for
    json.loads alone and 10.6 us for model_construct; 501 rows, 2026-11-30, 2 cores). A row that does
    not pass (one written before values were made strict-JSON safe on the way in: a lone surrogate,
    NaN) is read by Python's json and taken as it is, as the store answered it before (the HTTP edge
    and a loading shard make such values safe: hub.core.strictjson), with a log line."""
    try:
        return JobState.model_validate_json(text)
    except ValidationError as exc:
        log.warning("job store: a stored job state is taken as it is: %s", exc.errors()[0]["msg"])
        return JobState.model_construct(**json.loads(text))


def _job_row(state: dict[str, Any], result: Any = None) -> tuple[Any, ...]:
    """SAVE_JOB's arguments for a JobState wire dict (and its result, when given)."""
    return (
        state["jobId"],
        state["educatorId"],
        state["kind"],
        state["status"],
        state["createdAt"],
        state["updatedAt"],
        _json_text(state, f"job {state['jobId']} state"),
        None if result is None else _json_text(result, f"job {state['jobId']} result"),
    )


class StoreBusy(UpstreamError):
    """The database stayed locked by another writer (or could not be written: disk full, read-only)
    past the store's busy timeout; nothing was written."""


WAITED_LOG_AFTER = 0.1  # seconds: a write that took longer is logged (the database was busy or slow)


class JobStore:
    """`busy_timeout` (seconds, Settings.store_busy_timeout): how long a write waits out a database
    another connection has locked (SQLite's busy handler) before it gives up with StoreBusy."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.busy_timeout = busy_timeout
        self.db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.kinds: dict[str, Any] = {}  # custom job kinds registered at run time (not persisted)
        log.info("job store at %s", self.path)

    # -- jobs ---------------------------------------------------------------------------------

    def _write(self, what: str, sql: str, args: tuple[Any, ...]) -> None:
        """Run one writing statement; wait out a busy database for up to busy_timeout seconds
        (logged when it waited), then give up with StoreBusy (logged, nothing written)."""
        started = time.monotonic()
        try:
            self.db.execute(sql, args)
        except sqlite3.OperationalError as exc:
            raise self._busy(what, started, exc) from None
        self._waited(what, started)

    def _transaction(self, what: str, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Run writing statements as one transaction (all or none), as `_write` runs one."""
        with self._immediate(what):
            for sql, args in statements:
                self.db.execute(sql, args)

    @contextlib.contextmanager
    def _immediate(self, what: str) -> Iterator[None]:
        """One transaction around the block, taken with the write lock first (BEGIN IMMEDIATE): committed
        at its end unless the block rolled back itself, rolled back if it raises; StoreBusy (`what` in its
        message) when the lock does not come within the busy timeout."""
        started = time.monotonic()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                if self.db.in_transaction:
                    self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise self._busy(what, started, exc) from None
        self._waited(what, started)

    def _busy(self, what: str, started: float, exc: Exception) -> StoreBusy:
        took = time.monotonic() - started
        log.error("job store: gave up on %s after %.2fs (busy timeout %.2fs): %s", what, took, self.busy_timeout, exc)
        return StoreBusy(f"the job store could not write ({exc})")

    def _waited(self, what: str, started: float) -> None:
        took = time.monotonic() - started
        if took > WAITED_LOG_AFTER:
            log.warning("job store: %s waited %.2fs for the database (busy or slow)", what, took)

    def save(self, state: dict[str, Any], result: Any = None) -> None:
        """Insert or update a job record (the result too, when given); the state that ends a job also
        deletes the items kept for it (`save_items`: its result holds them), in one transaction.
        StoreBusy when the database stayed locked past the busy timeout."""
        job_id = state["jobId"]
        if state["status"] not in TERMINAL_STATUSES:
            self._write(f"saving job {job_id}", SAVE_JOB, _job_row(state, result))
            return
        self._transaction(
            f"saving job {job_id}",
            [(SAVE_JOB, _job_row(state, result)), ("DELETE FROM job_items WHERE job_id = ?", (job_id,))],
        )

    def delete(self, job_id: str) -> None:
        """Remove a job record that never ran (a submission undone part-way), and the idempotency key that
        named it, in one transaction. StoreBusy as save."""
        self._transaction(
            f"deleting job {job_id}",
            [
                ("DELETE FROM idempotency_keys WHERE job_id = ?", (job_id,)),
                ("DELETE FROM job_items WHERE job_id = ?", (job_id,)),
                ("DELETE FROM jobs WHERE job_id = ?", (job_id,)),
            ],
        )

    # -- partial results (PROTOCOL.md section 9) -------------------------------------------------

    def save_items(self, state: dict[str, Any], items: list[KeptItem]) -> None:
        """Keep finished items of a running job, `items` ((index, total or None, value) triples: a quiz's
        questions, a custom kind's `ctx.item` values; an index kept before is replaced), with the job's
        `state` (a JobState wire dict that counts them in `itemsDone`) in one transaction: a state that
        counts an item is never stored without it. Nothing is kept for a job that has ended. StoreBusy
        as save."""
        job_id = state["jobId"]
        statements = [
            (SAVE_ITEM, (job_id, index, total, _json_text(value, f"job {job_id} item {index}")))
            for index, total, value in items
        ]
        statements.append((SAVE_JOB, _job_row(state)))
        self._transaction(f"saving items of job {job_id}", statements)

    def items(self, job_id: str) -> list[KeptItem]:
        """The finished items kept for a job that has not ended, as (index, total, value) triples in the
        order they were kept (`save_items`; a replaced index counts as kept when replaced); empty when
        none, or once the job has ended."""
        rows = self.db.execute(
            "SELECT item_index, total, value FROM job_items WHERE job_id = ? ORDER BY rowid", (job_id,)
        ).fetchall()
        return [KeptItem(index, total, json.loads(value)) for index, total, value in rows]

    # -- idempotency keys (PROTOCOL.md section 9; the rules: hub.core.idempotency) ---------------

    def keyed_job(self, educator_id: str, key: str, ttl: float) -> Held | None:
        """The Held (jobId, body digest, the job's status now) that `educator_id`'s idempotency `key`
        names, when it was claimed less than `ttl` seconds ago and its job is still recorded; None
        otherwise (a key older than `ttl` is forgotten, whether or not the sweep in `save_keyed` has
        deleted it yet)."""
        row = self.db.execute(
            """SELECT k.job_id, k.digest, j.status FROM idempotency_keys k JOIN jobs j ON j.job_id = k.job_id
               WHERE k.educator_id = ? AND k.key = ? AND k.created_at > ?""",
            (educator_id, key, self.clock() - ttl),
        ).fetchone()
        return Held(row[0], row[1], row[2]) if row else None

    def save_keyed(self, state: dict[str, Any], key: str, digest: str, ttl: float) -> Held | None:
        """Record a new job (`state`: its JobState wire dict) under its educator's idempotency `key` with the
        body's `digest` (hub.core.idempotency.body_digest), in one transaction taken with the write lock
        first (BEGIN IMMEDIATE), so of two submissions with the same key exactly one records its job:
        None when this one did; the Held of the job that already holds the key (claimed
        less than `ttl` seconds ago) when it did not, with nothing written. Keys older than `ttl` are
        deleted on the way (the sweep: one index range scan). StoreBusy as save."""
        educator_id = state["educatorId"]
        now = self.clock()
        with self._immediate(f"recording job {state['jobId']} under an idempotency key"):
            self.db.execute("DELETE FROM idempotency_keys WHERE created_at <= ?", (now - ttl,))
            held = self.keyed_job(educator_id, key, ttl)
            if held is not None:
                self.db.execute("ROLLBACK")  # nothing written
                return held
            self.db.execute(
                "INSERT OR REPLACE INTO idempotency_keys (educator_id, key, digest, job_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (educator_id, key, digest, state["jobId"], now),
            )
            self.db.execute(SAVE_JOB, _job_row(state))
        return None

    def forget_keys(self, job_id: str) -> None:
        """Free the idempotency key that names `job_id` (a submission whose monitor never started: a retry
        with the same key starts a job again). StoreBusy as save."""
        what = f"freeing the idempotency key of job {job_id}"
        self._write(what, "DELETE FROM idempotency_keys WHERE job_id = ?", (job_id,))

    def get(self, job_id: str) -> JobState | None:
        """A job's state as last saved, None when the store has no such job."""
        row = self.db.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return _stored_state(row[0]) if row else None

    def result(self, job_id: str) -> Any:
        """A job's result as saved with its completion (a JSON value, made strict-JSON safe on the way in),
        None when the job is unknown or has no result."""
        row = self.db.execute("SELECT result FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] is not None else None

    def list_jobs(self, educator_id: str, limit: int = 200) -> list[JobState]:
        """The first page of `list_jobs_page`: up to `limit` of the educator's job states, newest first."""
        return self.list_jobs_page(educator_id, limit)

    def list_jobs_page(self, educator_id: str, limit: int, before: tuple[float, str] | None = None) -> list[JobState]:
        """Up to `limit` of the educator's jobs, newest first by (createdAt, jobId), and only those
        older than `before` when given (keyset paging: hub.core.paging; one index range scan a page)."""
        return [_stored_state(row) for row in self._rows(educator_id, limit, before)]

    def _rows(self, educator_id: str, limit: int, before: tuple[float, str] | None = None) -> list[str]:
        """The `state` column (JSON text) of `list_jobs_page`'s rows."""
        if before is None:
            rows = self.db.execute(
                "SELECT state FROM jobs WHERE educator_id = ? ORDER BY created_at DESC, job_id DESC LIMIT ?",
                (educator_id, limit),
            ).fetchall()
        else:
            rows = self.db.execute(
                """SELECT state FROM jobs WHERE educator_id = ? AND (created_at, job_id) < (?, ?)
                   ORDER BY created_at DESC, job_id DESC LIMIT ?""",
                (educator_id, before[0], before[1], limit),
            ).fetchall()
        return [r[0] for r in rows]

    def list_jobs_many(self, educator_ids: list[str], limit: int = 200) -> list[list[dict[str, Any]]]:
        """Each educator's newest `limit` job states (JobState wire dicts, newest first), in one call: a
        shard's loads that queued together, which it parses into JobStates at once (it reads no key).
        Wire dicts, not JobStates, because these loads ride on hellos (an educator's first connection
        to a shard incarnation, a reconnect storm after a restart) with up to jobs_per_educator + 1
        states each: pickled as JobStates they cost about 5 x as much (`bench/records.py --states`)."""
        return [[json.loads(row) for row in self._rows(educator_id, limit)] for educator_id in educator_ids]

    def recover(self, alive: Callable[[str], bool]) -> list[dict[str, Any]]:
        """Mark failed every unfinished job whose monitor is gone; return the updated records."""
        now = self.clock()
        fixed = []
        rows = self.db.execute(
            "SELECT state FROM jobs WHERE status NOT IN ('completed', 'failed', 'cancelled')"
        ).fetchall()
        for (raw,) in rows:
            state = json.loads(raw)
            if alive(state["jobId"]):
                continue
            state.update(status="failed", error=STOPPED_REASON, message=f"Failed: {STOPPED_REASON}", updatedAt=now)
            state.pop("etaSeconds", None)
            state.pop("waiting", None)  # an ended job no longer waits
            self.save(state)
            fixed.append(state)
        if fixed:
            log.warning("marked %d unfinished jobs failed: %s", len(fixed), STOPPED_REASON)
        return fixed

    def educator_stats(self, educator_id: str) -> dict[str, Any]:
        """The counts an educator's analytics panel shows."""
        now = self.clock()
        day_start = now - (now % 86400)
        today = self.db.execute(
            "SELECT COUNT(*) FROM jobs WHERE educator_id = ? AND created_at >= ?", (educator_id, day_start)
        ).fetchone()[0]
        done = self.db.execute(
            """SELECT COUNT(*), AVG(updated_at - created_at),
                      SUM(COALESCE(json_extract(result, '$.numQuestions'), 0))
               FROM jobs WHERE educator_id = ? AND kind = 'quiz_generation' AND status = 'completed'""",
            (educator_id,),
        ).fetchone()
        return {
            "jobsToday": today,
            "quizzesGenerated": done[0],
            "questionsGenerated": int(done[2] or 0),
            "averageGenerationSeconds": round(done[1], 2) if done[1] is not None else None,
        }

    # -- quizzes and documents ----------------------------------------------------------------

    def save_quiz(
        self,
        quiz_id: str,
        educator_id: str,
        source_text: str,
        questions: list[dict[str, Any]],
        document_id: str | None = None,
    ) -> None:
        """Insert a quiz, or give an existing `quiz_id` the new questions and source text (its owner and
        document stay); `questions`: the quiz JSON's question dicts. StoreBusy as save."""
        self._write(
            f"saving quiz {quiz_id}",
            """INSERT INTO quizzes (quiz_id, educator_id, document_id, source_text, questions, updated_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (quiz_id) DO UPDATE SET questions = excluded.questions,
                 source_text = excluded.source_text, updated_at = excluded.updated_at""",
            (quiz_id, educator_id, document_id, source_text, json.dumps(questions), self.clock()),
        )

    def quiz(self, quiz_id: str) -> QuizRecord | None:
        """The stored quiz as a QuizRecord, None when unknown."""
        row = self.db.execute(
            "SELECT educator_id, document_id, source_text, questions FROM quizzes WHERE quiz_id = ?",
            (quiz_id,),
        ).fetchone()
        if row is None:
            return None
        return QuizRecord(quiz_id, row[0], row[1], row[2], json.loads(row[3]))

    def replace_question(self, quiz_id: str, question_id: str, question: dict[str, Any]) -> None:
        """Put `question` (a whole question dict) in the place of the one whose `id` is `question_id`
        (a `question_id` the quiz lacks changes no question). KeyError(quiz_id) for an unknown quiz;
        StoreBusy as save."""
        found = self.quiz(quiz_id)
        if found is None:
            raise KeyError(quiz_id)
        questions = [question if q["id"] == question_id else q for q in found.questions]
        self._write(
            f"replacing a question of quiz {quiz_id}",
            "UPDATE quizzes SET questions = ?, updated_at = ? WHERE quiz_id = ?",
            (json.dumps(questions), self.clock(), quiz_id),
        )

    def save_document(
        self, document_id: str, educator_id: str, filename: str | None, text: str, index: dict[str, Any]
    ) -> None:
        """Insert or replace a processed document: its extracted text and `index`
        (jobs.documents.DocumentIndex as JSON), stamped with the clock's time. StoreBusy as save."""
        self._write(
            f"saving document {document_id}",
            """INSERT OR REPLACE INTO documents (document_id, educator_id, filename, text, doc_index, created_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (document_id, educator_id, filename, text, json.dumps(index), self.clock()),
        )

    def document(self, document_id: str) -> DocumentRecord | None:
        """The stored document as a DocumentRecord, None when unknown."""
        row = self.db.execute(
            "SELECT educator_id, filename, text, doc_index FROM documents WHERE document_id = ?", (document_id,)
        ).fetchone()
        if row is None:
            return None
        return DocumentRecord(document_id, row[0], row[1], row[2], json.loads(row[3]))

    def outline(self, quiz_id: str | None, document_id: str | None) -> Outline:
        """What a submission is checked against without moving texts: the owners of a quiz and of a
        document (None when there is none) and the quiz's question ids."""
        quiz = self.db.execute("SELECT educator_id, questions FROM quizzes WHERE quiz_id = ?", (quiz_id,)).fetchone()
        doc = self.db.execute("SELECT educator_id FROM documents WHERE document_id = ?", (document_id,)).fetchone()
        return Outline(
            quiz_owner=quiz[0] if quiz else None,
            question_ids=[q["id"] for q in json.loads(quiz[1])] if quiz else [],
            document_owner=doc[0] if doc else None,
        )

    # -- kinds' paces (the ETA before a job's first progress: hub.core.eta) -----------------------

    def record_pace(self, job_id: str, kind: str, seconds_per_item: float, keep: int) -> None:
        """Record the pace of a completed job of `kind` (seconds per item of its size: hub.core.eta.pace_of),
        once per job (a repeat of the call changes nothing) and only for a job this store holds as
        `completed` (its monitor saved that first), and forget the kind's paces older than its newest
        `keep` (Settings.eta_pace_jobs), in one transaction. StoreBusy as save."""
        with self._immediate(f"recording the pace of job {job_id}"):
            self.db.execute(
                """INSERT OR IGNORE INTO kind_paces (job_id, kind, seconds_per_item, finished_at)
                   SELECT job_id, kind, ?, ? FROM jobs WHERE job_id = ? AND kind = ? AND status = 'completed'""",
                (seconds_per_item, self.clock(), job_id, kind),
            )
            self.db.execute(
                """DELETE FROM kind_paces WHERE kind = ? AND job_id NOT IN (
                     SELECT job_id FROM kind_paces WHERE kind = ? ORDER BY finished_at DESC, job_id DESC LIMIT ?)""",
                (kind, kind, keep),
            )

    def pace(self, kind: str, last: int) -> float | None:
        """The median pace (seconds per item) of the newest `last` completed jobs of `kind` that recorded
        one (hub.core.eta.median_pace); None when there are none."""
        rows = self.db.execute(
            "SELECT seconds_per_item FROM kind_paces WHERE kind = ? ORDER BY finished_at DESC, job_id DESC LIMIT ?",
            (kind, last),
        ).fetchall()
        return median_pace([r[0] for r in rows])

    def kind_pace(self, name: str, blob: bool, last: int) -> KindPace:
        """What a starting job's monitor reads, in one call: `pace(name, last)` and, when `blob`, the custom
        kind's blob registered under `name` (`kind`)."""
        return KindPace(self.pace(name, last), self.kind(name) if blob else None)

    # -- custom job kinds ---------------------------------------------------------------------

    def register_kind(self, name: str, kind: Any) -> None:
        """Keep a custom job kind's blob (pickled by value: jobs.kinds.pack_kind) under `name`, replacing one
        of that name. In memory only: a restarted store has none until they are registered again."""
        self.kinds[name] = kind

    def kind(self, name: str) -> Any:
        """The blob registered under `name`, None when there is none."""
        return self.kinds.get(name)

    def kind_names(self) -> list[str]:
        """The registered custom kinds' names, sorted (a 422 for an unknown kind lists them)."""
        return sorted(self.kinds)

    def ping(self) -> str:
        """The database file's path: the store's answer once it is up (start_actors logs it)."""
        return str(self.path)
