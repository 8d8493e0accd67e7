import json

import pytest

from hub.core.feed import IngressFeed
from hub.core.outbox import Delivery, Outbox
from hub.core.pacing import UpdateCoalescer
from hub.core.protocol import batch_frame
from hub.core.stream import EducatorStream


def tick(seq: int, job: str = "j") -> Delivery:
    return Delivery(seq, job, True, json.dumps({"seq": seq}), float(seq))


def transition(seq: int, job: str = "j") -> Delivery:
    return Delivery(seq, job, False, json.dumps({"seq": seq}), float(seq))


def seqs(texts: list[str]) -> list[int]:
    return [json.loads(t)["seq"] for t in texts]


def test_outbox_keeps_everything_below_the_conflation_threshold() -> None:
    box = Outbox(limit=100, conflate_after=10)
    for s in range(1, 6):
        assert box.push(tick(s))
    texts, skipped, oldest = box.drain()
    assert seqs(texts) == [1, 2, 3, 4, 5] and skipped == 0 and oldest == 1.0


def test_outbox_conflates_ticks_of_a_job_but_never_transitions() -> None:
    box = Outbox(limit=100, conflate_after=2)
    box.push(transition(1))
    for s in range(2, 10):
        box.push(tick(s))
    box.push(tick(10, job="other"))
    box.push(transition(11))
    texts, skipped, _ = box.drain()
    got = seqs(texts)
    assert 1 in got and 11 in got  # transitions kept
    assert got == sorted(got)  # order kept
    assert 9 in got and 10 in got  # the newest tick of each job kept
    assert skipped == 11 - len(got)


def test_outbox_overflows_past_its_limit() -> None:
    box = Outbox(limit=3, conflate_after=3)
    results = [box.push(transition(s)) for s in range(1, 5)]
    assert results == [True, True, True, False]


def test_outbox_drain_limits_batch_size() -> None:
    box = Outbox(limit=100, conflate_after=100)
    for s in range(1, 8):
        box.push(transition(s))
    first, _, _ = box.drain(5)
    rest, _, _ = box.drain(5)
    assert seqs(first) == [1, 2, 3, 4, 5] and seqs(rest) == [6, 7] and len(box) == 0


def test_batch_frame_is_valid_json() -> None:
    frame = json.loads(batch_frame(['{"seq":1}', '{"seq":2}'], skipped=3))
    assert frame == {"op": "batch", "messages": [{"seq": 1}, {"seq": 2}], "skipped": 3}
    assert "skipped" not in json.loads(batch_frame(['{"seq":1}']))


def test_feed_is_at_least_once_until_acknowledged() -> None:
    stream = EducatorStream("a", "e", max_messages=10, max_age=60)
    feed = IngressFeed("i1", limit=10, now=0.0)
    feed.watch("a")
    for _ in range(3):
        feed.push(stream.append("notification", {}, 1.0))
    items, lost = feed.take(0, 1.0)
    assert [n for n, _ in items] == [1, 2, 3] and not lost
    again, _ = feed.take(0, 2.0)  # the reply was lost: sent again
    assert [n for n, _ in again] == [1, 2, 3]
    rest, _ = feed.take(2, 3.0)
    assert [n for n, _ in rest] == [3]
    assert feed.has_after(2) and not feed.has_after(3)


def test_feed_overflow_is_reported_once() -> None:
    stream = EducatorStream("a", "e", max_messages=10, max_age=60)
    feed = IngressFeed("i1", limit=2, now=0.0)
    for _ in range(3):
        feed.push(stream.append("notification", {}, 1.0))
    items, lost = feed.take(0, 1.0)
    assert lost and [n for n, _ in items] == [2, 3]
    assert feed.take(3, 1.0) == ([], False)


def test_feed_watch_counts() -> None:
    feed = IngressFeed("i1", limit=2, now=0.0)
    feed.watch("a")
    feed.watch("a")
    feed.unwatch("a")
    assert feed.wants("a")
    feed.unwatch("a")
    assert not feed.wants("a")


def test_coalescer_sends_transitions_at_once_and_paces_ticks() -> None:
    c: UpdateCoalescer[str] = UpdateCoalescer(min_interval=0.1)  # burst 1: a plain minimum gap
    assert c.due_in(0.0) is None
    c.add("t1", transition=True)
    assert c.due_in(0.0) == 0.0
    assert c.take(0.0) == ["t1"]
    c.add("p1", transition=False)
    c.add("p2", transition=False)
    assert c.due_in(0.05) == pytest.approx(0.05)
    assert c.take(0.1) == ["p2"]  # p1 superseded
    c.add("p3", transition=False)
    c.add("done", transition=True)
    assert c.due_in(0.1) == 0.0
    assert c.take(0.1) == ["p3", "done"]


