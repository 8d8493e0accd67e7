"""Coalescing of a job's updates before they leave its monitor. Pure: `now` is passed in.

Status transitions are always kept and are ready at once. Progress ticks collapse to the newest
and are paced by a rate limit with a burst allowance (GCRA, the "virtual scheduling" form of a
token bucket): a tick is ready at once unless the job's sends have run ahead of one every
`min_interval` seconds by `burst` sends or more, so a chatty task costs at most one publish call
per interval over time (plus `burst` at once), while a lone tick, or a job reporting at about the
limit with some jitter, never waits (DESIGN.md: batching never adds delay when idle; ticks that
arrive while a publish is under way coalesce, since the monitor sends one batch at a time).
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class UpdateCoalescer(Generic[T]):
    """Pending updates of one job, in order. `min_interval`: seconds per send that ticks alone may
    sustain (a job monitor's `progress_interval`, Settings.progress_interval, 0.05 by default);
    `burst`: sends that may go at once before ticks wait for the rate (Settings.progress_burst, 4 by
    default; 1 is a plain minimum gap of `min_interval` between sends). Times are seconds on the
    caller's clock (a job monitor's: time.time unless a test passes another).

    The rule (GCRA): every send moves a theoretical time `tat` to max(tat, now) + min_interval; a
    tick is due once now >= tat - (burst - 1) * min_interval. So over any span of t seconds at most
    t / min_interval + burst sends go, and a tick coming at least `min_interval` after the one before
    (sustained), or after a quiet spell, goes at once."""

    def __init__(self, min_interval: float, burst: int = 1) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.min_interval = min_interval
        self.burst = burst
        self._pending: list[tuple[T, bool]] = []  # (update, is_transition)
        self._tat = float("-inf")  # the theoretical time of the next send at the sustained rate

    def add(self, update: T, transition: bool) -> None:
        """Queue `update`; `transition`: a status change (always kept), else a progress tick (it
        replaces a tick still pending right before it)."""
        if not transition and self._pending and not self._pending[-1][1]:
            self._pending[-1] = (update, False)  # a newer tick supersedes the pending one
        else:
            self._pending.append((update, transition))

    def due_in(self, now: float) -> float | None:
        """Seconds until something should be sent: 0 for now, None when nothing is pending."""
        if not self._pending:
            return None
        if any(t for _, t in self._pending):
            return 0.0
        return max(0.0, self._tat - (self.burst - 1) * self.min_interval - now)

    def take(self, now: float) -> list[T]:
        """Everything pending, oldest first, and empty the queue; a send at `now` (seconds) is counted
        against the rate when anything was taken (transitions too: each is a publish call). Takes
        regardless of `due_in`: the caller asks that first."""
        items = [u for u, _ in self._pending]
        self._pending.clear()
        if items:
            self._tat = max(self._tat, now) + self.min_interval
        return items

    def __bool__(self) -> bool:
        return bool(self._pending)
