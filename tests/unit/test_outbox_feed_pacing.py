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
    c: UpdateCoalescer[str] = UpdateCoalescer(min_interval=0.1)
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
