"""What a running job sees: a way to report progress and to know it was cancelled."""

from __future__ import annotations

from typing import Any, Protocol


class JobCancelled(Exception):
    """Raised inside a job when it has been cancelled."""


class JobContext(Protocol):
    job_id: str
    educator_id: str

    def progress(self, percent: float, message: str, **fields: Any) -> None:
        """Report overall progress (0-100) and a human message; coalesced before it is published."""

    @property
    def cancelled(self) -> bool:
        """True once the job has been cancelled; long loops should check it."""

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job has been cancelled."""
