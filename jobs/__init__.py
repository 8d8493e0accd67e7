"""Job kinds and the submit API used from notebooks: `from jobs import connect, local_hub`."""

from __future__ import annotations

from typing import Any

__all__ = ["Hub", "Job", "JobFailed", "connect", "local_hub"]


def __getattr__(name: str) -> Any:
    # Lazy, so the Ray workers that import jobs.kinds do not load the client side.
    if name in __all__:
        from jobs import notebook

        return getattr(notebook, name)
    raise AttributeError(name)
