"""Unit tests of jobs.quiz: sentence splitting, term scoring, planning and question building."""

from __future__ import annotations

import json
import pickle
import re
from typing import Any

import pytest

from jobs import quiz

HISTORY = """The History of Photosynthesis Research

In 1648 the Flemish chemist Jan Baptist van Helmont grew a willow tree in a pot of carefully \
weighed soil for five years. The tree gained about 74 kilograms, while the soil lost only a few \
grams, so van Helmont concluded that the new mass came from water. In 1771 the English clergyman \
Joseph Priestley showed that a sprig of mint could restore air in which a candle had burned out. \
Priestley also found that a mouse survived much longer in a sealed jar when a green plant was \
placed beside it. The Dutch physician Jan Ingenhousz demonstrated in 1779 that plants purify air \
only in sunlight and only through their green parts. Ingenhousz also noticed that plants release \
carbon dioxide in darkness, much as animals do through respiration.

In 1782 the Swiss pastor Jean Senebier argued that green plants consume carbon dioxide and release \
oxygen under the influence of light. Nicolas-Théodore de Saussure later showed that the increase \
in plant mass depends on both carbon dioxide and water. Around 1845 the German physician Julius \
Robert Mayer proposed that plants convert light energy into chemical energy. The word \
photosynthesis itself was coined in 1893 by the American botanist Charles Reid Barnes. In the \
1930s Cornelis van Niel studied purple sulfur bacteria, which use hydrogen sulfide instead of \
water and release sulfur rather than oxygen. His comparison suggested that the oxygen released by \
green plants comes from water, not from carbon dioxide.

Robert Hill showed in 1937 that isolated chloroplasts produce oxygen when given light and a \
suitable electron acceptor, e.g. iron salts. Experiments with the heavy isotope oxygen-18 by \
Samuel Ruben and Martin Kamen in 1941 confirmed that the released oxygen comes from water. At the \
University of California, Dr. Melvin Calvin and his colleagues traced radioactive carbon-14 \
through algae to map the fixation of carbon. Their work revealed the Calvin cycle, a series of \
reactions in the stroma that builds sugars from carbon dioxide. Calvin received the Nobel Prize in \
Chemistry in 1961 for this research on carbon assimilation. Daniel Arnon later demonstrated that \
chloroplasts can make ATP using light, a process called photophosphorylation.

Today scientists estimate that photosynthesis converts roughly 1.5 percent of incoming sunlight \
into stored chemical energy in typical crops. Chlorophyll absorbs mostly red and blue light and \
reflects green, which is why leaves look green to the human eye. Modern research on artificial \
photosynthesis aims to mimic these natural reactions in order to produce clean fuels such as \
hydrogen.
"""

SMALL = """Marie Curie studied radioactivity together with her husband in a small laboratory. \
She measured the faint radiation given off by uranium ores with great patience. The couple later \
isolated polonium and radium from tonnes of pitchblende residue."""


def _word_in(term: str, text: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(term.lower()) + r"(?!\w)", text.lower()) is not None


@pytest.fixture(scope="module")
def analysis() -> quiz.Analysis:
    return quiz.analyse(HISTORY)


@pytest.fixture(scope="module")
def questions(analysis: quiz.Analysis) -> list[dict[str, Any]]:
    # the way the quiz job builds them: independently, no avoid_answers, seed per slot
    plan = quiz.plan_questions(analysis, 10)
    return [quiz.build_question(analysis, slot, idx, 1000 + slot) for slot, idx in enumerate(plan)]


def test_sentences_are_split_and_cleaned(analysis: quiz.Analysis) -> None:
    assert len(analysis.sentences) == 22  # the heading plus 21 sentences
    assert analysis.sentences[0] == "The History of Photosynthesis Research"
    assert all(s == s.strip() and "  " not in s and "\n" not in s for s in analysis.sentences)
    assert any(s.endswith("electron acceptor, e.g. iron salts.") for s in analysis.sentences)
    assert any(s.startswith("At the University of California, Dr. Melvin Calvin") for s in analysis.sentences)
    assert any("roughly 1.5 percent" in s for s in analysis.sentences)


