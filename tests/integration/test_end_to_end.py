"""A quiz job on real Ray reports its progress to a real WebSocket client through a real uvicorn."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
import ray

from actors.names import job_actor_name
from hub.server import LocalHub
from tests.conftest import scaled
from tests.integration.conftest import Api, messages_until, open_ws, terminal


def test_an_idle_connections_compressor_is_freed_and_a_fresh_one_decodes(hub: LocalHub, educator: Api) -> None:
    """Frames written after the ingress dropped an idle connection's deflate state still decode."""
    service = hub.token("svc", role="service")

    def publish(title: str) -> None:
        reply = educator.http.post(
            "/api/publish",
            headers={"Authorization": f"Bearer {service}"},
            json={"type": "notification", "educatorIds": [educator.educator_id], "data": {"title": title}},
        )
        assert reply.status_code == 202, reply.text

    def trimmed() -> float:
        text = educator.http.get("/metrics").text
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("hub_compressors_trimmed"))

    async def go() -> list[str]:
        ws, _ = await open_ws(hub, {"token": educator.token}, compression="deflate")
        titles = []
        for i in range(3):
            before = await asyncio.to_thread(trimmed)
            deadline = time.monotonic() + scaled(10)
            while await asyncio.to_thread(trimmed) <= before:  # idle long enough to lose the compressor
                assert time.monotonic() < deadline, "no compressor was trimmed"
                await asyncio.sleep(0.1)
            await asyncio.to_thread(publish, f"after idle {i} " + "repeated text " * 10)
            frame = json.loads(await asyncio.wait_for(ws.recv(), scaled(5)))
            titles += [m["data"]["title"] for m in frame["messages"]]
        await ws.close()
        return titles

    titles = asyncio.run(go())
    assert [t.split(" repeated")[0] for t in titles] == ["after idle 0", "after idle 1", "after idle 2"]


