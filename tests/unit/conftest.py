"""Unit tests run the pure core only: no Ray (ray.init raises here), no sockets, fake clocks."""

from __future__ import annotations

import pytest

from tests.noray import refuse_ray


@pytest.fixture(autouse=True)
def _no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_ray(monkeypatch, "unit")


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
