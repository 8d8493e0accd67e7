"""Shared test helpers. Time-outs scale with HUB_TEST_TIME_FACTOR so slow machines don't flake."""

from __future__ import annotations

import os

TIME_FACTOR = float(os.environ.get("HUB_TEST_TIME_FACTOR", "1"))


def scaled(seconds: float) -> float:
    return seconds * TIME_FACTOR
