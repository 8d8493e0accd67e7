"""The job desk (hub/ingress/desk.py) behind POST /api/jobs, cancel and the WebSocket `cancel` op:
a job is recorded in the store before anything is published, bad params are 422 with the reason,
cancel ends a job once, and nobody reaches a job that is not theirs (PROTOCOL.md sections 2, 4, 5).
Jobs of the in-process kind `adapter_steps` (tests/adapters/fakes.py) run in real JobMonitors."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.core.jobstate import JobState
from hub.core.sharding import shard_of
from tests.adapters.fakes import FakeCluster, auth, hello, strict, until_status

Client = tuple[TestClient, FakeCluster]


def submit(http: TestClient, who: str, kind: str = "adapter_steps", **params: Any) -> dict[str, Any]:
    reply = http.post("/api/jobs", json={"kind": kind, "params": params}, headers=auth(who))
    assert reply.status_code == 202, reply.text
    body: dict[str, Any] = strict(reply.content)
    assert body["status"] == "queued" and set(body) == {"jobId", "status"}
    return body


def test_a_submitted_job_is_recorded_before_its_queued_status_is_published(client: Client) -> None:
    http, cluster = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        cluster.log.clear()
        job_id = submit(http, "alice", hold=True)["jobId"]
        queued = until_status(ws, job_id, "queued")[-1]
        assert queued["type"] == "quiz_status" and queued["data"]["progress"] == 0
        calls = [(what, method) for what, method, _ in cluster.log]
        saved = calls.index(("job store", "save"))
        published = calls.index(("registry shard", "publish"))
        assert saved < published, calls
        (state,) = cluster.store.calls("save")[0][:1]
        assert state["jobId"] == job_id and state["status"] == "queued" and state["educatorId"] == "alice"
        http.post(f"/api/jobs/{job_id}/cancel", headers=auth("alice"))
        until_status(ws, job_id, "cancelled")


def test_a_job_runs_to_completed_with_rising_progress_and_its_result(client: Client) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        job_id = submit(http, "alice", steps=3)["jobId"]
        seen = until_status(ws, job_id, "completed")
    statuses = [e["data"]["status"] for e in seen]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    assert set(statuses[1:-1]) == {"processing"}
    progress = [e["data"]["progress"] for e in seen]
    assert progress == sorted(progress) and progress[-1] == 100
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)
    state = http.get(f"/api/jobs/{job_id}", headers=auth("alice")).json()
    assert state["status"] == "completed" and state["kind"] == "adapter_steps" and state["educatorId"] == "alice"
    result = http.get(f"/api/jobs/{job_id}/result", headers=auth("alice"))
    assert result.status_code == 200 and result.json() == {"steps": 3, "summary": "3 steps"}


def test_a_job_failing_on_its_input_ends_failed_with_the_sentence(client: Client) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        job_id = submit(http, "alice", steps=1, fail="Row 3 has no answer column.")["jobId"]
        failed = until_status(ws, job_id, "failed")[-1]["data"]
    assert failed["error"] == "Row 3 has no answer column."
    result = http.get(f"/api/jobs/{job_id}/result", headers=auth("alice"))
    assert result.status_code == 409 and "failed" in result.json()["detail"]


def test_a_job_the_store_cannot_record_is_503_and_nothing_is_published_or_started(client: Client) -> None:
    http, cluster = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        cluster.store.fail("save")
        reply = http.post("/api/jobs", json={"kind": "adapter_steps", "params": {}}, headers=auth("alice"))
        assert reply.status_code == 503
        assert reply.json()["detail"].startswith("The job was not started: the job store could not record it")
        assert cluster.spawned == [] and not any(s.calls("publish") for s in cluster.shards)
        ws.send_text('{"op":"ping","id":1}')
        assert strict(ws.receive_text()) == {"op": "pong", "id": 1}  # no `queued` came before it
    assert http.get("/api/jobs", headers=auth("alice")).json() == []


def test_a_job_whose_monitor_cannot_start_ends_failed_with_a_reference(client: Client) -> None:
    http, cluster = client
    cluster.spawn_error = RuntimeError("Ray could not create the actor")
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        reply = http.post("/api/jobs", json={"kind": "adapter_steps", "params": {}}, headers=auth("alice"))
        assert reply.status_code == 503
        detail = reply.json()["detail"]
        assert "could not be started" in detail and "reference" in detail and "Traceback" not in detail
        (job,) = http.get("/api/jobs", headers=auth("alice")).json()
        seen = until_status(ws, job["jobId"], "failed")
    assert [e["data"]["status"] for e in seen] == ["queued", "failed"]  # announced, then ended
    assert seen[-1]["data"]["error"].startswith("the hub failed; reference ")
    assert http.get(f"/api/jobs/{job['jobId']}", headers=auth("alice")).json()["status"] == "failed"


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        ({"kind": "no_such_kind", "params": {}}, ["body", "kind"], "unknown job kind 'no_such_kind'"),
        ({"kind": "adapter_steps", "params": {"steps": 0}}, "steps", "greater than or equal to 1"),
        ({"kind": "adapter_steps", "params": {"steps": "many"}}, "steps", "integer"),
        ({"kind": "adapter_steps", "params": {"colour": "red"}}, "colour", "Extra inputs"),
        ({"kind": "quiz_generation", "params": {"text": "Plants.", "numQuestions": 51}}, "numQuestions", "50"),
        ({"kind": "", "params": {}}, "kind", "at least 1 character"),
        ({"kind": "adapter_steps", "params": {}, "extra": 1}, "extra", "Extra inputs"),
        ({"params": {}}, "kind", "Field required"),
    ],
)
def test_bad_submissions_are_422_with_where_and_why_and_start_nothing(
    client: Client, body: dict[str, Any], where: Any, says: str
) -> None:
    http, cluster = client
    reply = http.post("/api/jobs", json=body, headers=auth("alice"))
    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"]
    assert isinstance(detail, list) and detail
    error = next(e for e in detail if (e["loc"] == where if isinstance(where, list) else where in e["loc"]))
    assert says in error["msg"], detail
    assert cluster.spawned == [] and cluster.store.calls("save") == []


def test_cancel_over_http_ends_a_running_job_once(client: Client) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        job_id = submit(http, "alice", steps=1, hold=True)["jobId"]
        until_status(ws, job_id, "processing")
        reply = http.post(f"/api/jobs/{job_id}/cancel", headers=auth("alice"))
        assert reply.status_code == 202 and reply.json() == {"jobId": job_id, "status": "cancelling"}
        assert until_status(ws, job_id, "cancelled")[-1]["data"]["message"] == "Cancelled"
    again = http.post(f"/api/jobs/{job_id}/cancel", headers=auth("alice"))
    assert again.status_code == 409 and again.json()["detail"] == f"job {job_id} is already cancelled"
    assert http.get(f"/api/jobs/{job_id}", headers=auth("alice")).json()["status"] == "cancelled"


def test_cancel_of_a_job_whose_monitor_never_started_ends_its_record(client: Client) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        # A built-in kind: its monitor is never placed here (no Ray), so the job stays queued.
        job_id = submit(http, "alice", "quiz_generation", text="Plants make sugar from light.", numQuestions=2)["jobId"]
        until_status(ws, job_id, "queued")
        ws.send_text(f'{{"op":"cancel","jobId":"{job_id}"}}')  # the WebSocket op goes to the same desk
        assert until_status(ws, job_id, "cancelled")[-1]["data"]["status"] == "cancelled"
    assert http.get(f"/api/jobs/{job_id}", headers=auth("alice")).json()["status"] == "cancelled"


def test_nobody_reaches_a_job_that_is_not_theirs(client: Client) -> None:
    http, _ = client
    job_id = submit(http, "alice", "quiz_generation", text="Plants make sugar from light.", numQuestions=2)["jobId"]
    for path in (f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/result"):
        reply = http.get(path, headers=auth("bob"))
        assert reply.status_code == 404 and reply.json() == {"detail": f"no job {job_id}"}
    refused = http.post(f"/api/jobs/{job_id}/cancel", headers=auth("bob"))
    assert refused.status_code == 404 and refused.json() == {"detail": f"no job {job_id}"}
    assert http.get("/api/jobs", headers=auth("bob")).json() == []
    with http.websocket_connect("/ws") as ws:  # nor over the WebSocket: an error frame, still connected
        hello(ws, "bob")
        ws.send_text(f'{{"op":"cancel","jobId":"{job_id}"}}')
        assert strict(ws.receive_text()) == {
            "op": "error",
            "code": "not_found",
            "message": f"no job {job_id}",
            "ref": "cancel",
        }
    # A service reads any job but cancels none; alice's job is untouched by all of it.
    service = http.get(f"/api/jobs/{job_id}", headers=auth("svc", "service"))
    assert service.status_code == 200 and service.json()["educatorId"] == "alice"
    forbidden = http.post(f"/api/jobs/{job_id}/cancel", headers=auth("svc", "service"))
    assert forbidden.status_code == 403 and "educator token" in forbidden.json()["detail"]
    assert http.get(f"/api/jobs/{job_id}", headers=auth("alice")).json()["status"] == "queued"


def test_an_educator_lists_only_their_own_jobs_newest_first_a_page_at_a_time(client: Client) -> None:
    http, _ = client
    mine = [submit(http, "alice", "quiz_generation", text="Plants.", numQuestions=1)["jobId"] for _ in range(3)]
    submit(http, "bob", "quiz_generation", text="Rocks.", numQuestions=1)
    listed = http.get("/api/jobs", headers=auth("alice")).json()
    assert [j["jobId"] for j in listed] == mine[::-1]
    first = http.get("/api/jobs?limit=2", headers=auth("alice"))
    assert [j["jobId"] for j in first.json()] == mine[:0:-1]
    cursor = first.headers["X-Next-Cursor"]
    assert first.headers["Link"] == f'</api/jobs?limit=2&cursor={cursor}>; rel="next"'
    rest = http.get(f"/api/jobs?limit=2&cursor={cursor}", headers=auth("alice"))
    assert [j["jobId"] for j in rest.json()] == mine[:1] and "X-Next-Cursor" not in rest.headers


def test_the_desk_refuses_publishing_without_a_service_token_and_broadcast_without_admin(client: Client) -> None:
    http, _ = client
    body = {"type": "notification", "data": {"title": "hi"}, "educatorIds": ["alice"]}
    educator = http.post("/api/publish", json=body, headers=auth("alice"))
    assert educator.status_code == 403 and educator.json() == {"detail": "publishing needs a service or admin token"}
    broadcast = http.post("/api/publish", json={**body, "broadcast": True}, headers=auth("svc", "service"))
    assert broadcast.status_code == 403 and broadcast.json() == {"detail": "broadcast needs an admin token"}
    nobody = http.post("/api/publish", json={**body, "educatorIds": None}, headers=auth("svc", "service"))
    assert nobody.status_code == 422 and "say who gets it" in nobody.json()["detail"][0]["msg"]
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        sent = http.post("/api/publish", json=body, headers=auth("svc", "service"))
        assert sent.status_code == 202 and sent.json() == {"delivered": 1}
        (env,) = strict(ws.receive_text())["messages"]
        assert env["type"] == "notification" and env["data"]["title"] == "hi" and env["data"]["level"] == "info"


def test_a_shard_that_does_not_answer_is_a_503_sentence(client: Client) -> None:
    http, cluster = client
    job_id = submit(http, "alice", "quiz_generation", text="Plants.", numQuestions=1)["jobId"]
    cluster.shard_for("alice").fail("job")
    reply = http.get(f"/api/jobs/{job_id}", headers=auth("alice"))
    assert reply.status_code == 503 and reply.json()["detail"].startswith("the hub's registry shard")
    assert http.get(f"/api/jobs/{job_id}", headers=auth("alice")).status_code == 200  # answered again


def test_job_states_cross_as_typed_records_and_reach_http_as_the_same_json(client: Client) -> None:
    """A shard's and the store's job-state replies are JobStates across the (pickled) actor hop
    (issue 14, item 3); GET /api/jobs/{jobId} and GET /api/jobs answer the same bytes whether the
    shard holds the job or only the store does (a restarted shard), as the wire dicts did."""
    http, cluster = client
    call = http.portal.call  # type: ignore[union-attr]
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        job_id = submit(http, "alice", steps=2)["jobId"]
        until_status(ws, job_id, "completed")
    held = call(cluster.shard_for("alice").job, job_id)
    stored = call(cluster.store.get, job_id)
    assert isinstance(held, JobState) and isinstance(stored, JobState)
    assert held == stored and held.status == "completed" and held.educator_id == "alice"
    (listed,) = call(cluster.shard_for("alice").jobs_of, "alice")
    (live,) = call(cluster.shard_for("alice").states, [job_id])
    (page,) = call(cluster.store.list_jobs_page, "alice", 10)
    assert listed == live == page == held
    one = http.get(f"/api/jobs/{job_id}", headers=auth("alice"))
    many = http.get("/api/jobs", headers=auth("alice"))
    assert one.json() == held.wire() and many.json() == [held.wire()]
    cluster.restart_shard(shard_of("alice", len(cluster.shards)))  # only the store holds it now
    assert call(cluster.shard_for("alice").job, job_id) is None
    assert http.get(f"/api/jobs/{job_id}", headers=auth("alice")).content == one.content
    assert http.get("/api/jobs", headers=auth("alice")).content == many.content
