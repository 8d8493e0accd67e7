"""A quiz kind for the restart tests (integration and cluster): the built-in quiz runner
(jobs.quiz_job.generate) with a question task that leaves a marker file per run in a folder the test
reads, and waits `delay` seconds before building its question, so that a job can be cut short
mid-way and the tests can count how many times each question was built.

Registered as a custom kind (`register`), so it is pickled by value with this module: the
monitor's process needs no tests package."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import ray

from jobs.params import QuizGenerationParams

KIND = "counted_quiz"


class CountedQuizParams(QuizGenerationParams):
    """quiz_generation's params, and where to count the question task's runs."""

    marker_dir: str
    delay: float = 0.5


@ray.remote(num_cpus=1, max_retries=0)
def counted_question(marker_dir: str, delay: float, *args: Any) -> dict[str, Any]:
    """jobs.tasks.generate_question, after leaving a marker `<slot>-<random>` and waiting `delay` s."""
    from jobs.tasks import generate_question

    slot = args[1]
    (Path(marker_dir) / f"{slot}-{uuid.uuid4().hex}").touch()
    time.sleep(delay)
    question: dict[str, Any] = generate_question._function(*args)  # type: ignore[attr-defined]
    return question


class CountedTask:
    """What jobs.quiz_job.generate calls `.remote(...)` on: counted_question with the marker folder."""

    def __init__(self, marker_dir: str, delay: float) -> None:
        self.marker_dir = marker_dir
        self.delay = delay

    def remote(self, *args: Any) -> Any:
        return counted_question.remote(self.marker_dir, self.delay, *args)


async def counted_quiz(ctx: Any, params: CountedQuizParams) -> dict[str, Any]:
    """The built-in quiz runner with the counted question task; each run leaves a marker
    `monitor-<node id>-<random>` saying on which node its monitor runs."""
    from jobs import quiz_job

    node = ray.get_runtime_context().get_node_id()
    (Path(params.marker_dir) / f"monitor-{node}-{uuid.uuid4().hex}").touch()

    return await quiz_job.generate(ctx, params, question_task=CountedTask(params.marker_dir, params.delay))


def register(notebook: Any, resources: dict[str, float] | None = None) -> str:
    """Register the kind through a notebook connection (jobs.connect); returns its name."""
    notebook.register_kind(KIND, counted_quiz, CountedQuizParams, resources)
    return KIND


def runs(marker_dir: str | Path) -> Counter[int]:
    """How many times the question task ran for each slot."""
    return Counter(int(p.name.split("-")[0]) for p in Path(marker_dir).iterdir() if p.name[0].isdigit())


def monitor_nodes(marker_dir: str | Path) -> list[str]:
    """The node of each run of the job's monitor, as they started (by the markers' times)."""
    found = sorted(Path(marker_dir).glob("monitor-*"), key=lambda p: p.stat().st_mtime_ns)
    return [p.name.split("-")[1] for p in found]
