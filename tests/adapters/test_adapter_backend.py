"""The back-end helpers (hub/backend.py `Backend`, over the same JobDesk as the HTTP API) against the
in-process cluster: what a back end does reaches the educator's connections as the contract's
messages, recorded in the job store first."""

from __future__ import annotations

from functools import partial

import pytest
from starlette.testclient import TestClient

from hub.backend import Backend
from hub.core.errors import NotFound
from hub.ingress.desk import JobDesk
from hub.metrics import IngressMetrics
from tests.adapters.fakes import FakeCluster, auth, envelopes, hello

Client = tuple[TestClient, FakeCluster]


def backend_of(cluster: FakeCluster) -> Backend:
    return Backend(JobDesk(cluster, IngressMetrics()))


def test_a_back_end_drives_its_own_job_record_and_the_educator_sees_each_step(client: Client) -> None:
    http, cluster = client
    backend = backend_of(cluster)
    call = http.portal.call  # type: ignore[union-attr]
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        job = call(partial(backend.create_job_record, "alice", "question_replace", quiz_id="q1", question_id="q1-3"))
        (queued,) = envelopes(ws, 1)
        assert queued["type"] == "question_replace"
        assert queued["data"] == {
            "jobId": job["jobId"],
            "status": "queued",
            "progress": 0,
            "message": "Waiting to start",
            "quizId": "q1",
            "questionId": "q1-3",
        }
        assert cluster.store.target.get(job["jobId"]).status == "queued"  # recorded
        call(
            partial(
                backend.update_job_with_notification,
                job["jobId"],
                status="processing",
                progress=40,
                message="Rewriting",
            )
        )
        processing, note = envelopes(ws, 2)
        assert (processing["type"], processing["data"]["status"], processing["data"]["progress"]) == (
            "question_replace",
            "processing",
            40,
        )
        assert note["type"] == "notification" and note["data"]["title"] == "Job processing"
        assert note["data"]["body"] == "Rewriting" and note["data"]["level"] == "info"
        assert cluster.store.target.get(job["jobId"]).progress == 40
        # the shard is asked to hold the educator's jobs, not to send them all back (load_jobs, not jobs_of)
        shard_calls = [method for what, method, _ in cluster.log if what == "registry shard"]
        assert "load_jobs" in shard_calls and "jobs_of" not in shard_calls
        call(
            partial(
                backend.update_job_with_notification, job["jobId"], status="completed", progress=100, message="Done"
            )
        )
        completed, done = envelopes(ws, 2)
        assert completed["data"]["status"] == "completed" and done["data"]["level"] == "success"
    state = http.get(f"/api/jobs/{job['jobId']}", headers=auth("alice")).json()
    assert state["status"] == "completed" and state["message"] == "Done"


def test_a_back_end_publishes_analytics_and_notifications_to_the_educators_it_names(client: Client) -> None:
    http, cluster = client
    backend = backend_of(cluster)
    call = http.portal.call  # type: ignore[union-attr]
    with http.websocket_connect("/ws") as alice, http.websocket_connect("/ws") as bob:
        hello(alice, "alice")
        hello(bob, "bob")
        reached = call(
            partial(backend.publish, "analytics_update", {"updates": {"quizzes": 3}}, educator_ids=["alice", "bob"])
        )
        assert reached == 2
        for ws, who in ((alice, "alice"), (bob, "bob")):
            (env,) = envelopes(ws, 1)
            assert env["type"] == "analytics_update"
            assert env["data"] == {"educatorId": who, "updates": {"quizzes": 3}}  # each names its educator
        assert call(partial(backend.notify, ["bob"], "Heads up", "Quiz ready", "success")) == 1
        (env,) = envelopes(bob, 1)
        assert env["data"]["title"] == "Heads up" and env["data"]["level"] == "success"
        assert env["data"]["broadcast"] is False and env["data"]["id"].startswith("n-")
        call(partial(backend.publish, "analytics_update", {"updates": {"quizzes": 4}}, educator_ids=["alice"]))
        (env,) = envelopes(alice, 1)  # the next thing alice gets: the notification was bob's alone
        assert env["type"] == "analytics_update" and env["data"]["updates"] == {"quizzes": 4}


def test_updating_a_job_nobody_has_is_not_found_and_sends_nothing(client: Client) -> None:
    http, cluster = client
    backend = backend_of(cluster)
    call = http.portal.call  # type: ignore[union-attr]
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        with pytest.raises(NotFound, match="no job job-nowhere"):
            call(partial(backend.update_job_with_notification, "job-nowhere", status="processing"))
        call(partial(backend.notify, ["alice"], "after"))
        (note,) = envelopes(ws, 1)  # nothing came before the notification sent after
        assert note["type"] == "notification" and note["data"]["title"] == "after"
