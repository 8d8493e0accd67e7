"""Names of the hub's Ray actors in its namespace: how processes find each other through Ray."""

from __future__ import annotations


def shard_name(index: int) -> str:
    """The named actor of registry shard `index`: `hub-shard-<index>`."""
    return f"hub-shard-{index}"


def job_actor_name(job_id: str) -> str:
    """The named actor that monitors job `job_id`: `hub-job-<job_id>`."""
    return f"hub-job-{job_id}"


STORE_NAME = "hub-store"
"""The named job-store actor (one per hub; it owns the SQLite file)."""
