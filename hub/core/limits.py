"""Rate limits and caps. Pure: `now` is passed in."""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens a second (> 0), holding at most `burst`; it starts full. `take()` says whether
    one was there; `retry_after()` how long until one will be. Times are seconds on the caller's
    clock (any monotonic one: only differences count); a clock that steps back refills nothing.

    Kept rather than a rate-limit library (`limits`, `aiolimiter`): 30 lines, pure and given `now`,
    where those read the clock themselves or wait instead of saying how long (Retry-After)."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Take `cost` tokens if there are that many at `now`: True when taken, False (nothing taken) when not."""
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def retry_after(self, now: float, cost: float = 1.0) -> float:
        """Seconds from `now` until `cost` tokens are there (0.0 when they are now); takes none."""
        self._refill(now)
        return 0.0 if self.tokens >= cost else (cost - self.tokens) / self.rate


class Buckets:
    """One TokenBucket per key (an educator, a connection), each `rate` a second and `burst` deep.
    When `max_keys` buckets are held, the full ones (a full bucket is the same as none) are
    forgotten before a new key is added, so memory stays bounded by the keys that are limited now."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str, now: float) -> float:
        """One token for `key` at `now` (seconds): 0.0 when allowed (and taken), else the seconds to
        wait before one is there (for Retry-After)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._sweep(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return 0.0 if bucket.take(now) else bucket.retry_after(now)

    def _sweep(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            bucket._refill(now)
            if bucket.tokens >= bucket.burst:
                del self._buckets[key]


class ConnectionCaps:
    """Open connections per token subject (`per_subject`) and per ingress process (`total`): `admit`
    before accepting one, `release` once for each admitted one when it closes."""

    def __init__(self, per_subject: int, total: int) -> None:
        self.per_subject = per_subject
        self.total = total
        self.open: dict[str, int] = {}
        self.count = 0

    def admit(self, subject: str) -> str | None:
        """None when admitted (and counted); else why not, a sentence for the 4429 close reason."""
        if self.count >= self.total:
            return f"this server holds its maximum of {self.total} connections"
        if self.open.get(subject, 0) >= self.per_subject:
            return f"at most {self.per_subject} connections per token"
        self.open[subject] = self.open.get(subject, 0) + 1
        self.count += 1
        return None

    def release(self, subject: str) -> None:
        """Uncount one connection of `subject` (one `admit` that returned None); never below zero."""
        left = self.open.get(subject, 0) - 1
        if left > 0:
            self.open[subject] = left
        else:
            self.open.pop(subject, None)
        self.count = max(0, self.count - 1)
