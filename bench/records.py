"""Pickling cost of a registry shard's pull reply (a feed batch) by the shape of what it carries:
what a shard pays to send a pull to an ingress over Ray, and the ingress to receive it; and of a
reply of many job states (a shard's `jobs_of`) by the shape of each state.

    python bench/records.py [--envelopes 200] [--states 500] [--number 200]

Each shape holds the same `--envelopes` progress envelopes (one data dict each, as job progress
ticks are) wrapped in a reply: a dict reply with a dict per envelope (what "dicts read by string
key" costs), frozen slotted dataclasses, the hub's Envelope named tuples, plain tuples in a dict
reply, and what the hub sends (hub.core.records.FeedBatch holding plain tuples). Prints a Markdown
table: microseconds per pickle.dumps and per pickle.loads (protocol 5, best of 5 runs) and bytes.

The job states compared (`--states` of them, a third processing, the rest completed, as an
educator's list holds them): JobState wire dicts (what crossed before), hub.core.jobstate.JobState
models (frozen pydantic: what `job`, `states`, `jobs_of` and `update_job` answer), and the same
fields as a named tuple; plus what making the wire dicts from the models costs (`wire()` each),
which an ingress pays per state it writes as JSON.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import timeit
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.core.jobstate import JobState  # noqa: E402
from hub.core.records import FeedBatch  # noqa: E402
from hub.core.stream import Envelope  # noqa: E402


@dataclass(frozen=True, slots=True)
class FrozenEnvelope:
    """An envelope as a frozen dataclass with slots (the shape used before 2026-11-26)."""

    educator_id: str
    seq: int
    type: str
    ts: float
    data: dict[str, Any]
    job_id: str | None = None
    tick: bool = False


def envelopes(n: int) -> list[Envelope]:
    """`n` progress ticks of ten jobs of one educator, each with its own data dict."""
    return [
        Envelope(
            "educator-0001",
            i + 1,
            "job_progress",
            1.7e9 + i * 0.01,
            {
                "jobId": f"job-{i % 10:04d}",
                "status": "processing",
                "progress": round(i * 0.37 % 99, 2),
                "message": f"Generating question {i % 10 + 1} of 10",
                "etaSeconds": 12.5,
            },
            f"job-{i % 10:04d}",
            True,
        )
        for i in range(n)
    ]


def shapes(envs: list[Envelope]) -> dict[str, Any]:
    """The same pull reply in each shape compared."""
    epoch = "0123456789abcdef"
    return {
        "dict reply, dict envelopes": {
            "epoch": epoch,
            "unknown": False,
            "items": [(n, env._asdict()) for n, env in enumerate(envs, 1)],
            "lost": False,
        },
        "dict reply, frozen dataclass envelopes": {
            "epoch": epoch,
            "unknown": False,
            "items": [(n, FrozenEnvelope(*env)) for n, env in enumerate(envs, 1)],
            "lost": False,
        },
        "dict reply, Envelope named tuples": {
            "epoch": epoch,
            "unknown": False,
            "items": [(n, env) for n, env in enumerate(envs, 1)],
            "lost": False,
        },
        "FeedBatch, Envelope named tuples": FeedBatch(epoch, False, list(enumerate(envs, 1)), False),
        "dict reply, plain tuples": {
            "epoch": epoch,
            "unknown": False,
            "items": [(n, tuple(env)) for n, env in enumerate(envs, 1)],
            "lost": False,
        },
        "FeedBatch, plain tuples (the hub)": FeedBatch(
            epoch, False, [(n, tuple(env)) for n, env in enumerate(envs, 1)], False
        ),
    }


class StateTuple(NamedTuple):
    """JobState's fields as a named tuple (a shape considered for job states, not used)."""

    job_id: str
    kind: str
    educator_id: str
    quiz_id: str | None
    question_id: str | None
    document_id: str | None
    status: str
    progress: float
    message: str
    created_at: float
    updated_at: float
    error: str | None
    eta_seconds: float | None
    stage: str | None
    attempt: int | None


def job_states(n: int) -> list[JobState]:
    """`n` quiz jobs of one educator, newest first: every third processing (with an ETA), the rest completed."""
    return [
        JobState(
            job_id=f"{i:032x}",
            kind="quiz_generation",
            educator_id="educator-0001",
            quiz_id=f"quiz-{i:05d}",
            status="processing" if i % 3 == 0 else "completed",
            progress=42.5 if i % 3 == 0 else 100.0,
            message="Generating question 5 of 10" if i % 3 == 0 else "Done: 10 questions in 3.2s",
            created_at=1.7e9 - i,
            updated_at=1.7e9 - i + 3.2,
            eta_seconds=12.5 if i % 3 == 0 else None,
        )
        for i in range(n)
    ]