def test_envelope_json_with_shared_data_matches_the_plain_form() -> None:
    from hub.core.protocol import dumps, envelope_json

    data = {"title": "Maintenance", "n": [1, 2], "ü": "ö"}
    plain = envelope_json(7, "notification", 1764094212.531, data)
    shared = envelope_json(7, "notification", 1764094212.531, data, dumps(data))
    assert (
        json.loads(plain)
        == json.loads(shared)
        == {"seq": 7, "type": "notification", "ts": 1764094212.531, "data": data}
    )


def sends_of(c: UpdateCoalescer[float], ticks: list[float]) -> list[tuple[float, float]]:
    """Drive `c` as a job monitor's publish loop does (it sends when `due_in` says, one batch at a
    time, instantly here): returns (tick time, send time) of every tick that went out."""
    sent: list[tuple[float, float]] = []
    i = 0
    now = 0.0
    while i < len(ticks) or c:
        due = c.due_in(now)
        next_tick = ticks[i] if i < len(ticks) else float("inf")
        if due is not None and now + due <= next_tick:
            now += due
            (tick,) = c.take(now)
            sent.append((tick, now))
            continue
        now = next_tick
        c.add(now, transition=False)
        i += 1
    return sent


def test_coalescer_sends_a_lone_tick_at_once() -> None:
    """DESIGN.md: batching never adds delay when idle. A tick after a quiet spell goes at once, and
    so does a tick right after a send while the burst allows (issue 15 item 3: at 20 ticks/s a job's
    lone tick waited ~18 ms for the 50 ms gap)."""
    c: UpdateCoalescer[str] = UpdateCoalescer(min_interval=0.05, burst=4)
    c.add("p1", transition=False)
    assert c.due_in(10.0) == 0.0
    c.take(10.0)
    c.add("p2", transition=False)
    assert c.due_in(10.01) == 0.0  # 10 ms after the last send: no wait while the burst lasts
    c.take(10.01)


def test_coalescer_never_delays_ticks_at_about_the_interval_with_jitter() -> None:
    """20 ticks a second (every 50 ms, the interval), each up to 20 ms late or early: none waits
    with a burst of 4; with burst 1 (the old rule) the early ones waited."""
    jitter = [0.0, 0.02, -0.02, 0.015, -0.01, 0.0, 0.02, -0.02, 0.01, -0.015] * 10
    ticks = [1.0 + 0.05 * k + j for k, j in enumerate(jitter)]
    waits = [send - tick for tick, send in sends_of(UpdateCoalescer(0.05, burst=4), ticks)]
    assert len(waits) == len(ticks) and max(waits) == 0.0
    old = [send - tick for tick, send in sends_of(UpdateCoalescer(0.05, burst=1), ticks)]
    assert max(old) > 0.01


def test_coalescer_keeps_a_chatty_job_to_the_rate_plus_the_burst() -> None:
    """A task reporting 1,000 times a second for 2 s: at most 2 / 0.05 + 4 sends go, each tick that
    goes is the newest (the others superseded), and none waits more than the interval."""
    ticks = [1.0 + 0.001 * k for k in range(2000)]
    sent = sends_of(UpdateCoalescer(0.05, burst=4), ticks)
    assert len(sent) <= 2 / 0.05 + 4 + 1
    assert len(sent) >= 2 / 0.05  # the rate is kept, not undercut
    assert all(send - tick <= 0.05 + 1e-9 for tick, send in sent)
    assert sent[-1][0] == ticks[-1]  # the last tick is never lost
    in_any_second = max(sum(1 for _, s in sent if t <= s < t + 1) for t, _ in sent)
    assert in_any_second <= 1 / 0.05 + 4


def test_coalescer_counts_transitions_against_the_rate_but_never_holds_them() -> None:
    c: UpdateCoalescer[str] = UpdateCoalescer(min_interval=0.1, burst=2)
    for k in range(5):
        c.add(f"t{k}", transition=True)
        assert c.due_in(0.0) == 0.0
        assert c.take(0.0) == [f"t{k}"]
    c.add("p", transition=False)
    assert c.due_in(0.0) == pytest.approx(0.4)  # five sends at 0: the rate's 0.5 s, less one of burst
    assert c.due_in(0.45) == 0.0


def test_coalescer_refuses_a_burst_under_one() -> None:
    with pytest.raises(ValueError, match="burst"):
        UpdateCoalescer(0.05, burst=0)
