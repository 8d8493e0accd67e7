"""What a running job sees: progress reporting, cancellation, its tasks, their links to it and the
job store."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from hub.core.handles import StoreHandle

if TYPE_CHECKING:
    from jobs.tasklink import TaskLink

T = TypeVar("T")


class JobCancelled(Exception):
    """Raised inside a job when it has been cancelled."""


class JobContext(Protocol):
    """What a job kind's runner is given (its monitor implements it): the job's id, the educator it
    runs for, the job store client, and the calls below. A plain-function runner gets one whose
    calls hop to the monitor's event loop (jobs.kinds)."""

    job_id: str
    educator_id: str
    store: StoreHandle  # the job store client: documents and quizzes

    def progress(self, percent: float, message: str, **fields: Any) -> None:
        """Report overall progress (0-100) and a human message; coalesced before it is published."""

    @property
    def cancelled(self) -> bool:
        """True once the job has been cancelled; long loops should check it."""

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job has been cancelled."""

    def track(self, ref: T) -> T:
        """Remember a Ray task (ref or streaming generator) so cancelling the job stops it."""

    async def link(self, on_item: Callable[[Any], None] | None = None) -> TaskLink:
        """A link for one of the job's Ray tasks to report through (pass it to the task; in the task,
        `with link.open() as report: report.progress(percent, message)` or `report.send(item)`:
        jobs.tasklink). Each item reaches `on_item` here, in order; without `on_item` each is a
        `progress(percent, message, **fields)` call. A socket to this monitor on its node, else an
        actor call per item (measured: docs/benchmarks.md, "Task -> monitor")."""

    async def drained(self, link: TaskLink) -> None:
        """Returns once every item the task sent through `link` has been handled: await it after
        the task's result, before acting on it."""

    # Partial results (PROTOCOL.md section 9; README "Partial results").

    def item(self, index: int, value: Any, total: int | None = None) -> None:
        """Item `index` (from 0) of the job's result is done, with `value` (any JSON value; a quiz's
        question dict): kept in the job store, then sent to the job's clients as the `item` of a status
        message ({index, total, value}; {index, total, question} for quiz_generation), never merged
        away, so a monitor restarted after losing its node does not compute it again. `total`: how
        many items the job makes (once is enough). An index already kept is not sent again; ValueError
        for an index that is not a whole number from 0 below `total`."""

    async def done_items(self) -> dict[int, Any]:
        """The items kept so far, {index: value}: on a monitor restarted after losing its node, those
        its earlier run finished, which the runner skips (empty on a first run). A plain-function
        runner calls it without `await` (it blocks)."""
