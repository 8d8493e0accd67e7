"""Issue 13 E (ghost jobs): every step of a submission either succeeds or leaves no trace. The job
store is made busy for real: the test holds the session hub's SQLite file locked (BEGIN EXCLUSIVE)."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from hub.server import LocalHub
from jobs import connect
from tests.conftest import scaled
from tests.integration.conftest import DOCUMENT, Api, messages_until, open_ws, terminal
from tests.integration.test_input_errors import WhichParams, failing_kind, listed


@contextmanager
def store_locked(hub: LocalHub, release_after: float | None = None) -> Iterator[None]:
    """Hold the job store's database write-locked from another connection (as a backup tool or a
    second process would); released on leaving, or after `release_after` seconds."""
    other = sqlite3.connect(hub.settings.db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    timer = threading.Timer(release_after, lambda: other.execute("ROLLBACK")) if release_after else None
    if timer is not None:
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.join()
        else:
            other.execute("ROLLBACK")
        other.close()


async def frames_for(ws: Any, seconds: float) -> list[dict[str, Any]]:
    """Every frame that arrives within `seconds`."""
    frames = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            break
    return frames


QUIZ = {"kind": "quiz_generation", "params": {"text": DOCUMENT, "numQuestions": 1}}


def test_a_store_busy_past_its_timeout_refuses_the_job_and_leaves_no_trace(hub: LocalHub, educator: Api) -> None:
    busy = hub.settings.store_busy_timeout

    async def go() -> tuple[Any, float, list[dict[str, Any]]]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        with store_locked(hub):
            started = time.monotonic()
            reply = await asyncio.to_thread(educator.http.post, "/api/jobs", json=QUIZ)
            took = time.monotonic() - started
        frames = await frames_for(ws, scaled(2))
        await ws.close()
        return reply, took, frames

    reply, took, frames = asyncio.run(go())
    assert reply.status_code == 503, reply.text
    detail = reply.json()["detail"]
    assert "not started" in detail and "nothing was queued" in detail and detail.endswith(".")
    assert busy * 0.9 <= took < busy + scaled(10)  # it waited the store's busy timeout out
    jobs = [m for f in frames if f["op"] == "batch" for m in f["messages"] if "jobId" in m["data"]]
    assert jobs == []  # no `queued` frame
    assert listed(educator) == []  # no record
    again = educator.http.post("/api/jobs", json=QUIZ)  # and the store works again
    assert again.status_code == 202


def test_a_store_busy_for_less_than_its_timeout_is_waited_out(hub: LocalHub, educator: Api) -> None:
    hold = min(1.0, hub.settings.store_busy_timeout / 3)

    async def go() -> tuple[Any, float, list[dict[str, Any]]]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        with store_locked(hub, release_after=hold):
            started = time.monotonic()
            reply = await asyncio.to_thread(educator.http.post, "/api/jobs", json=QUIZ)
            took = time.monotonic() - started
        assert reply.status_code == 202, reply.text
        envelopes, _ = await messages_until(ws, terminal(reply.json()["jobId"]))
        await ws.close()
        return reply, took, envelopes

    reply, took, envelopes = asyncio.run(go())
    assert took >= hold * 0.8  # the write waited for the lock
    statuses = [e["data"]["status"] for e in envelopes if e["data"].get("jobId") == reply.json()["jobId"]]
    assert statuses[0] == "queued" and statuses[-1] == "completed"


def test_a_job_whose_monitor_cannot_start_is_ended_not_left_queued(hub: LocalHub, educator: Api) -> None:
    nb = connect(hub.url, hub.token("ghost-registrar"), namespace=hub.settings.namespace)
    # Ray refuses a quantity finer than 0.0001 when the monitor is made (the kind's shape is checked at
    # registration: jobs.kinds.resources_problem; Ray's own rules only by Ray)
    nb.register_kind("unplaceable", failing_kind, WhichParams, resources={"num_cpus": 0.00001})
    nb.close()

    async def go() -> tuple[Any, list[dict[str, Any]]]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        reply = await asyncio.to_thread(
            educator.http.post, "/api/jobs", json={"kind": "unplaceable", "params": {"how": "input"}}
        )
        frames = await frames_for(ws, scaled(2))
        await ws.close()
        return reply, frames

    reply, frames = asyncio.run(go())
    assert reply.status_code == 503, reply.text
    found = re.search(r"reference ([0-9a-f]{8})", reply.json()["detail"])
    assert found and "could not be started" in reply.json()["detail"]
    states = {m["data"]["jobId"]: m["data"] for f in frames if f["op"] == "batch" for m in f["messages"]}
    # `queued` went out while the monitor was being made: the job then ends failed, with the same
    # reference; or nothing went out and there is no record at all.
    for state in states.values():
        assert state["status"] == "failed" and state["error"] == f"the hub failed; reference {found.group(1)}"
    assert [(j["jobId"], j["status"]) for j in listed(educator)] == [(k, "failed") for k in states]


def test_a_first_submission_over_http_still_streams_every_status(hub: LocalHub, educator: Api) -> None:
    """The job is recorded before `queued` is published; the shard meets this educator through that
    publish and loads the record from the store, and `queued` must still go on the stream (a status
    transition is never skipped): a client that resumes from the stream's start sees all of them."""
    job_id = educator.submit_quiz(n=2)

    async def go() -> list[dict[str, Any]]:
        ws, welcome = await open_ws(hub, {"token": educator.token})
        await ws.close()
        resumed, again = await open_ws(hub, {"token": educator.token, "resume": {"epoch": welcome["epoch"], "seq": 0}})
        try:
            assert again["resumed"] is True
            envelopes, _ = await messages_until(resumed, terminal(job_id))
            return envelopes
        finally:
            await resumed.close()

    statuses = [e["data"]["status"] for e in asyncio.run(go()) if e["data"].get("jobId") == job_id]
    assert statuses[0] == "queued" and statuses[-1] == "completed", statuses
    assert "processing" in statuses


def test_a_queued_job_that_ray_cannot_place_is_cancelled_at_once(hub: LocalHub, educator: Api) -> None:
    """A monitor asking for what no node has (a GPU here) waits unplaced; cancelling the job must end
    it, not queue the cancel behind a placement that never comes (the monitor is killed)."""
    import ray

    from actors.names import job_actor_name

    nb = connect(hub.url, hub.token("gpu-registrar"), namespace=hub.settings.namespace)
    nb.register_kind("needs_a_gpu", failing_kind, WhichParams, resources={"num_gpus": 1})
    nb.close()
    job_id = educator.http.post("/api/jobs", json={"kind": "needs_a_gpu", "params": {"how": "input"}}).json()["jobId"]
    assert educator.http.get(f"/api/jobs/{job_id}").json()["status"] == "queued"

    async def go() -> list[dict[str, Any]]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        try:
            reply = await asyncio.to_thread(educator.http.post, f"/api/jobs/{job_id}/cancel")
            assert reply.status_code == 202, reply.text
            envelopes, _ = await messages_until(ws, terminal(job_id), timeout=10)
            return envelopes
        finally:
            await ws.close()

    ended = [e["data"] for e in asyncio.run(go()) if e["data"].get("jobId") == job_id]
    assert ended[-1]["status"] == "cancelled"
    assert educator.http.get(f"/api/jobs/{job_id}").json()["status"] == "cancelled"
    with pytest.raises(ValueError):  # no monitor left waiting for a GPU
        ray.get_actor(job_actor_name(job_id), namespace=hub.settings.namespace)
