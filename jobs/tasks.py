"""Ray tasks of the built-in job kinds. Each question is its own task; tasks stream their progress
back to the job's monitor as (fraction, message) items before their result (a Ray streaming
generator), so no task needs a handle on the monitor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ray

from jobs import quiz


@ray.remote(num_cpus=1, max_retries=1)
def analyse_document(text: str) -> quiz.Analysis:
    return quiz.analyse(text)


@ray.remote(num_cpus=1, max_retries=0)
def generate_question(
    analysis: quiz.Analysis, slot: int, sentence_index: int, seed: int, avoid: frozenset[str]
) -> Iterator[Any]:
    yield from quiz.build_question_steps(analysis, slot, sentence_index, seed, avoid_answers=avoid)
