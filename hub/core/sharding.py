"""Which registry shard owns a stream. Stable across processes (no hash seed)."""

from __future__ import annotations

import zlib


def shard_of(key: str, shards: int) -> int:
    """The shard index in `[0, shards)` that owns the stream `key` (an educator id, or a room).

    CRC-32 of the key's UTF-8 bytes modulo `shards`: the same in every process and every run, so
    every ingress and every job monitor agree on the owner without asking anyone."""
    return zlib.crc32(key.encode()) % shards


def shards_for_cpus(cpus: int, cpus_per_shard: int) -> int:
    """How many registry shards a hub starts when none is configured (HUB_SHARDS unset): one per
    `cpus_per_shard` CPUs of the machine that creates them (Settings.cpus_per_shard, 4 by default),
    at least 1. So 2 or 4 CPUs get 1 shard, 8 get 2, 16 get 4 (the fixed default before issue 15).

    Each shard is an actor process that costs about 0.7 % of a core and 50 MiB while the hub is idle
    (docs/benchmarks.md, "Idle hub cost"), and one takes 2,000-3,000 calls/s, far more than a small
    deployment sends. ValueError for `cpus_per_shard` below 1."""
    if cpus_per_shard < 1:
        raise ValueError(f"cpus_per_shard must be at least 1, not {cpus_per_shard}")
    return max(1, cpus // cpus_per_shard)
