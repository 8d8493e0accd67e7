"""Shared test helpers. Time-outs scale with HUB_TEST_TIME_FACTOR so slow machines don't flake."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TIME_FACTOR = float(os.environ.get("HUB_TEST_TIME_FACTOR", "1"))


def scaled(seconds: float) -> float:
    return seconds * TIME_FACTOR


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(predicate: Any, timeout: float, what: str) -> None:
    """Wait (scaled) until `predicate()` holds."""
    deadline = time.monotonic() + scaled(timeout)
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


SECRET = "integration-test-secret-0123456789abcdef"
TOKEN_LEEWAY = 2.0  # the session hub's Settings.token_leeway (seconds)
DOCUMENT = (Path(__file__).parent / "data" / "photosynthesis.txt").read_text()


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local Ray and one in-process hub (real uvicorn, shards, job actors) for the whole run."""
    from hub.server import LocalHub
    from hub.settings import Settings

    settings = Settings(
        port=0,
        secret=SECRET,
        data_dir=tmp_path_factory.mktemp("hub-data"),
        namespace="hub-test",
        hello_timeout=scaled(1.5),
        token_leeway=TOKEN_LEEWAY,  # short, so that tests of token expiry wait seconds, not the default 30
        shards=2,
        deflate_idle=scaled(0.5),  # idle connections lose their compressor often: every test exercises it
        log_level="warning",
    )
    with LocalHub(settings) as local:
        yield local
    import ray

    ray.shutdown()
