"""Which registry shard owns an educator's stream. Stable across processes (no hash seed)."""

from __future__ import annotations

import zlib


def shard_of(educator_id: str, shards: int) -> int:
    return zlib.crc32(educator_id.encode()) % shards


def shard_name(index: int) -> str:
    return f"hub-shard-{index}"


def job_actor_name(job_id: str) -> str:
    return f"hub-job-{job_id}"
