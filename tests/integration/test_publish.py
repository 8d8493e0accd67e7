"""analytics_update and notification: HTTP publish, broadcast, back-end helpers, job analytics."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.backend import Backend
from hub.core.errors import InvalidTransition
from hub.server import LocalHub
from tests.integration.conftest import Api, messages_until, open_ws, terminal


def post(hub: LocalHub, role: str, body: dict[str, Any]) -> Any:
    api = Api(hub, hub.token(f"{role}-caller", role=role))
    return api.http.post("/api/publish", json=body)


def test_publish_to_one_a_list_and_everyone(hub: LocalHub) -> None:
    a, b, c = (Api(hub, hub.token(f"pub-{x}")) for x in "abc")

    async def go() -> dict[str, list[dict[str, Any]]]:
        sockets = {}
        for name, api in (("a", a), ("b", b), ("c", c)):
            sockets[name], _ = await open_ws(hub, {"token": api.token})
        r1 = await asyncio.to_thread(
            post,
            hub,
            "service",
            {"type": "analytics_update", "data": {"updates": {"quizzesToday": 3}}, "educatorIds": ["pub-a"]},
        )
        assert r1.status_code == 202 and r1.json()["delivered"] == 1
        r2 = await asyncio.to_thread(
            post,
            hub,
            "service",
            {
                "type": "notification",
                "data": {"level": "success", "title": "Ready", "body": "Your quiz"},
                "educatorIds": ["pub-a", "pub-b"],
            },
        )
        assert r2.status_code == 202 and r2.json()["delivered"] == 2
        r3 = await asyncio.to_thread(
            post,
            hub,
            "admin",
            {"type": "notification", "data": {"title": "Maintenance at 6", "level": "warning"}, "broadcast": True},
        )
        assert r3.status_code == 202 and r3.json()["delivered"] >= 3
        got = {}
        for name, ws in sockets.items():
            envelopes, _ = await messages_until(ws, lambda e: e["data"].get("title") == "Maintenance at 6")
            got[name] = envelopes
            await ws.close()
        return got

    got = asyncio.run(go())
    a_types = [(e["type"], e["data"].get("title")) for e in got["a"]]
    assert a_types == [("analytics_update", None), ("notification", "Ready"), ("notification", "Maintenance at 6")]
    assert got["a"][0]["data"] == {"educatorId": "pub-a", "updates": {"quizzesToday": 3}}
    note = got["b"][0]["data"]
    assert note["level"] == "success" and note["body"] == "Your quiz" and note["broadcast"] is False and note["id"]
    assert [e["data"]["title"] for e in got["c"]] == ["Maintenance at 6"]
    assert got["c"][0]["data"]["broadcast"] is True


def test_publish_refusals(hub: LocalHub) -> None:
    body = {"type": "notification", "data": {"title": "x"}, "educatorIds": ["someone"]}
    assert post(hub, "educator", body).status_code == 403
    assert post(hub, "service", {**body, "broadcast": True}).status_code == 403
    assert post(hub, "service", {**body, "type": "quiz_status"}).status_code == 422
    assert (
        post(
            hub, "service", {"type": "notification", "data": {"title": "x", "level": "loud"}, "educatorIds": ["a"]}
        ).status_code
        == 422
    )
    assert post(hub, "service", {"type": "notification", "data": {"title": "x"}}).status_code == 422


def test_completed_quiz_publishes_the_educators_analytics(hub: LocalHub, educator: Api) -> None:
    async def go() -> list[dict[str, Any]]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        job_id = await asyncio.to_thread(educator.submit_quiz, n=4)
        await messages_until(ws, terminal(job_id))
        envelopes, _ = await messages_until(ws, lambda e: e["type"] == "analytics_update")
        await ws.close()
        return envelopes

    update = asyncio.run(go())[-1]["data"]
    assert update["updates"]["questionsGenerated"] == 4 and update["updates"]["jobsToday"] == 1
    assert update["updates"]["averageGenerationSeconds"] > 0


def test_backend_helpers(hub: LocalHub, educator: Api) -> None:
    backend = Backend.connect(namespace=hub.settings.namespace)
    educator_id = educator.educator_id

    async def go() -> list[dict[str, Any]]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        job = await backend.create_job_record(
            educator_id, "question_replace", quiz_id="quiz-1", question_id="quiz-1-q3"
        )
        await backend.update_job_with_notification(
            job["jobId"], status="processing", progress=40, message="Rewriting question 3"
        )
        seq = await backend.send_job_status_update(job["jobId"])
        assert seq > 0
        await backend.update_job_with_notification(
            job["jobId"], status="completed", progress=100, message="Question 3 replaced", title="Question ready"
        )
        await backend.publish("analytics_update", {"updates": {"custom": 1}}, educator_ids=[educator_id])
        envelopes, _ = await messages_until(ws, lambda e: e["type"] == "analytics_update")
        await ws.close()
        return envelopes

    msgs = asyncio.run(go())
    kinds = [(m["type"], m["data"].get("status") or m["data"].get("title")) for m in msgs]
    assert kinds == [
        ("question_replace", "queued"),
        ("question_replace", "processing"),
        ("notification", "Job processing"),
        ("question_replace", "processing"),
        ("question_replace", "completed"),
        ("notification", "Question ready"),
        ("analytics_update", None),
    ]
    assert msgs[0]["data"]["questionId"] == "quiz-1-q3" and msgs[0]["data"]["quizId"] == "quiz-1"
    assert msgs[5]["data"]["level"] == "success"
    state = educator.http.get(f"/api/jobs/{msgs[0]['data']['jobId']}").json()
    assert state["status"] == "completed" and state["questionId"] == "quiz-1-q3"


def test_a_change_the_transition_table_refuses_is_a_conflict_not_a_silent_shard(hub: LocalHub, educator: Api) -> None:
    # The shard actor answers (it refuses the change): the back end gets the 409 error with its
    # reason, not UpstreamError's "did not answer; try again" (a retry could never succeed).
    backend = Backend.connect(namespace=hub.settings.namespace)

    async def go() -> None:
        job = await backend.create_job_record(educator.educator_id, "question_replace", quiz_id="q", question_id="q-1")
        await backend.update_job_with_notification(job["jobId"], status="processing", progress=50, message="Half")
        await backend.update_job_with_notification(job["jobId"], status="completed", progress=100, message="Done")
        with pytest.raises(InvalidTransition) as info:
            await backend.update_job_with_notification(job["jobId"], status="processing", message="Again")
        assert info.value.http_status == 409 and "completed" in info.value.message

    asyncio.run(go())
