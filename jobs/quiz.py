"""Quiz generation from a document's text, in pure Python.

`analyse` splits the text into sentences, extracts key terms (common content words, capitalised
names, acronyms, numbers and years), scores them tf-idf style over the sentences and ranks the
sentences that can carry a question. `plan_questions` picks which sentences to ask about and
`build_question` / `build_question_steps` turn one sentence into a multiple-choice or cloze
question whose distractors are other terms of the same document with the same shape.
Everything is deterministic: the only randomness is `random.Random(seed)` for option order.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hub.core.errors import InvalidInput
from jobs.text import (
    STOPWORDS,
    class_weight,
    contains_words,
    extract_terms,
    number_shape,
    number_value,
    split_sentences,
    tokens,
    word_shape,
)
from jobs.words import plural

MIN_WORDS = 6
MAX_WORDS = 45
BLANK = "_____"
STEPS: tuple[str, ...] = ("Choosing the key term", "Finding distractors", "Writing the question")

Candidate = tuple[str, int, int]  # term key, start, end within its sentence


class QuizInputError(InvalidInput, ValueError):
    """The text cannot yield any question (too short, no usable sentences). Message says why; the
    educator is shown it as it is (hub.core.errors.InvalidInput)."""


@dataclass(frozen=True, slots=True)
class Analysis:
    """What `analyse` finds in a text, the input of every question: its sentences, each key term's
    score and class, the sentences ranked best first (indices into `sentences`), and per sentence
    the terms that may be blanked and how good a question it makes. Plain values: it travels
    between Ray tasks."""

    sentences: tuple[str, ...]
    term_scores: dict[str, float]
    ranked: tuple[int, ...]
    # term -> "name" | "acronym" | "number" | "word" (distractors come from the same class)
    term_classes: dict[str, str]
    # per sentence: the terms that may be blanked, with their span; the preferred answer first
    # (preferred answers are made distinct across sentences where the document allows it)
    candidates: tuple[tuple[Candidate, ...], ...]
    # per sentence: how good a question it makes (0 for unusable sentences)
    sentence_scores: tuple[float, ...]


def analyse(text: str) -> Analysis:
    """Split, tokenise and score the document; raise QuizInputError if no sentence is usable."""
    if not isinstance(text, str) or not text.strip():
        raise QuizInputError("The text is empty, so there is nothing to make questions from.")
    sentences = split_sentences(text)
    if not sentences:
        raise QuizInputError("The text contains no words or numbers, so no sentence can become a question.")
    toks = [tokens(s) for s in sentences]
    mid_caps = {t.lower() for ts in toks for t, _, _ in ts[1:] if t[0].isupper()}
    # titles and headings (short, no final punctuation) give no terms
    occurrences = [
        [] if len(ts) < MIN_WORDS and s[-1] not in ".!?\"'”’)" else extract_terms(s, ts, mid_caps)
        for s, ts in zip(sentences, toks, strict=False)
    ]

    classes: dict[str, str] = {}
    tf: Counter[str] = Counter()
    df: Counter[str] = Counter()
    for occ in occurrences:
        for key, cls, _, _ in occ:
            classes.setdefault(key, cls)
            tf[key] += 1
        df.update({key for key, _, _, _ in occ})
    n_sent = len(sentences)
    raw = {
        k: (1 + math.log(tf[k])) * (math.log((1 + n_sent) / (1 + df[k])) + 1) * class_weight(k, c)
        for k, c in classes.items()
    }
    top = max(raw.values(), default=1.0)
    scores = {k: round(v / top, 4) for k, v in raw.items()}
    ordered = sorted(scores.values())
    threshold = ordered[len(ordered) // 2] if ordered else 1.0

    prefs: dict[int, list[Candidate]] = {}
    sentence_scores = [0.0] * n_sent
    seen: set[str] = set()
    too_short = too_long = no_terms = 0
    for i, (_sentence, ts, occ) in enumerate(zip(sentences, toks, occurrences, strict=False)):
        if len(ts) < MIN_WORDS:
            too_short += 1
            continue
        if len(ts) > MAX_WORDS:
            too_long += 1
            continue
        lowered = [t.lower() for t, _, _ in ts]
        normal = " ".join(lowered)
        content = {t for t in lowered if t not in STOPWORDS and len(t) >= 3 and t.isalpha()}
        prose = any(t in STOPWORDS for t in lowered)  # word lists and keyboard mash have none
        counts = Counter(key.lower() for key, _, _, _ in occ)
        multi = [key for key, _, _, _ in occ if " " in key]
        cands: list[Candidate] = []
        for key, _, start, end in occ:
            if counts[key.lower()] != 1 or not (df[key] >= 2 or scores[key] >= threshold):
                continue
            if any(o != key and contains_words(o, key) for o in multi) or (
                " " in key and any(o != key and contains_words(key, o) for o, _, _, _ in occ)
            ):
                continue  # part of a longer name here, or holding a shorter one
            cands.append((key, start, end))
        if normal in seen or len(content) < 3 or not prose or not cands:
            no_terms += 1
            continue
        seen.add(normal)
        cands.sort(key=lambda c: (-scores[c[0]], c[1]))
        prefs[i] = cands
        best = [scores[c[0]] for c in cands[:3]] + [0.0, 0.0]
        density = sum(scores[k] for k, _, _, _ in occ) / math.sqrt(len(ts))
        value = best[0] + 0.5 * best[1] + 0.25 * best[2] + 0.3 * density
        sentence_scores[i] = round(value * (0.85 if len(ts) < 8 or len(ts) > 35 else 1.0), 6)

    if not prefs:
        raise QuizInputError(
            f"The text cannot yield any question: of its {plural(n_sent, 'sentence')}, none has between "
            f"{MIN_WORDS} and {MAX_WORDS} words and an informative key term (a name, a number or a "
            f"less common word) to ask about ({too_short} too short, {too_long} too long, "
            f"{no_terms} without a usable key term)."
        )
    ranked = tuple(sorted(prefs, key=lambda i: (-sentence_scores[i], i)))
    assigned = _assign_answers(ranked, prefs)
    candidates = tuple(
        tuple([assigned[i]] + [c for c in prefs[i] if c != assigned[i]]) if i in prefs else () for i in range(n_sent)
    )
    return Analysis(
        sentences=tuple(sentences),
        term_scores=scores,
        ranked=ranked,
        term_classes=classes,
        candidates=candidates,
        sentence_scores=tuple(sentence_scores),
    )


def _assign_answers(ranked: tuple[int, ...], prefs: dict[int, list[Candidate]]) -> dict[int, Candidate]:
    """Give each sentence a preferred answer, distinct across sentences where possible: best
    sentences choose first; a sentence left without a free term may take one from an earlier
    sentence that can move to another free term of its own."""
    owner: dict[str, int] = {}
    assigned: dict[int, Candidate] = {}
    for i in ranked:
        free = [c for c in prefs[i] if c[0].lower() not in owner]
        if free:
            assigned[i] = free[0]
            owner[free[0][0].lower()] = i
            continue
        assigned[i] = prefs[i][0]
        for cand in prefs[i]:
            holder = owner[cand[0].lower()]
            alternatives = [c for c in prefs[holder] if c[0].lower() not in owner]
            if alternatives:
                assigned[holder] = alternatives[0]
                owner[alternatives[0][0].lower()] = holder
                assigned[i] = cand
                owner[cand[0].lower()] = i
                break
    return assigned


def _choose_answer(analysis: Analysis, sentence_index: int, avoid: frozenset[str]) -> Candidate:
    cands = analysis.candidates[sentence_index]
    if not cands:
        raise QuizInputError(f"Sentence {sentence_index + 1} has no key term to ask about.")
    avoided = {a.lower() for a in avoid}
    return next((c for c in cands if c[0].lower() not in avoided), cands[0])


def plan_questions(analysis: Analysis, n: int) -> list[int]:
    """Up to n distinct sentence indices, best first: high rank, distinct answers, spread out.

    Building the questions of these sentences (with no avoid_answers) gives distinct answers
    wherever the document has enough distinct key terms."""
    if n <= 0 or not analysis.ranked:
        return []
    pool = list(analysis.ranked[: max(60, 20 * n)])
    top = analysis.sentence_scores[pool[0]] or 1.0
    window = max(1.0, len(analysis.sentences) / (n + 1))
    chosen: list[int] = []
    used: set[str] = set()
    while len(chosen) < n and pool:
        best: tuple[float, int, str] | None = None
        for i in pool:
            answer = _choose_answer(analysis, i, frozenset())[0].lower()
            value = analysis.sentence_scores[i] / top * (0.3 if answer in used else 1.0)
            near = max((1.0 - abs(i - j) / window for j in chosen), default=0.0)
            value *= 1.0 - 0.5 * max(0.0, near)
            if best is None or value > best[0]:
                best = (value, i, answer)
        assert best is not None
        chosen.append(best[1])
        pool.remove(best[1])
        used.add(best[2])
    return chosen


def _distance(analysis: Analysis, answer: str, cand: str, cls: str) -> float:
    scores = analysis.term_scores
    d = abs(scores[answer] - scores[cand])
    if cls == "number":
        a, c = number_value(answer), number_value(cand)
        if number_shape(answer) == "year":
            return d + abs(a - c) / 100
        return d + 3 * abs(math.log10(1 + abs(a)) - math.log10(1 + abs(c)))
    if cls == "name":
        return d + abs(len(answer.split()) - len(cand.split())) + abs(len(answer) - len(cand)) / 10
    d += abs(len(answer) - len(cand)) / 3
    if cls == "word":
        d += 0.5 if answer.endswith("s") != cand.endswith("s") else 0.0
        d -= 0.3 if answer[-3:] == cand[-3:] else 0.0
        d += 1.5 if word_shape(answer) != word_shape(cand) else 0.0
    return d


def _related(a: str, b: str, cls: str) -> bool:
    """Too close to be a fair distractor: contains the other, or shares its stem."""
    a, b = a.lower(), b.lower()
    if a == b or contains_words(a, b) or contains_words(b, a):
        return True
    if cls != "word":
        return False
    prefix = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return prefix >= max(4, min(len(a), len(b)) - 3)


def _find_distractors(analysis: Analysis, key: str, surface: str, sentence: str) -> list[str]:
    cls = analysis.term_classes[key]
    shape = number_shape(key) if cls == "number" else cls
    lowered = sentence.lower()
    pool = [
        t
        for t, c in analysis.term_classes.items()
        if c == cls and t != key and (cls != "number" or number_shape(t) == shape)
    ]
    pool.sort(key=lambda t: (_distance(analysis, key, t, cls), t))
    picked: list[str] = []
    for term in pool:
        if _related(term, key, cls) or any(_related(term, p, cls) for p in picked):
            continue
        if re.search(r"(?<!\w)" + re.escape(term.lower()) + r"(?!\w)", lowered):
            continue
        picked.append(term)
        if len(picked) == 3:
            break
    if cls == "word" and surface[:1].isupper():  # the answer starts the sentence
        picked = [p[:1].upper() + p[1:] for p in picked]
    return picked


def build_question_steps(
    analysis: Analysis, slot: int, sentence_index: int, seed: int, *, avoid_answers: frozenset[str] = frozenset()
) -> Iterator[tuple[float, str] | dict[str, Any]]:
    """Yield (fraction, step name) before each step, then the question dict."""
    if slot < 0:
        raise ValueError(f"slot must be 0 or more, not {slot}")
    if not 0 <= sentence_index < len(analysis.sentences):
        raise QuizInputError(f"There is no sentence {sentence_index + 1}; the document has {len(analysis.sentences)}.")
    total = len(STEPS)
    yield (0 / total, STEPS[0])
    key, start, end = _choose_answer(analysis, sentence_index, avoid_answers)
    sentence = analysis.sentences[sentence_index]
    answer = sentence[start:end]
    blanked = sentence[:start] + BLANK + sentence[end:]

    yield (1 / total, STEPS[1])
    distractors = _find_distractors(analysis, key, answer, sentence)

    yield (2 / total, STEPS[2])
    cls = analysis.term_classes[key]
    kind = {"name": "name", "acronym": "abbreviation", "number": "number"}.get(cls, "term")
    explanation = f'The missing {kind} is "{answer}": the document says "{sentence}"'
    multiple_choice = slot % 2 == 0 and len(distractors) >= 3
    question: dict[str, Any] = {
        "id": f"q{slot + 1}",
        "type": "multiple_choice" if multiple_choice else "cloze",
        "prompt": (
            f"Which term completes the sentence? {blanked}" if multiple_choice else f"Fill in the blank: {blanked}"
        ),
        "answer": answer,
    }
    if multiple_choice:
        options = [answer, *distractors]
        random.Random(seed).shuffle(options)
        question["options"] = options
        others = ", ".join(f'"{d}"' for d in distractors)
        explanation += f" The other options ({others}) appear elsewhere in the document but do not fit this sentence."
    question |= {"sourceSentence": sentence, "sentenceIndex": sentence_index, "explanation": explanation}
    yield question


def build_question(
    analysis: Analysis, slot: int, sentence_index: int, seed: int, *, avoid_answers: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The question for one sentence: the last item of build_question_steps."""
    question: dict[str, Any] | None = None
    steps = build_question_steps(analysis, slot, sentence_index, seed, avoid_answers=avoid_answers)
    for item in steps:
        if isinstance(item, dict):
            question = item
    assert question is not None
    return question
