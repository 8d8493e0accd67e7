"""The benchmarks' shared load generator and process naming (bench/common.py): a paced run must
stamp each message with the time it was due and never exceed its in-flight window, or the figures
built on them (latency at equal load, CPU by process) would be wrong."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
Call = tuple[int, float, float]  # (i, stamp, when it was called)


@pytest.fixture
def common() -> Any:
    """bench.common (importing it changes nothing in the process: test_importing_it_leaves_the_environment_alone)."""
    return importlib.import_module("bench.common")


def test_importing_it_leaves_the_environment_alone() -> None:
    # It once set RAY_AUTH_MODE=token at import: a test module importing it after Ray had read its
    # config made the session's local Ray start in token mode with no token (a fresh HOME).
    script = "import os; before = dict(os.environ); import bench.common; assert dict(os.environ) == before"
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=120)


def run_offer(
    offer: Callable[..., Awaitable[None]], messages: int, rate: float | None, in_flight: int, hold: float
) -> tuple[list[Call], int]:
    calls: list[Call] = []
    busy = [0, 0]  # now, most at once

    async def send(i: int, stamp: float) -> None:
        calls.append((i, stamp, time.time()))
        busy[0] += 1
        busy[1] = max(busy[1], busy[0])
        await asyncio.sleep(hold)
        busy[0] -= 1

    asyncio.run(offer(send, messages, rate, in_flight))
    return calls, busy[1]


def test_paced_messages_carry_their_due_times_in_order(common: Any) -> None:
    calls, _ = run_offer(common.offer, 20, rate=100.0, in_flight=8, hold=0.001)
    assert [i for i, _, _ in calls] == list(range(20))
    start = calls[0][1]
    for i, stamp, called in calls:
        assert abs(stamp - (start + i / 100.0)) < 1e-6  # the due time, not the send time
        assert called >= stamp - 0.002  # never sent early


def test_a_slow_server_shows_in_the_stamps_not_hidden_by_the_window(common: Any) -> None:
    # Each send takes 50 ms and one may be outstanding: sends fall behind the 100/s schedule, and
    # the stamps stay on the schedule, so the lag counts in the latency (no coordinated omission).
    calls, most = run_offer(common.offer, 5, rate=100.0, in_flight=1, hold=0.05)
    assert most == 1
    start = calls[0][1]
    assert calls[-1][1] - start < 0.05  # due within 40 ms...
    assert calls[-1][2] - start > 0.15  # ...sent after 200 ms


def test_saturation_keeps_the_window_and_stamps_the_call_time(common: Any) -> None:
    calls, most = run_offer(common.offer, 30, rate=None, in_flight=4, hold=0.005)
    assert most == 4
    assert all(abs(stamp - called) < 0.05 for _, stamp, called in calls)


def test_process_roles_from_ray_command_lines(common: Any) -> None:
    # One table (bench.common.ROLES) names processes for bench/idle.py and bench/polling.py alike.
    role_of = common.role_of_command
    assert role_of("ray::RegistryShardActor.pull") == "registry shard"
    assert role_of("ray::JobStoreActor") == "job store"
    assert role_of("ray::IDLE ") == "idle Ray worker"
    assert role_of("ray::JobMonitorActor.run") == "Ray worker (other)"
    assert role_of("/venv/lib/python3.11/site-packages/ray/core/src/ray/raylet/raylet --node_ip_address=1") == "raylet"
    assert role_of("/venv/lib/python3.11/site-packages/ray/core/src/ray/gcs/gcs_server --port=1") == "gcs_server"
    assert role_of("/venv/bin/python -m hub.cli serve") == common.INGRESS
    assert role_of("/usr/bin/python something.py") == "other"
