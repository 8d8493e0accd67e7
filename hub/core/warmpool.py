"""The bookkeeping of one ingress's pool of warm job monitors (actors.pool holds the Ray side).

A warm monitor is a monitor actor started before its job: its process is up, its modules imported,
the store's and shards' handles looked up. It is named for the job it will take (the job id is
made with it), so everything that finds a job's monitor by name (`job_actor_name`) finds it. It
lives on a lease its ingress renews; one whose lease lapses (its ingress was killed) ends itself.

This module decides, from plain values and a `now` (seconds, monotonic) the caller passes in:
how many to start, which one a job takes, whose lease to renew, which to forget. No clock, no Ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

H = TypeVar("H")

# Fractions of the lease: renewed every quarter of it; handed to a job only while more than half of
# it is left, so that the job's hand-over (milliseconds) always reaches a monitor that is still there.
RENEW_EVERY = 0.25
TAKE_WITHIN = 0.5


@dataclass
class Warm(Generic[H]):
    """One warm monitor: the job id it is named for, the caller's handle of it, whether it answered
    that it is ready, and when (caller's monotonic seconds) its lease was last renewed."""

    job_id: str
    handle: H
    renewed_at: float
    ready: bool = False
    reserved_at: float | None = None  # when a job's submission took it (`take`)


@dataclass
class WarmPool(Generic[H]):
    """`size` warm monitors wanted (0: none, every job starts its own), each on a `lease` of seconds.
    Entries are `starting` (not yet ready) or ready; `reserved` ones have been given a job id's
    submission and wait for its hand-over (JobDesk records the job between the two)."""

    size: int
    lease: float
    idle: list[Warm[H]] = field(default_factory=list)
    reserved: dict[str, Warm[H]] = field(default_factory=dict)

    def wanted(self) -> int:
        """How many more warm monitors to start now: `size` less those starting or ready (a reserved one
        no longer counts: its job has it)."""
        return max(0, self.size - len(self.idle))

    def add(self, job_id: str, handle: H, now: float) -> Warm[H]:
        """A warm monitor just started (its lease runs from `now`), not ready yet."""
        warm = Warm(job_id, handle, renewed_at=now)
        self.idle.append(warm)
        return warm

    def starting(self) -> list[Warm[H]]:
        """The warm monitors not yet ready, oldest first."""
        return [w for w in self.idle if not w.ready]

    def mark_ready(self, job_id: str) -> None:
        """The warm monitor named for `job_id` answered that it is ready."""
        for warm in self.idle:
            if warm.job_id == job_id:
                warm.ready = True

    def forget(self, job_id: str) -> Warm[H] | None:
        """Drop the idle warm monitor named for `job_id` (it failed to start, or is being ended); it, or
        None when it is not idle here."""
        for k, warm in enumerate(self.idle):
            if warm.job_id == job_id:
                return self.idle.pop(k)
        return None

    def take(self, now: float) -> str | None:
        """Reserve a ready warm monitor for a new job: its job id (the job must use it), or None when
        none is ready with more than TAKE_WITHIN of its lease left (the job then starts its own)."""
        for k, warm in enumerate(self.idle):
            if warm.ready and now - warm.renewed_at < self.lease * TAKE_WITHIN:
                del self.idle[k]
                warm.reserved_at = now
                self.reserved[warm.job_id] = warm
                return warm.job_id
        return None

    def claim(self, job_id: str) -> Warm[H] | None:
        """The reserved warm monitor named for `job_id`, now handed its job (no longer the pool's);
        None when `job_id` was not reserved here (the job starts its own monitor)."""
        return self.reserved.pop(job_id, None)

    def release(self, job_id: str, now: float) -> Warm[H] | None:
        """A reserved job id whose job was not recorded (a store refusal, an idempotency key already
        held): its warm monitor goes back to the idle ones while its lease has more than TAKE_WITHIN
        left (returns None); else it is returned for the caller to end. None too for an unknown id."""
        warm = self.reserved.pop(job_id, None)
        if warm is None:
            return None
        if now - warm.renewed_at < self.lease * TAKE_WITHIN:
            warm.reserved_at = None
            self.idle.append(warm)
            return None
        return warm

    def abandoned(self, now: float) -> list[Warm[H]]:
        """Reserved warm monitors neither claimed nor released within a `lease` (the submission that
        took one failed in between, or hangs): dropped and returned for the caller to end. Never
        handed out again: their job id may already be recorded."""
        gone = [w for w in self.reserved.values() if w.reserved_at is not None and now - w.reserved_at >= self.lease]
        for warm in gone:
            del self.reserved[warm.job_id]
        return gone

    def renew_due(self, now: float) -> list[Warm[H]]:
        """The idle and reserved warm monitors whose lease is due for renewal (every RENEW_EVERY of it);
        the caller renews them and calls `renewed`."""
        due = self.lease * RENEW_EVERY
        return [w for w in (*self.idle, *self.reserved.values()) if now - w.renewed_at >= due]

    def renewed(self, warm: Warm[H], now: float) -> None:
        """`warm`'s lease was renewed at `now`."""
        warm.renewed_at = now

    def lapsed(self, now: float) -> list[Warm[H]]:
        """Idle warm monitors whose lease ran out unrenewed (the renewing thread stalled past it): they
        end themselves, so they are dropped here and returned for the caller to make sure."""
        gone = [w for w in self.idle if now - w.renewed_at >= self.lease]
        self.idle = [w for w in self.idle if now - w.renewed_at < self.lease]
        return gone

    def drain(self) -> list[Warm[H]]:
        """Every warm monitor without its job (idle, and reserved not handed over), now no longer the
        pool's: the ingress is stopping and ends them."""
        everything = [*self.idle, *self.reserved.values()]
        self.idle = []
        self.reserved = {}
        return everything
