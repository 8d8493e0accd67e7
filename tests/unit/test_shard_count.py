"""Issue 15, the idle hub: the registry shard count from the machine's size when HUB_SHARDS is unset
(one shard per HUB_CPUS_PER_SHARD CPUs, at least 1), and what the local Ray the hub starts leaves
out. How a running hub's count reaches later hub processes is in
tests/integration/test_idle_hub.py (it needs Ray)."""

from __future__ import annotations

import argparse
import os

import pytest
from pydantic import ValidationError

from hub import cli
from hub.core.sharding import shards_for_cpus
from hub.raycluster import local_head_options
from hub.settings import Settings, machine_cpus


@pytest.mark.parametrize(
    ("cpus", "shards"),
    [(1, 1), (2, 1), (3, 1), (4, 1), (7, 1), (8, 2), (15, 3), (16, 4), (64, 16), (128, 32)],
)
def test_one_shard_per_four_cpus_and_at_least_one(cpus: int, shards: int) -> None:
    assert shards_for_cpus(cpus, 4) == shards


def test_the_cpus_per_shard_is_the_divisor_and_must_be_positive() -> None:
    assert shards_for_cpus(16, 2) == 8
    assert shards_for_cpus(16, 16) == 1
    assert shards_for_cpus(16, 100) == 1
    with pytest.raises(ValueError, match="at least 1"):
        shards_for_cpus(16, 0)


def test_unset_shards_come_from_the_machine_and_num_cpus_counts_first(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUB_SHARDS", "HUB_CPUS_PER_SHARD", "HUB_NUM_CPUS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.shards is None and settings.cpus_per_shard == 4
    assert settings.default_shards() == shards_for_cpus(machine_cpus(), 4)
    assert settings.default_shards(cpus=2) == 1
    assert settings.default_shards(cpus=16) == 4  # the fixed default before issue 15, on the 16-core machine
    assert Settings(num_cpus=8).default_shards(cpus=2) == 2  # the local Ray's CPUs (HUB_NUM_CPUS) win
    monkeypatch.setenv("HUB_CPUS_PER_SHARD", "2")
    assert Settings().default_shards(cpus=16) == 8
    monkeypatch.setenv("HUB_SHARDS", "3")
    assert Settings().shards == 3  # set: used as it is (settle_shard_count checks it against a running hub)
    with pytest.raises(ValidationError):
        Settings(cpus_per_shard=0)
    with pytest.raises(ValidationError):
        Settings(shards=0)


def test_machine_cpus_is_what_this_process_may_run_on() -> None:
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert machine_cpus() == expected >= 1


def test_hub_serve_leaves_shards_unset_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_SHARDS", raising=False)
    assert cli._settings(argparse.Namespace(cmd="serve", shards=None)).shards is None
    assert cli._settings(argparse.Namespace(cmd="serve", shards=2)).shards == 2


def test_the_local_ray_runs_no_autoscaler_and_a_log_monitor_only_when_asked() -> None:
    assert local_head_options(log_monitor=False) == {"no_monitor": True, "include_log_monitor": False}
    assert local_head_options(log_monitor=True) == {"no_monitor": True, "include_log_monitor": True}


def test_the_log_monitor_setting_is_unset_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset: `hub serve` and LocalHub run no log monitor (init_ray), a notebook's local_hub does."""
    monkeypatch.delenv("HUB_RAY_LOG_MONITOR", raising=False)
    assert Settings().ray_log_monitor is None
    monkeypatch.setenv("HUB_RAY_LOG_MONITOR", "1")
    assert Settings().ray_log_monitor is True
    monkeypatch.setenv("HUB_RAY_LOG_MONITOR", "false")
    assert Settings().ray_log_monitor is False
