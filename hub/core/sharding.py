"""Which registry shard owns a stream. Stable across processes (no hash seed)."""

from __future__ import annotations

import zlib


def shard_of(key: str, shards: int) -> int:
    """The shard index in `[0, shards)` that owns the stream `key` (an educator id, or a room).

    CRC-32 of the key's UTF-8 bytes modulo `shards`: the same in every process and every run, so
    every ingress and every job monitor agree on the owner without asking anyone."""
    return zlib.crc32(key.encode()) % shards
