"""Issue 15, the idle hub: the local Ray the hub starts runs no autoscaler monitor and no log monitor
(the session's Ray here is the one LocalHub started, through hub.server.init_ray), and the shard
count is decided once per Ray namespace: by the first hub process, and read by every later one."""

from __future__ import annotations

import os
import uuid

import psutil
import pytest
import ray

from actors.names import shard_name
from actors.shardcount import recorded_shard_count, settle_shard_count
from hub.core.errors import HubError
from hub.raycluster import logs_dir
from hub.server import LocalHub


def ray_processes() -> list[str]:
    """The command lines of this process's descendants: the Ray daemons and workers it started."""
    found = []
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            found.append(" ".join(child.cmdline()))
        except psutil.Error:
            continue
    return found


def test_the_local_ray_runs_neither_the_autoscaler_nor_the_log_monitor(hub: LocalHub) -> None:
    commands = ray_processes()
    assert any("gcs_server" in c for c in commands) and any("/raylet" in c for c in commands), commands
    assert any("ray::RegistryShardActor" in c for c in commands), commands
    assert not [c for c in commands if "log_monitor.py" in c]
    assert not [c for c in commands if "autoscaler/_private/monitor.py" in c]
    where = logs_dir()  # where the actors' output is instead (`hub serve` prints it)
    assert where is not None and os.path.isdir(where)
    assert any(name.startswith("worker-") for name in os.listdir(where))


def test_the_running_hubs_shard_count_is_recorded_and_later_processes_get_it(hub: LocalHub) -> None:
    namespace = hub.settings.namespace
    assert recorded_shard_count(namespace) == hub.settings.shards == 2
    assert settle_shard_count(None, 7, namespace) == 2  # a joiner's own machine would choose 7
    assert settle_shard_count(2, 7, namespace) == 2
    with pytest.raises(HubError, match=r"runs 2 registry shards, but this process was given 3 \(HUB_SHARDS"):
        settle_shard_count(3, 1, namespace)


def test_the_first_process_of_a_namespace_decides_the_count(hub: LocalHub) -> None:
    fresh = f"hub-count-{uuid.uuid4().hex[:8]}"
    assert recorded_shard_count(fresh) is None
    assert settle_shard_count(None, 3, fresh) == 3  # nothing configured: the creator's machine size
    assert settle_shard_count(None, 1, fresh) == 3  # a joiner on a smaller machine still gets 3
    given = f"hub-count-{uuid.uuid4().hex[:8]}"
    assert settle_shard_count(5, 1, given) == 5 == recorded_shard_count(given)  # HUB_SHARDS wins when first


def test_shard_actors_already_running_without_a_record_set_the_count(hub: LocalHub) -> None:
    """A namespace whose shards a hub made before the count was recorded: their number is the count."""
    namespace = f"hub-count-{uuid.uuid4().hex[:8]}"

    @ray.remote(num_cpus=0)
    class Named:
        def ping(self) -> bool:
            return True

    actors = [Named.options(name=shard_name(k), namespace=namespace).remote() for k in range(2)]  # type: ignore[attr-defined]
    try:
        ray.get([a.ping.remote() for a in actors])
        assert settle_shard_count(None, 4, namespace) == 2
    finally:
        for actor in actors:
            ray.kill(actor)
