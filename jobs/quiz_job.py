"""The `quiz_generation` and `question_replace` jobs: analyse the source document, then one Ray
task per question, in parallel; the quiz is kept in the job store."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

from hub.core.handles import StoreHandle
from jobs import quiz
from jobs.context import JobContext
from jobs.params import QuestionReplaceParams, QuizGenerationParams
from jobs.words import plural

# Share of the overall progress each phase takes.
ANALYSE_DONE = 10.0
QUESTIONS_DONE = 95.0


def _no_document(document_id: str | None) -> quiz.QuizInputError:
    return quiz.QuizInputError(f"no processed document {document_id!r}: run document_processing first")


def _no_quiz(quiz_id: str) -> quiz.QuizInputError:
    return quiz.QuizInputError(f"no quiz {quiz_id!r}")


def _no_question(quiz_id: str, question_id: str) -> quiz.QuizInputError:
    return quiz.QuizInputError(f"quiz {quiz_id!r} has no question {question_id!r}")


async def check_quiz(store: StoreHandle, educator_id: str, params: QuizGenerationParams) -> None:
    """At submission (JobKind.check): a quiz from a `documentId` needs that document, processed and
    the educator's own; QuizInputError (422) otherwise. The job checks again when it runs."""
    if not params.text and (await store.outline(None, params.document_id)).document_owner != educator_id:
        raise _no_document(params.document_id)


async def check_replace(store: StoreHandle, educator_id: str, params: QuestionReplaceParams) -> None:
    """At submission (JobKind.check): the quiz must be the educator's and hold the question."""
    outline = await store.outline(params.quiz_id, None)
    if outline.quiz_owner != educator_id:
        raise _no_quiz(params.quiz_id)
    if params.question_id not in outline.question_ids:
        raise _no_question(params.quiz_id, params.question_id)


async def _source_text(ctx: JobContext, params: QuizGenerationParams) -> str:
    if params.text:
        return params.text
    doc = await ctx.store.document(params.document_id) if params.document_id is not None else None
    if doc is None or doc.educator_id != ctx.educator_id:
        raise _no_document(params.document_id)
    return doc.text


async def _analyse(ctx: JobContext, text: str) -> quiz.Analysis:
    from jobs.tasks import analyse_document

    analysis: quiz.Analysis = await ctx.track(analyse_document.remote(text))
    ctx.check_cancelled()
    return analysis


async def _build(
    ctx: JobContext,
    analysis: quiz.Analysis,
    slot: int,
    sentence_index: int,
    seed: int,
    avoid: frozenset[str],
    on_step: Any,
    task: Any = None,
) -> dict[str, Any]:
    """One question as a Ray task (`task`: jobs.tasks.generate_question unless another is given),
    reporting each of its steps through `on_step(fraction, text)`."""
    from jobs.tasks import generate_question

    remote = generate_question if task is None else task

    def step(item: Any) -> None:
        on_step(float(item[0]), str(item[1]))

    link = await ctx.link(step)
    question: dict[str, Any] = await ctx.track(
        remote.remote(analysis, slot, sentence_index, seed, avoid, link)  # type: ignore[attr-defined]
    )
    await ctx.drained(link)
    ctx.check_cancelled()
    return question


async def run(ctx: JobContext, params: QuizGenerationParams) -> dict[str, Any]:
    """The `quiz_generation` job: `generate` with the built-in question task."""
    return await generate(ctx, params)


