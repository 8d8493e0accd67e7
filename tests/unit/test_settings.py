"""Settings that reach the actors: the ingress lease (shards) and job monitor restarts."""

import pytest
from pydantic import ValidationError

from hub.settings import Settings


def test_the_ingress_lease_reaches_the_shards_and_outlasts_two_long_polls() -> None:
    assert Settings(ingress_lease=7, poll_timeout=3).shard_config().ingress_lease == 7
    with pytest.raises(ValidationError, match="twice poll_timeout"):
        Settings(ingress_lease=5, poll_timeout=3)  # a live, idle ingress would lapse between pulls


def test_job_monitor_restarts_default_to_one_and_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().job_max_restarts == 1
    monkeypatch.setenv("HUB_JOB_MAX_RESTARTS", "0")
    assert Settings().job_max_restarts == 0
    with pytest.raises(ValidationError):
        Settings(job_max_restarts=-2)


def test_the_store_busy_timeout_comes_from_the_environment_and_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().store_busy_timeout == 5.0
    monkeypatch.setenv("HUB_STORE_BUSY_TIMEOUT", "2.5")
    assert Settings().store_busy_timeout == 2.5
    for bad in (0, -1, 301):
        with pytest.raises(ValidationError):
            Settings(store_busy_timeout=bad)
