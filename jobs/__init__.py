"""Job kinds and the submit API used from notebooks: `from jobs import connect, local_hub`.

`InvalidInput` (hub.core.errors) is what a job kind raises to fail a job with a sentence about its
input, shown to the educator as it is; any other exception shows "the hub failed; reference X"."""

from __future__ import annotations

from typing import Any

from hub.core.errors import InvalidInput

__all__ = ["Hub", "HubRefused", "InvalidInput", "Job", "JobFailed", "connect", "local_hub"]


def __getattr__(name: str) -> Any:
    # Lazy, so the Ray workers that import jobs.kinds do not load the client side.
    if name in __all__:
        from hub import notebook

        return getattr(notebook, name)
    raise AttributeError(name)
