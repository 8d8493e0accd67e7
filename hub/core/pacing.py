"""Coalescing of a job's updates before they leave its monitor. Pure: `now` is passed in.

Status transitions are always kept and are ready at once; progress ticks collapse to the newest and
are ready no more often than every `min_interval` seconds, so a chatty task costs at most one
publish call per interval.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class UpdateCoalescer(Generic[T]):
    """Pending updates of one job, in order. `min_interval`: seconds between two sends of progress
    ticks alone (a job monitor's `progress_interval`, Settings.progress_interval, 0.05 by default);
    times are seconds on the caller's clock (a job monitor's: time.time unless a test passes another)."""

    def __init__(self, min_interval: float) -> None:
        self.min_interval = min_interval
        self._pending: list[tuple[T, bool]] = []  # (update, is_transition)
        self._last_sent = float("-inf")

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
        return max(0.0, self._last_sent + self.min_interval - now)

    def take(self, now: float) -> list[T]:
        """Everything pending, oldest first, and empty the queue; `now` (seconds) becomes the time of
        the last send when anything was taken. Takes regardless of `due_in`: the caller asks that first."""
        items = [u for u, _ in self._pending]
        self._pending.clear()
        if items:
            self._last_sent = now
        return items

    def __bool__(self) -> bool:
        return bool(self._pending)
