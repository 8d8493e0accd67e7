"""Rate limits and caps. Pure: `now` is passed in."""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`. `take()` says whether one was there;
    `retry_after()` how long until one will be."""

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
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def retry_after(self, now: float, cost: float = 1.0) -> float:
        self._refill(now)
        return 0.0 if self.tokens >= cost else (cost - self.tokens) / self.rate


class Buckets:
    """One bucket per key (an educator, a connection), forgotten once full again."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str, now: float) -> float:
        """0 when allowed, else the seconds to wait (for Retry-After)."""
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
    """Open connections per token subject and per ingress process."""

    def __init__(self, per_subject: int, total: int) -> None:
        self.per_subject = per_subject
        self.total = total
        self.open: dict[str, int] = {}
        self.count = 0

    def admit(self, subject: str) -> str | None:
        """None when admitted (and counted); else why not."""
        if self.count >= self.total:
            return f"this server holds its maximum of {self.total} connections"
        if self.open.get(subject, 0) >= self.per_subject:
            return f"at most {self.per_subject} connections per token"
        self.open[subject] = self.open.get(subject, 0) + 1
        self.count += 1
        return None

    def release(self, subject: str) -> None:
        left = self.open.get(subject, 0) - 1
        if left > 0:
            self.open[subject] = left
        else:
            self.open.pop(subject, None)
        self.count = max(0, self.count - 1)
