import pytest

from hub.core.limits import Buckets, ConnectionCaps, TokenBucket


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    b = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    assert [b.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert b.retry_after(0.0) == pytest.approx(0.5)
    assert b.take(0.5) and not b.take(0.5)
    assert b.take(100.0) and b.tokens == pytest.approx(2.0)  # never more than the burst


def test_buckets_per_key_and_retry_after() -> None:
    buckets = Buckets(rate=1.0, burst=2.0, max_keys=2)
    assert buckets.take("a", 0.0) == 0 and buckets.take("a", 0.0) == 0
    assert buckets.take("a", 0.0) == pytest.approx(1.0)
    assert buckets.take("b", 0.0) == 0  # another key has its own bucket
    assert buckets.take("c", 10.0) == 0  # full buckets are swept to make room
    assert len(buckets._buckets) <= 2


def test_connection_caps() -> None:
    caps = ConnectionCaps(per_subject=2, total=3)
    assert caps.admit("a") is None and caps.admit("a") is None
    assert "per token" in (caps.admit("a") or "")
    assert caps.admit("b") is None
    assert "maximum" in (caps.admit("c") or "")
    caps.release("a")
    assert caps.admit("c") is None
