"""Ray tasks of the built-in job kinds. Each reports its progress to the job's monitor through the
TaskLink it is given (jobs.tasklink: a socket to the monitor on its node, else actor calls) and
returns its result."""

from __future__ import annotations

from typing import Any

import ray

from jobs import quiz
from jobs.tasklink import TaskLink
from jobs.words import plural


@ray.remote(num_cpus=1, max_retries=1)
def analyse_document(text: str) -> quiz.Analysis:
    """quiz.analyse as a Ray task (one CPU, retried once if its worker dies); QuizInputError for a
    text that yields no question."""
    return quiz.analyse(text)


@ray.remote(num_cpus=1, max_retries=0)
def generate_question(
    analysis: quiz.Analysis, slot: int, sentence_index: int, seed: int, avoid: frozenset[str], link: TaskLink
) -> dict[str, Any]:
    """Sends [fraction, step message] through `link` for each step; returns the question dict."""
    question: dict[str, Any] | None = None
    with link.open() as report:
        for item in quiz.build_question_steps(analysis, slot, sentence_index, seed, avoid_answers=avoid):
            if isinstance(item, dict):
                question = item
            else:
                report.send([float(item[0]), str(item[1])])
    if question is None:
        raise RuntimeError("building a question ended without its question")
    return question


@ray.remote(num_cpus=1, max_retries=0)
def process_document(content: bytes, filename: str, link: TaskLink) -> dict[str, Any]:
    """Sends ["stage", name] and [fraction, message] through `link`; returns {"text", "index",
    "chunks", "terms"}."""
    from jobs import documents

    with link.open() as report:

        def progress(fraction: float, message: str) -> None:
            report.send([float(fraction), message])

        report.send(["stage", "parsing"])
        text = documents.extract_text(content, filename, progress)
        report.send(["stage", "chunking"])
        chunks = documents.chunk_text(text or "")
        progress(1.0, f"Split into {plural(len(chunks), 'chunk')}")
        report.send(["stage", "indexing"])
        index = documents.build_index(chunks, progress=progress)
    return {"text": text, "index": index.to_json(), "chunks": len(chunks), "terms": list(index.terms)[:20]}