def state_shapes(states: list[JobState]) -> dict[str, Any]:
    """The same `jobs_of` reply in each shape compared."""
    return {
        "JobState wire dicts (before)": [s.wire() for s in states],
        "JobState models (the hub)": states,
        "named tuples": [StateTuple(*(getattr(s, f) for f in StateTuple._fields)) for s in states],
    }


def best_us(call: Any, number: int) -> float:
    """Microseconds per call, best of 5 runs of `number` calls."""
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envelopes", type=int, default=200, help="envelopes in the batch (default 200)")
    parser.add_argument("--states", type=int, default=500, help="job states in a jobs_of reply (default 500)")
    parser.add_argument("--number", type=int, default=200, help="calls per timing run (default 200)")
    args = parser.parse_args()
    rows = []
    for name, reply in shapes(envelopes(args.envelopes)).items():
        blob = pickle.dumps(reply, protocol=5)
        assert pickle.loads(blob) == reply
        dumps = best_us(lambda reply=reply: pickle.dumps(reply, protocol=5), args.number)
        loads = best_us(lambda blob=blob: pickle.loads(blob), args.number)
        rows.append((name, dumps, loads, len(blob)))
    base = next(r for r in rows if r[0].endswith("(the hub)"))
    print(f"pull reply of {args.envelopes} envelopes; Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print()
    print("| shape | dumps us | loads us | dumps+loads vs the hub's | bytes |")
    print("|---|---:|---:|---:|---:|")
    for name, dumps, loads, size in rows:
        ratio = (dumps + loads) / (base[1] + base[2])
        print(f"| {name} | {dumps:.0f} | {loads:.0f} | {ratio:.2f} x | {size:,} |")
    states = job_states(args.states)
    rows = []
    for name, reply in state_shapes(states).items():
        blob = pickle.dumps(reply, protocol=5)
        assert pickle.loads(blob) == reply
        number = max(1, args.number // 4)
        dumps = best_us(lambda reply=reply: pickle.dumps(reply, protocol=5), number)
        loads = best_us(lambda blob=blob: pickle.loads(blob), number)
        rows.append((name, dumps, loads, len(blob)))
    base = rows[0]
    wire = best_us(lambda: [s.wire() for s in states], max(1, args.number // 4))
    print()
    print(f"jobs_of reply of {args.states} job states")
    print()
    print("| shape | dumps us | loads us | dumps+loads vs wire dicts | bytes |")
    print("|---|---:|---:|---:|---:|")
    for name, dumps, loads, size in rows:
        ratio = (dumps + loads) / (base[1] + base[2])
        print(f"| {name} | {dumps:.0f} | {loads:.0f} | {ratio:.2f} x | {size:,} |")
    print()
    print(f"`wire()` of each of the {args.states} models (an edge writing them as JSON): {wire:.0f} us")
    before, after = page_us(states, max(1, args.number // 20))
    print()
    print(
        f"GET /api/jobs page of {args.states} (store rows parsed, shard states and rows pickled both ways,"
        f" answer made): wire dicts {before:.0f} us, JobStates {after:.0f} us ({after / before:.2f} x)"
    )


def page_us(states: list[JobState], number: int) -> tuple[float, float]:
    """Microseconds of CPU for one GET /api/jobs page of len(states) jobs, summed over the store (rows read
    and pickled), the shard (live states pickled) and the ingress (both unpickled, merged, made wire dicts):
    as wire dicts (before) and as JobStates (the hub). A real JobStore on a temporary SQLite file."""
    import tempfile

    from actors.store import JobStore

    with tempfile.TemporaryDirectory() as folder:
        store = JobStore(Path(folder) / "jobs.db")
        for state in states:
            store.save(state.wire())
        educator, n = states[0].educator_id, len(states)

        def as_dicts() -> list[dict[str, Any]]:
            rows = pickle.loads(pickle.dumps(store.list_jobs_many([educator], n + 1)[0], protocol=5))
            live = pickle.loads(pickle.dumps([s.wire() for s in states], protocol=5))
            return [state or row for state, row in zip(live, rows[:n], strict=True)]

        def as_states() -> list[dict[str, Any]]:
            rows = pickle.loads(pickle.dumps(store.list_jobs_page(educator, n + 1), protocol=5))
            live = pickle.loads(pickle.dumps(states, protocol=5))
            return [(row if state is None else state).wire() for state, row in zip(live, rows[:n], strict=True)]

        assert as_dicts() == as_states()
        return best_us(as_dicts, number), best_us(as_states, number)


if __name__ == "__main__":
    main()
