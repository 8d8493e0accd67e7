"""bench/polling.py's arithmetic and bench.common's CPU meter (pure: no hub, no Ray): the polling
comparison subtracts the "jobs only" windows from each mode's, divides by what was delivered, and
says when a run cannot be compared; the meter counts a process's threads exactly (issue 15: two runs
of the old comparison disagreed 2.0 x to 6.9 x)."""

from __future__ import annotations

import importlib
import os
import threading
import time
from typing import Any

import pytest

pytest.importorskip("psutil")  # the bench extra


@pytest.fixture
def polling() -> Any:
    return importlib.import_module("bench.polling")


@pytest.fixture
def common() -> Any:
    return importlib.import_module("bench.common")


def window(mode: str, cpu: dict[str, float], updates: int = 0, requests: int = 0, seconds: float = 5.0) -> dict:
    return {
        "mode": mode,
        "window": seconds,
        "cpu": sum(cpu.values()),
        "cpu_by_role": cpu,
        "updates": updates,
        "requests": requests,
        "frames": updates if mode == "stream" else 0,
        "statuses": ["processing"] if mode != "jobs only" else [],
    }


def result(windows: list[dict], after: str = "processing") -> dict[str, Any]:
    return {"windows": windows, "after": {"j1": after, "j2": after}, "setup": {}, "rounds": 2, "load_average": [1, 1]}


# 2 jobs x 5 watchers, 5 s windows: the stream delivers 2 x 5 x 2/s x 5 s = 100 updates a window,
# the pollers make (and see something new in) 2 x 5 x 1/s x 5 s = 50.
STEADY = [
    window("jobs only", {"registry shard": 0.20, "hub serve (ingress + driver)": 0.02}),
    window("stream", {"registry shard": 0.26, "hub serve (ingress + driver)": 0.06}, updates=100),
    window("poll", {"registry shard": 0.30, "hub serve (ingress + driver)": 0.32}, updates=50, requests=50),
    window("poll", {"registry shard": 0.30, "hub serve (ingress + driver)": 0.32}, updates=50, requests=50),
    window("stream", {"registry shard": 0.26, "hub serve (ingress + driver)": 0.06}, updates=100),
    window("jobs only", {"registry shard": 0.20, "hub serve (ingress + driver)": 0.02}),
]


def test_windows_take_turns_forwards_then_backwards(polling: Any) -> None:
    assert polling.order(2) == ["jobs only", "stream", "poll", "poll", "stream", "jobs only"]
    assert polling.order(3)[6:] == ["jobs only", "stream", "poll"]
    for rounds in (1, 2, 3):
        assert all(polling.order(rounds).count(m) == rounds for m in polling.MODES)


def test_delivery_cpu_is_each_mode_less_the_jobs_only_windows(polling: Any) -> None:
    s = polling.summarise(result(STEADY), jobs=2, clients=5)
    rows = {r["mode"]: r for r in s["rows"]}
    assert rows["stream"]["delivery_cpu"] == pytest.approx(2 * (0.32 - 0.22))
    assert rows["poll"]["delivery_cpu"] == pytest.approx(2 * (0.62 - 0.22))
    assert rows["jobs only"]["delivery_cpu"] == pytest.approx(0)
    assert rows["stream"]["delivery_by_role"] == pytest.approx(
        {"registry shard": 0.12, "hub serve (ingress + driver)": 0.08}
    )
    assert s["cpu_ms_per_update"]["stream"] == pytest.approx(1000 * 0.2 / 200)
    assert s["cpu_ms_per_update"]["poll"] == pytest.approx(1000 * 0.8 / 100)
    assert s["ratio"] == pytest.approx(8.0)
    assert s["raw_ratio"] == pytest.approx(4.0)  # the same watchers, jobs and time
    assert s["comparable"] and not s["behind"]


def test_a_job_that_left_processing_makes_the_run_not_comparable(polling: Any) -> None:
    assert not polling.summarise(result(STEADY, after="completed"), jobs=2, clients=5)["comparable"]
    ended = [dict(w) for w in STEADY]
    ended[1]["statuses"] = ["processing", "completed"]
    assert not polling.summarise(result(ended), jobs=2, clients=5)["steady"]


def test_watchers_that_fell_behind_are_named(polling: Any) -> None:
    slow = [dict(w) for w in STEADY]
    for w in slow:
        if w["mode"] == "poll":
            w["requests"] = w["updates"] = 30  # 60 % of the polls due
    s = polling.summarise(result(slow), jobs=2, clients=5)
    assert s["behind"] == ["poll"]
    assert not s["comparable"]


