"""How many registry shards a hub's Ray namespace has: decided once, by the first hub process there
(the one that creates the shards), and read by every later one, so that every ingress and job
monitor maps an educator to the same shard (hub.core.sharding.shard_of over that count).

The count is recorded in Ray's internal key-value store (in the GCS, so it lives as long as the
cluster and its detached shard actors), under SHARDS_KEY in the KV namespace `hub/<namespace>`.
Recording is a put-if-absent: of two hub processes starting at once, one count wins and both use it.
"""

from __future__ import annotations

import logging

from actors.names import shard_name
from hub.core.errors import HubError

log = logging.getLogger("hub.ray")

SHARDS_KEY = b"shards"


def _kv_namespace(namespace: str) -> str:
    return f"hub/{namespace}"


def recorded_shard_count(namespace: str) -> int | None:
    """The shard count recorded for the hub in Ray namespace `namespace`, or None when none is (no
    hub started there yet, or one from before the count was recorded). Needs ray.init."""
    from ray.experimental import internal_kv

    value = internal_kv._internal_kv_get(SHARDS_KEY, namespace=_kv_namespace(namespace))
    return int(value) if value else None


def existing_shard_actors(namespace: str) -> int:
    """How many shard actors `hub-shard-0`, `hub-shard-1`, ... exist in `namespace` (0 when none)."""
    import ray

    count = 0
    while True:
        try:
            ray.get_actor(shard_name(count), namespace=namespace)
        except ValueError:
            return count
        count += 1


def settle_shard_count(wanted: int | None, default: int, namespace: str) -> int:
    """The shard count the hub in `namespace` runs with, recording it when this process is the first.

    `wanted`: the count this process was configured with (HUB_SHARDS, `--shards`), or None.
    `default`: what this process would choose if it creates the shards and `wanted` is None
    (Settings.default_shards: from its machine's size). The first process records the count of shard
    actors already there (a hub from before the count was recorded), else `wanted`, else `default`;
    every later process gets the recorded count. HubError, a sentence, when `wanted` differs from
    the recorded count: the shards are running with theirs, and two counts would send an educator's
    messages to two different shards (and running jobs publish to the shard they were given). Needs
    ray.init."""
    from ray.experimental import internal_kv

    recorded = recorded_shard_count(namespace)
    if recorded is None:
        proposal = existing_shard_actors(namespace) or wanted or default
        existed = internal_kv._internal_kv_put(
            SHARDS_KEY, str(proposal).encode(), overwrite=False, namespace=_kv_namespace(namespace)
        )
        recorded = recorded_shard_count(namespace) or proposal  # another process's put may have won
        if not existed:
            log.info("registry shards of namespace %s: %d, recorded for the hub's later processes", namespace, recorded)
    if wanted is not None and wanted != recorded:
        raise HubError(
            f"the hub in Ray namespace {namespace!r} runs {recorded} registry shards, but this process was "
            f"given {wanted} (HUB_SHARDS or --shards): leave it unset to use the running hub's count, or set "
            f"it to {recorded}. The count stays as long as that Ray cluster runs; to change it, restart the "
            "Ray cluster with the hub (`hub serve` without --address starts a new one) or use another HUB_NAMESPACE"
        )
    return recorded
