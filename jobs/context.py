"""What a running job sees: progress reporting, cancellation, its tasks and the job store."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from hub.core.handles import StoreHandle

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
