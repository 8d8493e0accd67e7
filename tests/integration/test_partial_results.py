"""Partial results (PROTOCOL.md section 9) on a real hub: a quiz job's `quiz_status` messages carry one
`item` per question, equal to the result's questions; `GET /api/jobs/{jobId}` carries `itemsDone`; a
client resuming from an offset gets the items it missed; and a job whose monitor is killed mid-way
(Ray restarts it) keeps its finished questions: they are not built again, every item reaches the
client once, the quiz is whole and in order, and progress never falls."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import ray

from actors.names import job_actor_name
from hub.server import LocalHub
from jobs import connect
from tests import counted_quiz
from tests.conftest import scaled
from tests.integration.conftest import DOCUMENT, Api, messages_until, open_ws, terminal


def items(envelopes: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    return [e["data"]["item"] for e in envelopes if e["data"].get("jobId") == job_id and "item" in e["data"]]


def progress_of(envelopes: list[dict[str, Any]], job_id: str) -> list[float]:
    return [e["data"]["progress"] for e in envelopes if e["data"].get("jobId") == job_id]


def test_a_quiz_streams_each_question_as_an_item_and_get_counts_them(hub: LocalHub, educator: Api) -> None:
    async def go() -> tuple[list[dict[str, Any]], dict[str, Any] | None, str]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        job_id = await asyncio.to_thread(educator.submit_quiz, n=8)
        mid: dict[str, Any] | None = None

        def first_item(env: dict[str, Any]) -> bool:
            return "item" in env["data"] or terminal(job_id)(env)

        before, _ = await messages_until(ws, first_item)
        if "item" in before[-1]["data"]:  # the job is running: GET says how many are done
            mid = (await asyncio.to_thread(educator.http.get, f"/api/jobs/{job_id}")).json()
        rest, _ = await messages_until(ws, terminal(job_id)) if not terminal(job_id)(before[-1]) else ([], [])
        await ws.close()
        return before + rest, mid, job_id

    envelopes, mid, job_id = asyncio.run(go())
    result = educator.http.get(f"/api/jobs/{job_id}/result").json()
    got = items(envelopes, job_id)
    assert sorted(i["index"] for i in got) == list(range(8)), got  # one per question, none missing or twice
    assert all(i["total"] == 8 and set(i) == {"index", "total", "question"} for i in got)
    assert {i["index"]: i["question"] for i in got} == dict(enumerate(result["questions"]))
    assert all(
        e["type"] == "quiz_status" and e["data"]["status"] == "processing" for e in envelopes if "item" in e["data"]
    )
    progress = progress_of(envelopes, job_id)
    assert progress == sorted(progress)
    done_counts = [e["data"]["itemsDone"] for e in envelopes if "itemsDone" in e["data"]]
    assert done_counts == sorted(done_counts) and done_counts[-1] == 8
    assert mid is not None and 1 <= mid["itemsDone"] <= 8 and mid["status"] in ("processing", "completed")
    final = educator.http.get(f"/api/jobs/{job_id}").json()
    assert final["status"] == "completed" and final["itemsDone"] == 8


def test_a_client_resuming_from_an_offset_gets_the_items_it_missed(hub: LocalHub, educator: Api) -> None:
    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
        ws, welcome = await open_ws(hub, {"token": educator.token})
        job_id = await asyncio.to_thread(educator.submit_quiz, n=6)
        seen, _ = await messages_until(ws, lambda e: e["data"].get("jobId") == job_id)  # `queued` only
        await ws.close()  # gone before any question is done; the job goes on
        await asyncio.to_thread(wait_status, educator, job_id, "completed")
        again, answer = await open_ws(
            hub, {"token": educator.token, "resume": {"epoch": welcome["epoch"], "seq": seen[-1]["seq"]}}
        )
        assert answer["resumed"] is True, answer
        replayed, _ = await messages_until(again, terminal(job_id))
        await again.close()
        welcome_of["epoch"] = welcome["epoch"]
        return seen, replayed, job_id

    welcome_of: dict[str, str] = {}
    seen, replayed, job_id = asyncio.run(go())
    assert items(seen, job_id) == []
    result = educator.http.get(f"/api/jobs/{job_id}/result").json()
    got = items(replayed, job_id)
    assert sorted(i["index"] for i in got) == list(range(6))
    assert [got_one["question"] for got_one in sorted(got, key=lambda i: i["index"])] == result["questions"]
    # the long-poll fallback replays them from the same offset too
    epoch, after = welcome_of["epoch"], seen[-1]["seq"]
    polled: list[dict[str, Any]] = []
    while not any(terminal(job_id)(e) for e in polled):
        reply = educator.http.get("/api/events", params={"epoch": epoch, "after": after, "timeout": 5}).json()
        assert reply["resumed"] is True and reply["messages"], reply
        polled += reply["messages"]
        after = reply["messages"][-1]["seq"]
    assert sorted(i["index"] for i in items(polled, job_id)) == list(range(6))


def wait_status(api: Api, job_id: str, status: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + scaled(timeout)
    while True:
        state = api.http.get(f"/api/jobs/{job_id}").json()
        if state.get("status") == status:
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.05)


def test_a_monitor_killed_mid_quiz_goes_on_from_its_finished_questions(
    hub: LocalHub, educator: Api, tmp_path: Path
) -> None:
    nb = connect(hub.url, educator.token, namespace=hub.settings.namespace)
    kind = counted_quiz.register(nb)
    nb.close()
    markers = tmp_path / "runs"
    markers.mkdir()
    n = 10
    params = {"text": DOCUMENT, "numQuestions": n, "quizId": "quiz-kept", "markerDir": str(markers), "delay": 0.4}

    async def go() -> tuple[list[dict[str, Any]], set[int], str]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        reply = await asyncio.to_thread(educator.http.post, "/api/jobs", json={"kind": kind, "params": params})
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["jobId"]
        # until three questions are done, then the monitor's process is killed: Ray restarts it
        envelopes, _ = await messages_until(ws, lambda e: len(items_so_far(e)) >= 3 or terminal(job_id)(e), 90)
        assert not terminal(job_id)(envelopes[-1]), "the job ended before its monitor could be killed"
        kept = {i["index"] for i in items(envelopes, job_id)}
        monitor = ray.get_actor(job_actor_name(job_id), namespace=hub.settings.namespace)
        ray.kill(monitor, no_restart=False)
        rest, _ = await messages_until(ws, terminal(job_id), 120)
        await ws.close()
        return envelopes + rest, kept, job_id

    seen: list[dict[str, Any]] = []

    def items_so_far(env: dict[str, Any]) -> list[dict[str, Any]]:
        seen.append(env)
        return [e for e in seen if "item" in e["data"]]

    envelopes, kept, job_id = asyncio.run(go())
    mine = [e for e in envelopes if e["data"].get("jobId") == job_id]
    assert mine[-1]["data"]["status"] == "completed", mine[-1]
    assert any(e["data"]["message"].startswith("Restarted") for e in mine)
    state = educator.http.get(f"/api/jobs/{job_id}").json()
    assert state["attempt"] == 2 and state["itemsDone"] == n
    runs = counted_quiz.runs(markers)
    assert all(runs[slot] == 1 for slot in kept), (kept, runs)  # finished questions were not built again
    assert set(runs) == set(range(n))
    got = items(mine, job_id)
    assert sorted(i["index"] for i in got) == list(range(n)), got  # every item once, across the restart
    progress = progress_of(mine, job_id)
    assert progress == sorted(progress), progress  # never falls, also across the restart
    result = educator.http.get(f"/api/jobs/{job_id}/result").json()
    assert [i["value"] for i in sorted(got, key=lambda i: i["index"])] == result["questions"]
    # the same quiz, in content and order, as an uninterrupted run of the built-in kind makes
    whole = educator.submit_quiz(n=n, quizId="quiz-kept")
    wait_status(educator, whole, "completed")
    assert educator.http.get(f"/api/jobs/{whole}/result").json()["questions"] == result["questions"]
    assert json.dumps(result["questions"])  # plain JSON


def test_a_notebook_watch_hands_each_question_to_on_item_as_it_comes(hub: LocalHub, educator: Api) -> None:
    nb = connect(hub.url, educator.token, namespace=hub.settings.namespace)
    try:
        job = nb.submit_quiz(DOCUMENT, num_questions=6)
        got: list[tuple[int, Any]] = []
        final = job.watch(timeout=scaled(60), show_items=False, on_item=lambda i, q: got.append((i, q)))
        result = job.result()
        assert final["status"] == "completed" and final["itemsDone"] == 6
        assert sorted(i for i, _ in got) == list(range(6)) and len(got) == 6  # each once
        assert dict(got) == dict(enumerate(result["questions"])) == job.items
    finally:
        nb.close()
