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