def test_abbreviations_initials_and_decimals_do_not_split() -> None:
    text = (
        "Dr. Smith measured 3.5 grams of table salt, e.g. in sea water, with great care. "
        "Then Mr. J. R. Jones repeated the test at 5 p.m. in the U.S. Navy laboratory. "
        "He filed report No. 5 with the results, plans, etc. The board approved the new study!"
    )
    assert quiz.analyse(text).sentences == (
        "Dr. Smith measured 3.5 grams of table salt, e.g. in sea water, with great care.",
        "Then Mr. J. R. Jones repeated the test at 5 p.m. in the U.S. Navy laboratory.",
        "He filed report No. 5 with the results, plans, etc.",
        "The board approved the new study!",
    )


def test_terms_include_names_numbers_and_words(analysis: quiz.Analysis) -> None:
    scores = analysis.term_scores
    for term in (
        "Jan Baptist van Helmont",
        "Joseph Priestley",
        "University of California",
        "1648",
        "1.5",
        "photosynthesis",
        "chloroplasts",
        "ATP",
    ):
        assert term in scores, term
    assert "Dr" not in scores and "The" not in scores and "the" not in scores
    assert all(0.0 < v <= 1.0 for v in scores.values())
    # a term repeated across the document outscores a one-off common word
    assert scores["photosynthesis"] > scores["willow"]
    assert analysis.term_classes["Julius Robert Mayer"] == "name"
    assert analysis.term_classes["1961"] == "number"
    assert analysis.term_classes["oxygen"] == "word"


def test_ranked_sentences_are_usable(analysis: quiz.Analysis) -> None:
    assert 0 not in analysis.ranked  # the heading is too short
    assert len(analysis.ranked) == len(set(analysis.ranked)) == 21
    scores = [analysis.sentence_scores[i] for i in analysis.ranked]
    assert scores == sorted(scores, reverse=True)
    for i in analysis.ranked:
        assert 6 <= len(analysis.sentences[i].split()) <= 45
        assert analysis.candidates[i]


def test_ten_distinct_questions(analysis: quiz.Analysis, questions: list[dict[str, Any]]) -> None:
    assert len(questions) == 10
    assert len({q["sentenceIndex"] for q in questions}) == 10
    assert len({q["answer"].lower() for q in questions}) == 10
    assert [q["id"] for q in questions] == [f"q{k}" for k in range(1, 11)]
    json.dumps(questions)  # JSON-serialisable
    for q in questions:
        sentence = q["sourceSentence"]
        assert sentence == analysis.sentences[q["sentenceIndex"]]
        assert q["answer"] in sentence and q["answer"].strip() == q["answer"]
        assert q["prompt"].count("_____") == 1
        body = q["prompt"].split("? ", 1)[1] if q["type"] == "multiple_choice" else q["prompt"]
        assert body.replace("_____", q["answer"]).endswith(sentence)
        assert q["answer"] in q["explanation"]


def test_question_types_and_options(questions: list[dict[str, Any]]) -> None:
    for slot, q in enumerate(questions):
        if slot % 2 == 1:
            assert q["type"] == "cloze"
        if q["type"] == "cloze":
            assert "options" not in q
            assert q["prompt"].startswith("Fill in the blank: ")
            continue
        assert q["prompt"].startswith("Which term completes the sentence? ")
        options = q["options"]
        assert len(options) == 4
        assert options.count(q["answer"]) == 1
        assert len({o.lower() for o in options}) == 4
        for distractor in options:
            if distractor == q["answer"]:
                continue
            assert _word_in(distractor, HISTORY), distractor  # taken from the document
            assert not _word_in(distractor, q["sourceSentence"]), distractor
    assert sum(q["type"] == "multiple_choice" for q in questions) >= 4


def test_distractors_match_the_answer_shape(analysis: quiz.Analysis, questions: list[dict[str, Any]]) -> None:
    for q in questions:
        if q["type"] != "multiple_choice":
            continue
        key = next(t for t, s, e in analysis.candidates[q["sentenceIndex"]] if q["sourceSentence"][s:e] == q["answer"])
        cls = analysis.term_classes[key]
        for option in q["options"]:
            matches = [t for t in analysis.term_classes if t.lower() == option.lower()]
            assert any(analysis.term_classes[t] == cls for t in matches), (option, cls)


def test_deterministic(questions: list[dict[str, Any]]) -> None:
    again = quiz.analyse(HISTORY)
    assert again == quiz.analyse(HISTORY)
    plan = quiz.plan_questions(again, 10)
    assert [quiz.build_question(again, s, i, 1000 + s) for s, i in enumerate(plan)] == questions


