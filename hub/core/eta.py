"""A running job's ETA (`etaSeconds`, PROTOCOL.md sections 3 and 4), from its first `processing` message on.

Pure: no clock (callers pass the seconds elapsed), no Ray, no I/O.

The rule, in three parts:

1. **The prior.** A job kind the hub has completed before has a recorded *pace*: seconds per item of
   its size (JobStore keeps one per completed job: the time from its first `processing` to its
   `completed`, over its size; `median_pace` of the newest ones). A new job's prior is
   `pace x size` seconds (`prior_seconds`); the size is its kind's (jobs.params.Params.job_size:
   questions for a quiz, 1 for a question replacement, 1 + its bytes / 256 KiB for a document).
2. **The countdown.** Until the job's progress says something (below `RATE_FROM` percent), its ETA
   is the prior counted down by the clock: `prior - elapsed`. A job that outlasts its prior before
   that has no ETA (None: the hub does not know; it never says 0 or less).
3. **The hand-over.** From `RATE_FROM` percent the job's own rate gives an estimate too
   (`rate_eta`: elapsed x (100 - progress) / progress, hub.core.jobstate.estimate_eta), and the ETA
   is `(1 - w) x countdown + w x rate`, the weight `w` rising in a straight line from 0 at
   `RATE_FROM` percent to 1 at `RATE_FULL` percent (the countdown held at 0 once spent). Both parts
   and the weight move continuously with the clock and with progress, so the ETA never jumps when
   the rate starts counting: it slides from the prior to the job's own pace as the job shows it.

A job of a kind with no recorded pace gets the rate alone, as before: no ETA until `RATE_FROM`
percent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from hub.core.jobstate import estimate_eta

RATE_FROM = 5.0  # percent: below it, progress says too little for a rate (estimate_eta's threshold)
RATE_FULL = 30.0  # percent: from here on the job's own rate alone gives its ETA


class KindPace(NamedTuple):
    """What the job store answers a starting job's monitor in one call (StoreHandle.kind_pace): the
    kind's recorded `seconds_per_item` (None when no job of it has completed, or none recorded one)
    and, when asked for, the custom kind's pickled `blob` (jobs.kinds.pack_kind; None otherwise, or
    when no custom kind has that name)."""

    seconds_per_item: float | None
    blob: Any = None


def valid_size(size: Any) -> float | None:
    """`size` as a float when it is a finite number > 0 (a job's size: jobs.params.Params.job_size),
    else None (the job then gets no prior and records no pace)."""
    if isinstance(size, bool) or not isinstance(size, int | float):
        return None
    value = float(size)
    return value if math.isfinite(value) and value > 0 else None


def pace_of(seconds: float, size: float | None) -> float | None:
    """Seconds per item of a job that took `seconds` (its first `processing` to its `completed`) for
    `size` items: what JobStore.record_pace keeps; None when either is not a finite number > 0."""
    items = valid_size(size)
    if items is None or not math.isfinite(seconds) or seconds <= 0:
        return None
    return seconds / items


def median_pace(paces: Sequence[float]) -> float | None:
    """The median of `paces` (seconds per item, the newest jobs' first: the caller takes as many as
    Settings.eta_pace_jobs), None when there are none. The median, not the mean: one job that waited
    for a CPU, or one cut short, moves it little."""
    values = sorted(p for p in paces if math.isfinite(p) and p > 0)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def prior_seconds(pace: float | None, size: float | None) -> float | None:
    """A job's expected duration from its first `processing` message, in seconds: its kind's `pace`
    (seconds per item) x its `size` (items); None when either is unknown or not > 0."""
    items = valid_size(size)
    if pace is None or items is None or not math.isfinite(pace) or pace <= 0:
        return None
    return pace * items


def rate_eta(elapsed: float, progress: float) -> float | None:
    """Seconds left from the job's own rate: `elapsed` seconds for `progress` percent; None below
    RATE_FROM percent, at 100, or with no time elapsed (hub.core.jobstate.estimate_eta)."""
    return estimate_eta(0.0, elapsed, progress)


def rate_weight(progress: float) -> float:
    """How much the job's own rate counts in its ETA at `progress` percent: 0 up to RATE_FROM, 1 from
    RATE_FULL, a straight line between."""
    return min(1.0, max(0.0, (progress - RATE_FROM) / (RATE_FULL - RATE_FROM)))


def eta_seconds(prior: float | None, elapsed: float, progress: float) -> float | None:
    """A job's ETA in seconds (>= 0), or None when there is none to give: `prior` (prior_seconds, None
    when its kind has no pace), `elapsed` seconds since its first `processing`, `progress` percent.
    The rule is the module's: the prior counted down, handed over to the job's own rate between
    RATE_FROM and RATE_FULL percent; without a prior, the rate alone."""
    rate = rate_eta(elapsed, progress)
    if prior is None:
        return rate
    countdown = max(0.0, prior - max(0.0, elapsed))
    if rate is None:
        return countdown if countdown > 0 else None
    weight = rate_weight(progress)
    return (1.0 - weight) * countdown + weight * rate


def run_eta(pace: float | None, size: float | None, elapsed: float, progress: float, base: float = 0.0) -> float | None:
    """eta_seconds for a run of a job that started from `base` percent (0 on a first run; a monitor
    restarted after losing its node goes on from the progress its kept items made: actors.job_items):
    the prior is the kind's `pace` x the share of `size` still left, and the rate is this run's own
    progress over that share, `elapsed` seconds since the run's first `processing`. None when there is
    none to give (also at or past 100 %, or below `base`)."""
    if base >= 100.0 or progress < base:
        return None
    left = (100.0 - base) / 100.0
    return eta_seconds(
        prior_seconds(pace, None if size is None else size * left),
        elapsed,
        100.0 * (progress - base) / (100.0 - base),
    )
