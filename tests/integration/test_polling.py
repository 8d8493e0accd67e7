"""The long-poll fallback: same envelopes and resume rules as the WebSocket; nothing missed."""

from __future__ import annotations

import time

from hub.server import LocalHub
from tests.conftest import scaled
from tests.integration.conftest import Api


def test_long_poll_follows_a_job_to_completion_without_gaps(hub: LocalHub, educator: Api) -> None:
    first = educator.http.get("/api/events", params={"timeout": 0}).json()
    assert first["resumed"] is False and first["snapshot"] == [] and first["messages"] == []
    epoch, seq = first["epoch"], first["seq"]
    job_id = educator.submit_quiz(n=4)
    seen: list[dict] = []
    polls = 0
    deadline = time.monotonic() + scaled(60)
    while not seen or seen[-1]["type"] != "analytics_update":  # it follows the job's completion
        assert time.monotonic() < deadline, seen
        started = time.monotonic()
        reply = educator.http.get("/api/events", params={"epoch": epoch, "after": seq, "timeout": 10}).json()
        polls += 1
        assert reply["resumed"] is True and reply["epoch"] == epoch
        if reply["messages"]:
            assert time.monotonic() - started < scaled(5)  # returns as soon as there is something
        seen.extend(reply["messages"])
        seq = reply["seq"]
    seqs = [m["seq"] for m in seen]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    job_msgs = [m for m in seen if m["type"] == "quiz_status"]
    assert {m["data"]["jobId"] for m in job_msgs} == {job_id} and len(job_msgs) == len(seen) - 1
    assert job_msgs[0]["data"]["status"] == "queued" and job_msgs[-1]["data"]["status"] == "completed"
    assert polls < len(seen) + 5  # batches, not a poll per message

    idle = time.monotonic()
    empty = educator.http.get("/api/events", params={"epoch": epoch, "after": seq, "timeout": 0.5}).json()
    assert empty["messages"] == [] and time.monotonic() - idle >= 0.4

    stale = educator.http.get("/api/events", params={"epoch": "gone", "after": 3, "timeout": 1}).json()
    assert stale["resumed"] is False and stale["snapshot"][0]["jobId"] == job_id
    assert stale["snapshot"][0]["status"] == "completed"


def test_long_poll_needs_an_educator_token(hub: LocalHub) -> None:
    import httpx

    assert httpx.get(hub.url + "/api/events").status_code == 401


def test_metrics_answer_while_a_long_poll_waits(hub: LocalHub, educator: Api) -> None:
    import threading

    import httpx

    first = educator.http.get("/api/events", params={"timeout": 0}).json()
    waiting = threading.Thread(
        target=educator.http.get,
        args=("/api/events",),
        kwargs={"params": {"epoch": first["epoch"], "after": first["seq"], "timeout": 3}},
    )
    waiting.start()
    time.sleep(0.5)  # the poll is now held by the relay beside the WebSocket connections
    metrics = httpx.get(hub.url + "/metrics")
    waiting.join()
    assert metrics.status_code == 200 and "hub_send_queue_messages " in metrics.text
