"""The warm monitor pool's books (hub.core.warmpool): sizing, refills, which monitor a job takes,
leases. Plain values and a fake `now`; the Ray side is tested in tests/integration/test_monitor_pool.py."""

from __future__ import annotations

from hub.core.warmpool import WarmPool

LEASE = 20.0


def ready_pool(size: int = 2, now: float = 0.0) -> WarmPool[str]:
    pool: WarmPool[str] = WarmPool(size, LEASE)
    for k in range(size):
        pool.add(f"j{k}", f"handle-{k}", now)
        pool.mark_ready(f"j{k}")
    return pool


def test_an_empty_pool_wants_its_size_and_a_size_of_zero_wants_none() -> None:
    assert WarmPool(2, LEASE).wanted() == 2
    assert WarmPool(0, LEASE).wanted() == 0


def test_monitors_starting_count_toward_the_size_but_are_not_handed_out() -> None:
    pool: WarmPool[str] = WarmPool(2, LEASE)
    pool.add("a", "ha", 0.0)
    pool.add("b", "hb", 0.0)
    assert pool.wanted() == 0
    assert [w.job_id for w in pool.starting()] == ["a", "b"]
    assert pool.take(1.0) is None  # none ready: the job starts its own monitor
    pool.mark_ready("b")
    assert pool.take(1.0) == "b"
    assert [w.job_id for w in pool.starting()] == ["a"]


def test_a_taken_monitor_is_refilled_and_handed_over_once() -> None:
    pool = ready_pool()
    job_id = pool.take(1.0)
    assert job_id == "j0"
    assert pool.wanted() == 1  # its replacement starts at once
    warm = pool.claim(job_id)
    assert warm is not None and warm.handle == "handle-0"
    assert pool.claim(job_id) is None  # handed over: the pool no longer has it
    assert pool.take(1.0) == "j1"  # a second job right after the first also starts warm
    assert pool.take(1.0) is None  # then none until the refills are ready
    assert pool.wanted() == 2


def test_an_id_the_pool_never_reserved_is_not_claimed() -> None:
    pool = ready_pool()
    assert pool.claim("some-other-job") is None
    assert pool.wanted() == 0


def test_a_reserved_id_whose_job_was_not_recorded_goes_back_to_the_pool() -> None:
    pool = ready_pool(size=1)
    job_id = pool.take(1.0)
    assert job_id is not None
    assert pool.release(job_id, 2.0) is None  # back among the idle ones
    assert pool.wanted() == 0
    assert pool.take(2.0) == job_id
    assert pool.release("unknown", 2.0) is None


def test_a_released_monitor_near_its_lease_end_is_returned_to_be_ended() -> None:
    pool = ready_pool(size=1)
    job_id = pool.take(LEASE * 0.4)
    assert job_id is not None
    warm = pool.release(job_id, LEASE * 0.6)
    assert warm is not None and warm.job_id == job_id
    assert pool.wanted() == 1


def test_a_monitor_is_taken_only_while_more_than_half_its_lease_is_left() -> None:
    pool = ready_pool(size=1)
    assert pool.take(LEASE * 0.5) is None  # it might lapse before its job reaches it
    pool.renewed(pool.idle[0], LEASE * 0.5)
    assert pool.take(LEASE * 0.5 + 1) == "j0"


def test_leases_are_renewed_every_quarter_of_the_lease_reserved_ones_too() -> None:
    pool = ready_pool(size=2)
    pool.take(0.0)
    assert pool.renew_due(LEASE * 0.2) == []
    due = pool.renew_due(LEASE * 0.25)
    assert sorted(w.job_id for w in due) == ["j0", "j1"]
    for warm in due:
        pool.renewed(warm, LEASE * 0.25)
    assert pool.renew_due(LEASE * 0.3) == []


def test_idle_monitors_whose_lease_lapsed_are_dropped_and_replaced() -> None:
    pool = ready_pool(size=2)
    pool.renewed(pool.idle[1], LEASE * 0.5)
    gone = pool.lapsed(LEASE)
    assert [w.job_id for w in gone] == ["j0"]
    assert [w.job_id for w in pool.idle] == ["j1"]
    assert pool.wanted() == 1


def test_drain_gives_every_monitor_without_a_job_and_leaves_none() -> None:
    pool = ready_pool(size=3)
    taken = pool.take(0.0)
    reserved = pool.take(0.0)
    assert taken is not None and reserved is not None
    pool.claim(taken)  # has its job: not the pool's to end
    left = pool.drain()
    assert sorted(w.job_id for w in left) == sorted(["j2", reserved])
    assert pool.idle == [] and pool.reserved == {}


def test_a_reservation_neither_claimed_nor_released_within_a_lease_is_ended_not_reused() -> None:
    pool = ready_pool(size=2)
    job_id = pool.take(1.0)
    assert job_id is not None
    assert pool.abandoned(LEASE) == []
    gone = pool.abandoned(LEASE + 1.0)
    assert [w.job_id for w in gone] == [job_id]
    assert pool.claim(job_id) is None  # its job (if recorded) starts its own monitor
    assert job_id not in [w.job_id for w in pool.idle]