def test_seed_only_shuffles_options(analysis: quiz.Analysis) -> None:
    idx = quiz.plan_questions(analysis, 1)[0]
    variants = [quiz.build_question(analysis, 0, idx, seed) for seed in range(20)]
    assert variants[0]["type"] == "multiple_choice"
    assert len({tuple(sorted(v["options"])) for v in variants}) == 1
    assert len({tuple(v["options"]) for v in variants}) > 1
    assert len({v["answer"] for v in variants}) == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "!!! ??? ... ---",
        "Hello world.",
        "Too short. Far too short. Still short.",
        "blah blah blah blah blah blah blah blah.",
        "the of and a to in is it that was for on.",
        "asdf qwer zxcv uiop hjkl vbnm tyui ghjk.",
        "123 456 789 1011 1213 1415 1617.",
    ],
)
def test_unusable_text_raises(text: str) -> None:
    with pytest.raises(quiz.QuizInputError) as err:
        quiz.analyse(text)
    message = str(err.value)
    assert isinstance(err.value, ValueError)
    assert re.search(r"empty|no words|cannot yield any question", message), message


def test_error_message_says_why() -> None:
    with pytest.raises(quiz.QuizInputError, match=r"empty"):
        quiz.analyse("")
    with pytest.raises(quiz.QuizInputError, match=r"1 too short"):
        quiz.analyse("Hello world.")


def test_plan_never_duplicates(analysis: quiz.Analysis) -> None:
    assert quiz.plan_questions(analysis, 0) == []
    for n in range(1, 41):
        plan = quiz.plan_questions(analysis, n)
        assert len(plan) == len(set(plan)) == min(n, len(analysis.ranked))
        assert set(plan) <= set(analysis.ranked)


def test_plan_prefers_rank_and_spreads(analysis: quiz.Analysis) -> None:
    assert quiz.plan_questions(analysis, 1) == [analysis.ranked[0]]
    plan = quiz.plan_questions(analysis, 5)
    assert max(plan) - min(plan) >= len(analysis.sentences) // 2


def test_small_text_gives_fewer_questions() -> None:
    small = quiz.analyse(SMALL)
    plan = quiz.plan_questions(small, 10)
    assert sorted(plan) == [0, 1, 2]
    built = [quiz.build_question(small, s, i, s) for s, i in enumerate(plan)]
    assert len({q["answer"] for q in built}) == 3


def test_falls_back_to_cloze_without_distractors() -> None:
    small = quiz.analyse(SMALL)
    q = quiz.build_question(small, 0, 0, 7)  # "Marie Curie" is the only name in the text
    assert q["answer"] == "Marie Curie"
    assert q["type"] == "cloze" and "options" not in q
    assert q["prompt"] == (
        "Fill in the blank: _____ studied radioactivity together with her husband in a small laboratory."
    )


def test_avoid_answers(analysis: quiz.Analysis) -> None:
    idx = analysis.ranked[0]
    first = quiz.build_question(analysis, 0, idx, 1)
    avoid = frozenset({first["answer"].upper()})
    other = quiz.build_question(analysis, 0, idx, 1, avoid_answers=avoid)
    assert other["answer"].lower() != first["answer"].lower()
    assert other["answer"] in other["sourceSentence"]
    everything = frozenset(t for t, _, _ in analysis.candidates[idx])
    assert quiz.build_question(analysis, 0, idx, 1, avoid_answers=everything)["answer"]


def test_bad_sentence_index(analysis: quiz.Analysis) -> None:
    with pytest.raises(quiz.QuizInputError):
        quiz.build_question(analysis, 0, 0, 1)  # the heading has no key term
    with pytest.raises(quiz.QuizInputError):
        quiz.build_question(analysis, 0, len(analysis.sentences), 1)


def test_steps_generator_matches_build_question(analysis: quiz.Analysis) -> None:
    steps = quiz.STEPS
    assert steps and all(isinstance(s, str) and s for s in steps)
    for slot, idx in enumerate(quiz.plan_questions(analysis, 4)):
        items = list(quiz.build_question_steps(analysis, slot, idx, 99))
        assert items[-1] == quiz.build_question(analysis, slot, idx, 99)
        progress = items[:-1]
        assert [message for _, message in progress] == list(steps)
        fractions = [fraction for fraction, _ in progress]
        assert fractions == sorted(fractions) and 0.0 <= fractions[0] and fractions[-1] < 1.0
        assert all(isinstance(item, tuple) for item in progress)


def test_analysis_pickles(analysis: quiz.Analysis) -> None:
    # the analysis travels between Ray tasks
    assert pickle.loads(pickle.dumps(analysis)) == analysis
