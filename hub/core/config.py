"""Plain configuration records that cross into actors as they are (no environment is read here:
`hub.settings.Settings` reads it once at start-up and builds these)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ShardConfig:
    """What a registry shard needs; plain values so it crosses into the actor as it is."""

    history_max: int = 1000
    history_age: float = 300.0
    feed_limit: int = 100_000
    poll_timeout: float = 15.0
    ingress_lease: float = 60.0
    jobs_per_educator: int = 500
