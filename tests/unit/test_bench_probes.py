"""bench/latency_split.py's stamp parsing and bench/idle.py's process roles (pure: no hub, no Ray)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest


@pytest.fixture
def modules(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """bench.latency_split and bench.idle, imported with bench.common's RAY_AUTH_MODE default confined
    to this test (as tests/unit/test_bench_common.py does)."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    return importlib.import_module("bench.latency_split"), importlib.import_module("bench.idle")


def tick(message: str, ts: float, job: str = "j1") -> dict[str, Any]:
    return {"ts": ts, "data": {"status": "processing", "message": message, "jobId": job}}


def test_a_stamped_tick_gives_every_hop_in_order(modules: tuple[Any, Any]) -> None:
    split, _ = modules
    tally = split.SplitTally(jobs=1)
    message = "p2 @100.000000 r100.005000 s100.006000 i100.020000"
    done = tally.add(0, [tick(message, ts=100.015)], now=100.022)
    assert not done
    assert tally.latencies == {2: [(100.0, 100.005, 100.006, 100.015, 100.02, 100.022)]}


def test_unstamped_ticks_are_skipped_and_ends_are_counted(modules: tuple[Any, Any]) -> None:
    split, _ = modules
    tally = split.SplitTally(jobs=1)
    # a tick the ingress probe did not stamp (no ` i`) is not a full path: not counted
    assert not tally.add(0, [tick("p0 @1.000000 r1.001000 s1.002000", ts=1.003)], now=1.01)
    assert tally.latencies == {}
    assert tally.add(0, [{"ts": 2.0, "data": {"status": "completed", "jobId": "j1"}}], now=2.0)


def test_percentile_in_ms_by_nearest_rank(modules: tuple[Any, Any]) -> None:
    split, _ = modules
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert split.pct(values, 0.5) == pytest.approx(51.0)
    assert split.pct(values, 0.99) == pytest.approx(100.0)
    assert split.pct([], 0.5) != split.pct([], 0.5)  # NaN when empty


def test_idle_roles_from_ray_and_hub_command_lines(modules: tuple[Any, Any]) -> None:
    _, idle = modules
    role = idle.role_of_command
    ray = "/venv/lib/python3.11/site-packages/ray"
    assert role("ray::RegistryShardActor.pull") == "registry shard"
    assert role("ray::JobStoreActor") == "job store"
    assert role("ray::DashboardAgent") == "dashboard agent"
    assert role("ray::RuntimeEnvAgent") == "runtime env agent"
    assert role("ray::IDLE") == "idle Ray worker"
    assert role(f"{ray}/core/src/ray/raylet/raylet --raylet_socket_name=x") == "raylet"
    assert role(f"{ray}/core/src/ray/gcs/gcs_server --log_dir=x") == "gcs_server"
    assert role(f"/venv/bin/python -u {ray}/_private/log_monitor.py --session-dir=x") == "log monitor"
    assert role(f"/venv/bin/python -u {ray}/autoscaler/_private/monitor.py --logs-dir=x") == "autoscaler monitor"
    assert role(f"/venv/bin/python {ray}/dashboard/dashboard.py --host=127.0.0.1") == "dashboard"
    assert role("/venv/bin/python -m hub.cli serve --port 1") == "hub serve (ingress + driver)"
    assert role("/usr/bin/something") == "other"
