"""The rule of the layers that run without Ray (tests/unit, tests/adapters): `ray.init` raises."""

from __future__ import annotations

import pytest


def refuse_ray(monkeypatch: pytest.MonkeyPatch, layer: str) -> None:
    """Make `ray.init` raise RuntimeError naming `layer` ("unit", "adapter") for this test."""
    try:
        import ray
    except ImportError:  # pragma: no cover
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"{layer} tests must not start Ray; use tests/integration")

    monkeypatch.setattr(ray, "init", refuse)
