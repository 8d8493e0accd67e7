"""JobStore: job records, quizzes and processed documents in an embedded SQLite database.

A plain class (unit-tested without Ray) made a Ray actor at the edge. Written at every status
transition of a job and at a bounded rate for progress (by the job's monitor); read when a shard
meets an educator for the first time and by the HTTP API for what the shards no longer hold.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub import strictjson

log = logging.getLogger("hub.store")


def _json_text(value: Any, what: str) -> str:
    """`value` as strict JSON text for a column. NaN, Infinity and lone surrogates (from a job
    kind's result or fields) are made safe here, where they enter, with a log line (hub.strictjson:
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
CREATE INDEX IF NOT EXISTS jobs_by_educator ON jobs (educator_id, created_at DESC);
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
"""

STOPPED_REASON = "the hub stopped while this job was running"


class JobStore:
    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.kinds: dict[str, Any] = {}  # custom job kinds registered at run time (not persisted)
        log.info("job store at %s", self.path)

    # -- jobs ---------------------------------------------------------------------------------

    def save(self, state: dict[str, Any], result: Any = None) -> None:
        """Insert or update a job record (the result too, when given)."""
        self.db.execute(
            """INSERT INTO jobs (job_id, educator_id, kind, status, created_at, updated_at, state, result)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (job_id) DO UPDATE SET status = excluded.status,
                 updated_at = excluded.updated_at, state = excluded.state,
                 result = COALESCE(excluded.result, jobs.result)
               WHERE jobs.status NOT IN ('completed', 'failed', 'cancelled')""",
            (
                state["jobId"],
                state["educatorId"],
                state["kind"],
                state["status"],
                state["createdAt"],
                state["updatedAt"],
                _json_text(state, f"job {state['jobId']} state"),
                None if result is None else _json_text(result, f"job {state['jobId']} result"),
            ),
        )

    def get(self, job_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def result(self, job_id: str) -> Any:
        row = self.db.execute("SELECT result FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] is not None else None

    def list_jobs(self, educator_id: str, limit: int = 200) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT state FROM jobs WHERE educator_id = ? ORDER BY created_at DESC LIMIT ?",
            (educator_id, limit),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def list_jobs_many(self, educator_ids: list[str], limit: int = 200) -> list[list[dict[str, Any]]]:
        """`list_jobs` for each educator, in one call (a shard's loads that queued together)."""
        return [self.list_jobs(educator_id, limit) for educator_id in educator_ids]

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
        self.db.execute(
            """INSERT INTO quizzes (quiz_id, educator_id, document_id, source_text, questions, updated_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (quiz_id) DO UPDATE SET questions = excluded.questions,
                 source_text = excluded.source_text, updated_at = excluded.updated_at""",
            (quiz_id, educator_id, document_id, source_text, json.dumps(questions), self.clock()),
        )

    def quiz(self, quiz_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT educator_id, document_id, source_text, questions FROM quizzes WHERE quiz_id = ?",
            (quiz_id,),
        ).fetchone()
        if row is None:
            return None
        return {
            "quizId": quiz_id,
            "educatorId": row[0],
            "documentId": row[1],
            "sourceText": row[2],
            "questions": json.loads(row[3]),
        }

    def replace_question(self, quiz_id: str, question_id: str, question: dict[str, Any]) -> None:
        found = self.quiz(quiz_id)
        if found is None:
            raise KeyError(quiz_id)
        questions = [question if q["id"] == question_id else q for q in found["questions"]]
        self.db.execute(
            "UPDATE quizzes SET questions = ?, updated_at = ? WHERE quiz_id = ?",
            (json.dumps(questions), self.clock(), quiz_id),
        )

    def save_document(
        self, document_id: str, educator_id: str, filename: str | None, text: str, index: dict[str, Any]
    ) -> None:
        self.db.execute(
            """INSERT OR REPLACE INTO documents (document_id, educator_id, filename, text, doc_index, created_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (document_id, educator_id, filename, text, json.dumps(index), self.clock()),
        )

    def document(self, document_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT educator_id, filename, text, doc_index FROM documents WHERE document_id = ?", (document_id,)
        ).fetchone()
        if row is None:
            return None
        return {
            "documentId": document_id,
            "educatorId": row[0],
            "filename": row[1],
            "text": row[2],
            "index": json.loads(row[3]),
        }

    # -- custom job kinds ---------------------------------------------------------------------

    def register_kind(self, name: str, kind: Any) -> None:
        self.kinds[name] = kind

    def kind(self, name: str) -> Any:
        return self.kinds.get(name)

    def kind_names(self) -> list[str]:
        return sorted(self.kinds)

    def ping(self) -> str:
        return str(self.path)