def test_quiz_job_streams_queued_processing_completed(hub: LocalHub, educator: Api) -> None:
    async def go() -> list[dict]:
        ws, welcome = await open_ws(hub, {"token": educator.token}, compression="deflate")
        assert welcome["op"] == "welcome" and welcome["resumed"] is False
        assert welcome["snapshot"] == [] and welcome["heartbeat"] > 0 and welcome["epoch"]
        assert "permessage-deflate" in ws.response.headers.get("sec-websocket-extensions", "")
        assert ws.subprotocol == "hub.v1"
        job_id = await asyncio.to_thread(educator.submit_quiz, n=6)
        envelopes, _ = await messages_until(ws, terminal(job_id))
        await ws.close()
        return [e for e in envelopes if e["data"].get("jobId") == job_id]

    msgs = asyncio.run(go())
    statuses = [m["data"]["status"] for m in msgs]
    assert statuses[0] == "queued"
    assert statuses[-1] == "completed", msgs[-1]
    assert set(statuses[1:-1]) == {"processing"}
    assert all(m["type"] == "quiz_status" for m in msgs)
    seqs = [m["seq"] for m in msgs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # ordered, nothing skipped
    progress = [m["data"]["progress"] for m in msgs]
    assert progress == sorted(progress) and progress[-1] == 100
    assert len({p for p in progress if 0 < p < 100}) >= 3  # rising progress, not a jump
    texts = [m["data"]["message"] for m in msgs]
    assert all(t for t in texts)
    # The monitor coalesces progress ticks (50 ms), so any one tick may be superseded under load;
    # what must hold: the stages are described as they pass (several distinct messages, each one
    # the quiz job says) and the last one counts the questions.
    stages = re.compile(r"Waiting to start|Starting|Reading the document|Found .*generating|Generat(ing|ed) |Saving")
    during = [t for m, t in zip(msgs, texts, strict=True) if m["data"]["status"] != "completed"]
    assert len(set(during)) >= 3 and all(stages.search(t) for t in during), during
    assert texts[-1].startswith("Done: 6 questions"), texts[-1]

    job_id = msgs[0]["data"]["jobId"]
    quiz = educator.http.get(f"/api/jobs/{job_id}/result").json()
    assert quiz["numQuestions"] == 6 and len(quiz["questions"]) == 6
    for q in quiz["questions"]:
        assert q["answer"] in q["sourceSentence"]
        if q["type"] == "multiple_choice":
            assert len(q["options"]) == 4 and q["options"].count(q["answer"]) == 1
    state = educator.http.get(f"/api/jobs/{job_id}").json()
    assert state["status"] == "completed" and state["kind"] == "quiz_generation" and state["quizId"]
    assert [j["jobId"] for j in educator.http.get("/api/jobs").json()][0] == job_id

    deadline = time.monotonic() + scaled(10)  # the job's actor exits when its job is done
    while time.monotonic() < deadline:
        try:
            ray.get_actor(job_actor_name(job_id), namespace=hub.settings.namespace)
        except ValueError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the job's actor is still alive after its job completed")


def test_welcome_snapshot_lists_the_educators_jobs(hub: LocalHub, educator: Api) -> None:
    async def go() -> dict:
        ws, _ = await open_ws(hub, {"token": educator.token})
        job_id = await asyncio.to_thread(educator.submit_quiz, n=2)
        await messages_until(ws, terminal(job_id))
        await ws.close()
        again, welcome = await open_ws(hub, {"token": educator.token})
        await again.close()
        return {"welcome": welcome, "job": job_id}

    got = asyncio.run(go())
    snap = got["welcome"]["snapshot"]
    assert [j["jobId"] for j in snap] == [got["job"]]
    assert snap[0]["status"] == "completed" and snap[0]["educatorId"] and snap[0]["createdAt"] > 0


def test_job_that_cannot_work_fails_with_a_reason(hub: LocalHub, educator: Api) -> None:
    async def go() -> dict:
        ws, _ = await open_ws(hub, {"token": educator.token})
        job_id = await asyncio.to_thread(educator.submit_quiz, text="Hi there. Ok.", n=3)
        envelopes, _ = await messages_until(ws, terminal(job_id))
        await ws.close()
        return envelopes[-1]

    last = asyncio.run(go())
    assert last["data"]["status"] == "failed"
    assert last["data"]["error"]
    assert educator.http.get(f"/api/jobs/{last['data']['jobId']}/result").status_code == 409


def test_ping_pong_and_resume_after_reconnect(hub: LocalHub, educator: Api) -> None:
    async def go() -> None:
        ws, welcome = await open_ws(hub, {"token": educator.token})
        await ws.send(json.dumps({"op": "ping", "id": {"n": 7}}))
        assert json.loads(await ws.recv()) == {"op": "pong", "id": {"n": 7}}
        job_id = await asyncio.to_thread(educator.submit_quiz, n=3)
        first, _ = await messages_until(ws, lambda e: e["data"]["status"] == "processing")
        await ws.close()
        seen = first[-1]["seq"]
        ws2, again = await open_ws(hub, {"token": educator.token, "resume": {"epoch": welcome["epoch"], "seq": seen}})
        assert again["resumed"] is True and "snapshot" not in again
        rest, _ = await messages_until(ws2, terminal(job_id))
        await ws2.close()
        assert rest[0]["seq"] == seen + 1
        assert rest[-1]["data"]["status"] == "completed"

    asyncio.run(go())


def test_concurrent_jobs_of_two_educators_stay_apart(hub: LocalHub) -> None:
    a, b = Api(hub, hub.token("iso-a")), Api(hub, hub.token("iso-b"))

    async def go() -> None:
        wa, _ = await open_ws(hub, {"token": a.token})
        wb, _ = await open_ws(hub, {"token": b.token})
        ja = await asyncio.to_thread(a.submit_quiz, n=3)
        jb = await asyncio.to_thread(b.submit_quiz, n=3)
        got_a, _ = await messages_until(wa, terminal(ja))
        got_b, _ = await messages_until(wb, terminal(jb))
        assert {e["data"]["jobId"] for e in got_a} == {ja}
        assert {e["data"]["jobId"] for e in got_b} == {jb}
        await wa.close()
        await wb.close()

    asyncio.run(go())
    assert b.http.get(f"/api/jobs/{a.http.get('/api/jobs').json()[0]['jobId']}").status_code == 404