async def generate(ctx: JobContext, params: QuizGenerationParams, question_task: Any = None) -> dict[str, Any]:
    """Analyse the text (`params.text`, or the processed document `params.document_id`) in a Ray task,
    build up to `params.num_questions` questions, one Ray task each, in parallel, reporting progress
    (percent of the whole and what is being done), and save the quiz under `params.quiz_id`.
    `question_task`: the Ray remote function that builds one question, with jobs.tasks.generate_question's
    arguments and result (that one when None): a custom kind may give its own (one that asks for other
    resources, or counts its runs).

    Each question is a partial result (PROTOCOL.md section 9): `ctx.item(slot, question, total)` as soon
    as it is done. On a monitor restarted after losing its node, the questions its earlier run finished
    (`ctx.done_items()`) are taken as they are, not built again, and count as done in the progress: the
    analysis and the plan are deterministic (the seed comes from the quiz id), so the quiz is the
    same, in content and order, as an uninterrupted run's.

    Returns {"quizId", "documentId", "numQuestions", "questions": [question dict, ...]}; fewer
    questions than asked when the text has material for fewer (the progress message says so).
    QuizInputError (422, shown as it is) for a missing or foreign document or a text that yields no
    question; JobCancelled when cancelled."""
    ctx.progress(2.0, "Reading the document")
    text = await _source_text(ctx, params)
    analysis = await _analyse(ctx, text)
    slots = quiz.plan_questions(analysis, params.num_questions)
    total = len(slots)
    note = "" if total == params.num_questions else f" (the document has material for {total})"
    ctx.progress(
        ANALYSE_DONE,
        f"Found {plural(len(analysis.ranked), 'informative sentence')}; generating {plural(total, 'question')}{note}",
    )

    kept = {slot: q for slot, q in (await ctx.done_items()).items() if 0 <= slot < total}
    fractions = [1.0 if slot in kept else 0.0 for slot in range(total)]
    done = len(kept)
    seed = zlib.crc32((params.quiz_id or "").encode())

    def report(message: str) -> None:
        overall = ANALYSE_DONE + (QUESTIONS_DONE - ANALYSE_DONE) * sum(fractions) / total
        ctx.progress(overall, message)

    async def one(slot: int, sentence_index: int) -> dict[str, Any]:
        nonlocal done
        if slot in kept:
            return kept[slot]

        def step(fraction: float, text: str) -> None:
            fractions[slot] = fraction
            report(f"Generating question {min(done + 1, total)} of {total}: {text.lower()}")

        question = await _build(ctx, analysis, slot, sentence_index, seed + slot, frozenset(), step, question_task)
        fractions[slot] = 1.0
        done += 1
        ctx.item(slot, question, total)
        report(f"Generated {done} of {total} questions")
        return question

    questions = list(await asyncio.gather(*(one(slot, idx) for slot, idx in enumerate(slots))))
    ctx.progress(QUESTIONS_DONE, "Saving the quiz")
    assert params.quiz_id is not None
    await ctx.store.save_quiz(params.quiz_id, ctx.educator_id, text, questions, params.document_id)
    return {
        "quizId": params.quiz_id,
        "documentId": params.document_id,
        "numQuestions": len(questions),
        "questions": questions,
    }


async def replace_question(ctx: JobContext, params: QuestionReplaceParams) -> dict[str, Any]:
    """The `question_replace` job: a new question from a sentence the quiz does not use yet, kept
    in the same place with the same id, its answer distinct from the other questions' answers.

    Returns {"quizId", "questionId", "question", "summary"}. QuizInputError (422) for a quiz that is
    not the educator's, a question it does not hold, or a document with no sentence left;
    JobCancelled when cancelled."""
    ctx.progress(2.0, "Loading the quiz")
    found = await ctx.store.quiz(params.quiz_id)
    if found is None or found.educator_id != ctx.educator_id:
        raise _no_quiz(params.quiz_id)
    questions = found.questions
    slot = next((i for i, q in enumerate(questions) if q["id"] == params.question_id), None)
    if slot is None:
        raise _no_question(params.quiz_id, params.question_id)
    others = [q for q in questions if q["id"] != params.question_id]
    analysis = await _analyse(ctx, found.source_text)
    used = {q["sentenceIndex"] for q in questions}
    fresh = [i for i in quiz.plan_questions(analysis, len(analysis.ranked)) if i not in used]
    if not fresh:
        raise quiz.QuizInputError("the document has no sentence left that the quiz does not already use")
    ctx.progress(ANALYSE_DONE, f"Writing a new question {slot + 1} of {len(questions)}")
    avoid = frozenset(q["answer"] for q in others)

    def step(fraction: float, text: str) -> None:
        ctx.progress(ANALYSE_DONE + (QUESTIONS_DONE - ANALYSE_DONE) * fraction, text)

    seed = zlib.crc32(ctx.job_id.encode())
    question = await _build(ctx, analysis, slot, fresh[0], seed, avoid, step)
    question["id"] = params.question_id
    ctx.progress(QUESTIONS_DONE, "Saving the quiz")
    await ctx.store.replace_question(params.quiz_id, params.question_id, question)
    return {
        "quizId": params.quiz_id,
        "questionId": params.question_id,
        "question": question,
        "summary": f"question {slot + 1} replaced",
    }
