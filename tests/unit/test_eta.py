"""The ETA before a job's first progress (hub.core.eta), the sizes it scales by (Params.job_size) and its
settings: pure, no clock, no Ray."""

from __future__ import annotations

import logging
import math

import pytest
from pydantic import BaseModel

from hub.core.eta import (
    RATE_FROM,
    RATE_FULL,
    eta_seconds,
    median_pace,
    pace_of,
    prior_seconds,
    rate_weight,
    valid_size,
)
from hub.core.jobstate import estimate_eta
from hub.settings import Settings
from jobs.kinds import KINDS, job_size
from jobs.params import DOCUMENT_SIZE_UNIT, AnyParams, Params

# -- the prior -----------------------------------------------------------------------------------


def test_no_recorded_pace_gives_no_prior_and_the_rate_alone_as_before() -> None:
    assert prior_seconds(None, 10) is None
    for elapsed, progress in [(0.0, 1.0), (2.0, 1.0), (3.0, 4.9), (4.0, 20.0), (9.0, 60.0)]:
        assert eta_seconds(None, elapsed, progress) == estimate_eta(0.0, elapsed, progress)
    assert eta_seconds(None, 0.0, 1.0) is None  # the first `processing` of a kind never run: no ETA


def test_the_prior_is_the_pace_scaled_by_the_jobs_size() -> None:
    assert prior_seconds(0.5, 10) == pytest.approx(5.0)
    assert prior_seconds(0.5, 20) == pytest.approx(2 * prior_seconds(0.5, 10))  # type: ignore[operator]
    assert eta_seconds(prior_seconds(0.5, 10), 0.0, 1.0) == pytest.approx(5.0)  # the first `processing`


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, None, True, "3"])
def test_a_size_or_pace_that_is_not_a_finite_number_above_0_gives_no_prior(bad: object) -> None:
    assert valid_size(bad) is None
    assert prior_seconds(1.0, bad) is None  # type: ignore[arg-type]
    if bad is None or isinstance(bad, float | int) and not isinstance(bad, bool):
        assert prior_seconds(bad, 3) is None  # type: ignore[arg-type]
    assert pace_of(4.0, bad) is None  # type: ignore[arg-type]


def test_a_completed_jobs_pace_is_its_seconds_per_item() -> None:
    assert pace_of(6.0, 12) == pytest.approx(0.5)
    assert pace_of(0.0, 12) is None and pace_of(-1.0, 12) is None and pace_of(math.nan, 12) is None


