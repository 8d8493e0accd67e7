"""Ray tasks of the built-in job kinds. Tasks stream their progress back to the job's monitor as
items before their result (Ray streaming generators), so no task needs a handle on the monitor."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import ray

from jobs import quiz
from jobs.words import plural


@ray.remote(num_cpus=1, max_retries=1)
def analyse_document(text: str) -> quiz.Analysis:
    """quiz.analyse as a Ray task (one CPU, retried once if its worker dies); QuizInputError for a
    text that yields no question."""
    return quiz.analyse(text)


@ray.remote(num_cpus=1, max_retries=0)
def generate_question(
    analysis: quiz.Analysis, slot: int, sentence_index: int, seed: int, avoid: frozenset[str]
) -> Iterator[Any]:
    """Yields (fraction, step message) items, then the question dict."""
    yield from quiz.build_question_steps(analysis, slot, sentence_index, seed, avoid_answers=avoid)


def _with_progress(work: Callable[[Callable[[float, str], None]], Any]) -> Iterator[Any]:
    """Run `work(progress)` on a thread, yielding each (fraction, message) it reports, then
    ("result", value). Exceptions come out of the generator."""
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def target() -> None:
        try:
            events.put(("result", work(lambda f, m: events.put(("progress", (f, m))))))
        except BaseException as exc:
            events.put(("error", exc))

    threading.Thread(target=target, daemon=True).start()
    while True:
        kind, value = events.get()
        if kind == "progress":
            yield value
        elif kind == "error":
            raise value
        else:
            yield ("result", value)
            return


@ray.remote(num_cpus=1, max_retries=0)
def process_document(content: bytes, filename: str) -> Iterator[Any]:
    """Yields ("stage", name) and (fraction, message) items, then ("result", {...})."""
    from jobs import documents

    yield ("stage", "parsing")
    text = None
    for item in _with_progress(lambda p: documents.extract_text(content, filename, p)):
        if item[0] == "result":
            text = item[1]
        else:
            yield item
    yield ("stage", "chunking")
    chunks = documents.chunk_text(text or "")
    yield (1.0, f"Split into {plural(len(chunks), 'chunk')}")
    yield ("stage", "indexing")
    index = None
    for item in _with_progress(lambda p: documents.build_index(chunks, progress=p)):
        if item[0] == "result":
            index = item[1]
        else:
            yield item
    assert index is not None
    yield ("result", {"text": text, "index": index.to_json(), "chunks": len(chunks), "terms": list(index.terms)[:20]})