def test_a_longer_window_is_compared_at_the_jobs_only_rate(polling: Any) -> None:
    # A window that overran (a busy machine) is set against the jobs-only CPU for its own length.
    longer = [dict(w) for w in STEADY]
    longer[2] = window("poll", {"registry shard": 0.42, "hub serve (ingress + driver)": 0.40}, 50, 50, seconds=7.5)
    s = polling.summarise(result(longer), jobs=2, clients=5)
    rows = {r["mode"]: r for r in s["rows"]}
    assert rows["poll"]["delivery_cpu"] == pytest.approx(0.82 + 0.62 - 0.44 * 12.5 / 10)
    assert not s["comparable"]  # the windows' lengths differ


def test_the_report_keeps_the_chart_and_harness_figures(polling: Any, tmp_path: Any) -> None:
    import json

    polling.write(result(STEADY), 2, 5, 5.0, tmp_path / "polling.md")
    figures = json.loads((tmp_path / "polling.json").read_text())
    assert figures["cpu_ms_per_update"]["poll"] == pytest.approx(8.0)  # bench/chart.py reads these
    assert figures["ratio"] == pytest.approx(8.0) and figures["raw_ratio"] == pytest.approx(4.0)
    text = (tmp_path / "polling.md").read_text()
    assert "**8.0 x**" in text and "**4.0 x**" in text
    assert "registry shard 3.00" in text  # per job message: 0.12 s over 200 / 5 = 40 messages, in ms


def test_delivery_roles_are_the_hub_and_ray_daemons_not_the_jobs(common: Any) -> None:
    role = common.role_of_command
    ray = "/venv/lib/python3.11/site-packages/ray"
    delivery = [
        "/venv/bin/python -m hub.cli serve --port 1",
        "ray::RegistryShardActor.pull",
        "ray::JobStoreActor",
        f"{ray}/core/src/ray/raylet/raylet --raylet_socket_name=x",
        f"{ray}/core/src/ray/gcs/gcs_server --log_dir=x",
        f"/venv/bin/python -u {ray}/_private/log_monitor.py --session-dir=x",
    ]
    jobs = ["ray::JobMonitorActor.run", "ray::JobMonitorActor", "ray::quiz_task", "ray::IDLE", "/usr/bin/python x.py"]
    assert all(role(c) in common.DELIVERY_ROLES for c in delivery), [role(c) for c in delivery]
    assert not any(role(c) in common.DELIVERY_ROLES for c in jobs), [role(c) for c in jobs]


def test_thread_cpu_counts_every_thread_exactly(common: Any) -> None:
    before = common.threads_cpu_ns(os.getpid())
    assert before

    # It spins until the reading is done: in a process with many threads (a whole-suite run holds
    # the session's Ray and hub threads), reading each one's count takes longer than a fixed spin.
    done = threading.Event()

    def spin() -> None:
        end = time.thread_time() + 0.05
        while time.thread_time() < end or not done.is_set():
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    seen = common.threads_cpu_ns(os.getpid())
    done.set()
    worker.join()
    assert seen and worker.native_id in seen  # a thread of its own, counted while it lives
    assert common.threads_cpu_ns(2**22 + 1) is None  # no such process


def test_role_cpu_meters_the_processes_it_is_told_to(common: Any) -> None:
    me = os.getpid()
    # The root is the ingress, whatever its command line; only that role is metered here (in a
    # whole-suite run this process's tree also holds the session's local Ray: raylet, gcs_server, ...).
    with common.RoleCpu(me, roles=frozenset({common.INGRESS})) as meter:
        end = time.process_time() + 0.15
        while time.process_time() < end:
            pass
    assert set(meter.by_role) == {common.INGRESS}
    assert 0.14 <= meter.seconds < 1.0
    assert meter.ticks_by_role[common.INGRESS] == pytest.approx(meter.seconds, abs=0.03)
    with common.RoleCpu(me, roles=frozenset({"no such role"})) as meter:
        pass
    assert meter.by_role == {}  # nothing of a role it was not told to meter


def test_the_stream_cost_is_split_by_thread_per_job_message(polling: Any, common: Any, tmp_path: Any) -> None:
    # The ingress's Python threads ("python": its event loop) against Ray's own C++ threads
    # (worker.io, client.poll0, ...): what the stream's per-message CPU consists of.
    threads = [dict(w) for w in STEADY]
    for w in threads:
        busy = 0.03 if w["mode"] == "stream" else 0.01
        w["cpu_by_thread"] = {common.INGRESS: {"python": 2 * busy, "worker.io": busy, "client.poll0": 0.005}}
    polling.write(result(threads), 2, 5, 5.0, tmp_path / "polling.md")
    text = (tmp_path / "polling.md").read_text()
    # 2 stream windows less 2 jobs-only ones, over 200 / 5 = 40 messages: 0.08 / 40 and 0.04 / 40 s
    assert (
        "ms per job message by thread name: python 2.00, worker.io 1.00, client.poll0 0.00, other threads 0.00" in text
    )