def test_the_kinds_pace_is_the_median_of_its_recorded_paces() -> None:
    assert median_pace([]) is None
    assert median_pace([2.0]) == 2.0
    assert median_pace([3.0, 1.0, 2.0]) == 2.0
    assert median_pace([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median_pace([1.0, 1.1, 0.9, 60.0]) == pytest.approx(1.05)  # one job that waited for a CPU moves it little
    assert median_pace([1.0, math.nan, -2.0, 3.0]) == 2.0  # what cannot be a pace is left out


# -- the countdown ---------------------------------------------------------------------------------


def test_before_progress_the_prior_counts_down_with_the_clock() -> None:
    prior = 10.0
    etas = [eta_seconds(prior, t, 2.0) for t in (0.0, 1.0, 2.5, 9.0)]
    assert etas == pytest.approx([10.0, 9.0, 7.5, 1.0])


def test_the_eta_is_never_negative_a_spent_prior_gives_none_until_progress_says_more() -> None:
    prior = 4.0
    assert eta_seconds(prior, 4.0, 3.0) is None
    assert eta_seconds(prior, 30.0, 1.0) is None
    for elapsed in (0.0, 1.0, 3.9, 4.0, 5.0, 50.0):
        for progress in (1.0, 4.9, 5.0, 10.0, 29.0, 30.0, 80.0, 99.0):
            eta = eta_seconds(prior, elapsed, progress)
            assert eta is None or eta >= 0, (elapsed, progress, eta)


# -- the hand-over to the job's own rate -----------------------------------------------------------


def test_the_rate_weight_rises_from_rate_from_to_rate_full() -> None:
    assert rate_weight(1.0) == 0 and rate_weight(RATE_FROM) == 0
    assert rate_weight((RATE_FROM + RATE_FULL) / 2) == pytest.approx(0.5)
    assert rate_weight(RATE_FULL) == 1 and rate_weight(99.0) == 1


def test_from_rate_full_percent_the_jobs_own_rate_alone_gives_the_eta() -> None:
    for progress in (RATE_FULL, 50.0, 90.0):
        assert eta_seconds(100.0, 5.0, progress) == pytest.approx(estimate_eta(0.0, 5.0, progress))


def test_between_the_two_the_eta_blends_countdown_and_rate() -> None:
    prior, elapsed, progress = 20.0, 4.0, (RATE_FROM + RATE_FULL) / 2
    rate = estimate_eta(0.0, elapsed, progress)
    assert rate is not None
    assert eta_seconds(prior, elapsed, progress) == pytest.approx(0.5 * (prior - elapsed) + 0.5 * rate)


def test_the_eta_does_not_jump_when_the_rate_starts_counting() -> None:
    """Just below and at RATE_FROM percent the ETA is the same countdown: the rate comes in with weight 0."""
    prior, elapsed = 12.0, 3.0
    below = eta_seconds(prior, elapsed, RATE_FROM - 1e-9)
    at = eta_seconds(prior, elapsed, RATE_FROM)
    assert below == pytest.approx(9.0) and at == pytest.approx(9.0)


def test_a_job_at_its_priors_pace_sees_a_smooth_eta_from_start_to_end() -> None:
    """A job that goes exactly as its kind's pace says: its ETA is the true time left all along, with no step
    between two updates 0.1 s apart larger than 0.1 s plus what its progress jump explains."""
    prior = 10.0
    steps = [(t / 10, min(99.0, 100 * (t / 10) / prior)) for t in range(1, 100)]  # elapsed, progress
    etas = [eta_seconds(prior, e, max(1.0, p)) for e, p in steps]
    for (elapsed, _), eta in zip(steps, etas, strict=True):
        assert eta == pytest.approx(prior - elapsed, abs=1e-6)


def test_a_job_twice_as_slow_as_its_prior_drifts_to_its_own_rate_without_wild_jumps() -> None:
    prior = 10.0  # the job really takes 20 s
    etas = []
    for t in range(1, 200):
        elapsed = t / 10
        progress = max(1.0, min(99.0, 100 * elapsed / 20.0))
        etas.append(eta_seconds(prior, elapsed, progress))
    numbers = [e for e in etas if e is not None]
    assert all(e >= 0 for e in numbers)
    steps = [abs(b - a) for a, b in zip(numbers, numbers[1:], strict=False)]
    assert max(steps) < 1.0  # updates 0.1 s apart never move the ETA by a second
    assert etas[99] == pytest.approx(10.0)  # at 50 %, 10 s in: its own rate, the true time left


# -- sizes -----------------------------------------------------------------------------------------


def test_each_built_in_kind_has_a_size_that_scales_its_duration() -> None:
    quiz = KINDS["quiz_generation"].params
    assert job_size(quiz.model_validate({"text": "Cells divide.", "numQuestions": 7})) == 7
    assert job_size(quiz.model_validate({"text": "Cells divide.", "numQuestions": 14})) == 14
    replace = KINDS["question_replace"].params.model_validate({"quizId": "q", "questionId": "x"})
    assert job_size(replace) == 1
    document = KINDS["document_processing"].params
    small = job_size(document.model_validate({"text": "Cells divide."}))
    large = job_size(document.model_validate({"text": "Cells divide. " * (DOCUMENT_SIZE_UNIT // 14 * 4)}))
    assert small == pytest.approx(1.0, abs=0.001) and large == pytest.approx(5.0, abs=0.01)


class Pages(Params):
    pages: int = 1

    def job_size(self) -> float:
        return float(self.pages)


class Broken(Params):
    def job_size(self) -> float:
        raise RuntimeError("no size")


class Zero(Params):
    def job_size(self) -> float:
        return 0.0


class Plain(BaseModel):
    n: int = 3


def test_a_custom_kind_is_1_unless_its_params_declare_a_size(caplog: pytest.LogCaptureFixture) -> None:
    assert job_size(AnyParams.model_validate({"anything": [1, 2]})) == 1
    assert job_size(Plain()) == 1  # a params model not built on Params
    assert job_size(Pages(pages=12)) == 12
    with caplog.at_level(logging.WARNING, logger="hub.job"):
        assert job_size(Broken()) is None and job_size(Zero()) is None  # no prior, no pace recorded
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "Broken.job_size() failed: no ETA before its jobs' progress",
        "Zero.job_size() gave 0.0, not a number > 0: no ETA before progress",
    ]


# -- settings --------------------------------------------------------------------------------------


def test_the_eta_settings_come_from_their_env_names_with_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    assert Settings().monitor_config().eta_pace_jobs == 20
    monkeypatch.setenv("HUB_ETA_PACE_JOBS", "5")
    monkeypatch.setenv("HUB_ETA_PACE_WAIT", "0.25")
    config = Settings().monitor_config()
    assert config.eta_pace_jobs == 5 and config.eta_pace_wait == 0.25
    for field, bad in [("eta_pace_jobs", 0), ("eta_pace_wait", -0.1)]:
        with pytest.raises(ValidationError):
            Settings(**{field: bad})
