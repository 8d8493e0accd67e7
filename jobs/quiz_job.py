"""The `quiz_generation` job: analyse the document, then one Ray task per question, in parallel."""

from __future__ import annotations

import asyncio
import zlib
from typing import TYPE_CHECKING, Any

from jobs import quiz
from jobs.context import JobContext

if TYPE_CHECKING:
    from jobs.kinds import QuizGenerationParams

# Share of the overall progress each phase takes.
ANALYSE_DONE = 10.0
QUESTIONS_DONE = 95.0


async def run(ctx: JobContext, params: QuizGenerationParams) -> dict[str, Any]:
    from jobs.tasks import analyse_document, generate_question

    if not params.text:
        raise quiz.QuizInputError(f"document {params.document_id!r} has no stored text to generate from")
    ctx.progress(2.0, "Reading the document")
    analysis: quiz.Analysis = await analyse_document.remote(params.text)
    ctx.check_cancelled()
    slots = quiz.plan_questions(analysis, params.num_questions)
    total = len(slots)
    note = "" if total == params.num_questions else f" (the document has material for {total})"
    ctx.progress(ANALYSE_DONE, f"Found {len(analysis.ranked)} informative sentences; "
                               f"generating {total} questions{note}")

    fractions = [0.0] * total
    done = 0
    seed = zlib.crc32((params.quiz_id or "").encode())

    def report(message: str) -> None:
        overall = ANALYSE_DONE + (QUESTIONS_DONE - ANALYSE_DONE) * sum(fractions) / total
        ctx.progress(overall, message)

    async def one(slot: int, sentence_index: int) -> dict[str, Any]:
        nonlocal done
        question: dict[str, Any] | None = None
        async for ref in generate_question.remote(analysis, slot, sentence_index, seed + slot, frozenset()):
            item = await ref
            if isinstance(item, dict):
                question = item
            else:
                fractions[slot] = float(item[0])
                report(f"Generating question {min(done + 1, total)} of {total}: {item[1].lower()}")
            ctx.check_cancelled()
        assert question is not None, "question task ended without a question"
        fractions[slot] = 1.0
        done += 1
        report(f"Generated {done} of {total} questions")
        return question

    questions = await asyncio.gather(*(one(slot, idx) for slot, idx in enumerate(slots)))
    ctx.progress(QUESTIONS_DONE, "Assembling the quiz")
    return {
        "quizId": params.quiz_id,
        "documentId": params.document_id,
        "numQuestions": len(questions),
        "questions": list(questions),
    }
