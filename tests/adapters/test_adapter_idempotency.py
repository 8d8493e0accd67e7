"""`Idempotency-Key` on POST /api/jobs (PROTOCOL.md section 9, first bullet) through the real app, job
desk and job store file over in-process shards and monitors: a repeat answers 200 with the first job and
starts nothing, another body is 409, a malformed key is 422 with a sentence, keys are per educator, a
submission whose monitor never started frees its key, and repeats are counted at /metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.adapters.fakes import FakeCluster, auth, make_client, race_past_the_key_lookup, strict

Client = tuple[TestClient, FakeCluster]


def post(http: TestClient, who: str, key: str | None, **params: Any) -> Any:
    headers = auth(who) | ({} if key is None else {"Idempotency-Key": key})
    return http.post("/api/jobs", json={"kind": "adapter_steps", "params": params}, headers=headers)


def test_a_repeat_gets_the_first_job_with_200_and_starts_nothing(client: Client) -> None:
    http, cluster = client
    first = post(http, "alice", "k-1", hold=True)
    assert first.status_code == 202 and strict(first.content)["status"] == "queued"
    job_id = strict(first.content)["jobId"]
    again = post(http, "alice", "k-1", hold=True)
    assert again.status_code == 200, again.text
    body = strict(again.content)
    assert set(body) == {"jobId", "status"} and body["jobId"] == job_id
    assert body["status"] == http.get(f"/api/jobs/{job_id}", headers=auth("alice")).json()["status"]
    assert len(cluster.spawned) == 1
    jobs = http.get("/api/jobs", headers=auth("alice")).json()
    assert [j["jobId"] for j in jobs] == [job_id]
    http.post(f"/api/jobs/{job_id}/cancel", headers=auth("alice"))


def test_a_repeat_answers_the_status_as_it_is_now(client: Client) -> None:
    http, _ = client
    job_id = post(http, "alice", "k-now", steps=1).json()["jobId"]
    for _ in range(200):
        if http.get(f"/api/jobs/{job_id}", headers=auth("alice")).json()["status"] == "completed":
            break
        time.sleep(0.05)
    again = post(http, "alice", "k-now", steps=1)
    assert again.status_code == 200 and again.json() == {"jobId": job_id, "status": "completed"}


def test_the_same_body_in_another_key_order_is_a_repeat(client: Client) -> None:
    http, cluster = client
    headers = auth("alice") | {"Idempotency-Key": "order"}
    one = http.post("/api/jobs", content=b'{"kind":"adapter_steps","params":{"hold":true,"steps":2}}', headers=headers)
    two = http.post(
        "/api/jobs", content=b'{ "params": {"steps": 2, "hold": true}, "kind": "adapter_steps" }', headers=headers
    )
    assert (one.status_code, two.status_code) == (202, 200)
    assert one.json()["jobId"] == two.json()["jobId"] and len(cluster.spawned) == 1
    http.post(f"/api/jobs/{one.json()['jobId']}/cancel", headers=auth("alice"))


def test_another_body_with_the_same_key_is_409_with_a_sentence(client: Client) -> None:
    http, cluster = client
    job_id = post(http, "alice", "k-2", steps=1).json()["jobId"]
    clash = post(http, "alice", "k-2", steps=2)
    assert clash.status_code == 409
    detail = strict(clash.content)["detail"]
    assert isinstance(detail, str) and "Idempotency-Key" in detail and "different submission" in detail
    assert len(cluster.spawned) == 1
    assert [j["jobId"] for j in http.get("/api/jobs", headers=auth("alice")).json()] == [job_id]


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("", "empty"),
        ("x" * 129, "129 characters long"),
        ("caf\u00e9", "not printable ASCII"),
        ("a\tb", "not printable ASCII"),
    ],
)
def test_a_malformed_key_is_422_with_a_sentence_and_starts_nothing(client: Client, key: str, words: str) -> None:
    http, cluster = client
    headers = [(k.encode(), v.encode()) for k, v in auth("alice").items()]
    headers.append((b"idempotency-key", key.encode("utf-8")))
    reply = http.post("/api/jobs", json={"kind": "adapter_steps", "params": {}}, headers=headers)
    assert reply.status_code == 422, reply.text
    (error,) = strict(reply.content)["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"] and words in error["msg"]
    assert cluster.spawned == []


def test_two_key_headers_are_422(client: Client) -> None:
    http, cluster = client
    headers = [(k.encode(), v.encode()) for k, v in auth("alice").items()]
    headers += [(b"idempotency-key", b"a"), (b"idempotency-key", b"b")]
    reply = http.post("/api/jobs", json={"kind": "adapter_steps", "params": {}}, headers=headers)
    assert reply.status_code == 422 and "send one Idempotency-Key header" in reply.text
    assert cluster.spawned == []


def test_the_same_key_from_another_educator_is_their_own(client: Client) -> None:
    http, cluster = client
    mine = post(http, "alice", "shared", steps=1)
    theirs = post(http, "bob", "shared", steps=1)
    assert (mine.status_code, theirs.status_code) == (202, 202)
    assert mine.json()["jobId"] != theirs.json()["jobId"] and len(cluster.spawned) == 2
    clash = post(http, "bob", "shared", steps=5)  # bob's key holds bob's body only
    assert clash.status_code == 409
    assert post(http, "alice", "shared", steps=1).json()["jobId"] == mine.json()["jobId"]


def test_a_job_whose_monitor_never_started_frees_its_key(client: Client) -> None:
    http, cluster = client
    cluster.spawn_error = RuntimeError("Ray could not create the actor")
    failed = post(http, "alice", "retry-me", steps=1)
    assert failed.status_code == 503
    cluster.spawn_error = None
    retried = post(http, "alice", "retry-me", steps=1)
    assert retried.status_code == 202, retried.text
    assert post(http, "alice", "retry-me", steps=1).json()["jobId"] == retried.json()["jobId"]


def test_repeats_take_no_rate_limit_token_and_are_counted(tmp_path: Path) -> None:
    http, cluster = make_client(tmp_path, submit_rate=0.001, submit_burst=1)
    with http:
        assert post(http, "alice", "once", steps=1).status_code == 202
        for _ in range(5):
            assert post(http, "alice", "once", steps=1).status_code == 200
        assert post(http, "alice", "once", steps=2).status_code == 409
        assert post(http, "alice", "other", steps=1).status_code == 429  # a new job still pays
        metrics = http.get("/metrics").text
    assert "hub_idempotent_repeats_total 5.0" in metrics
    assert "hub_idempotency_conflicts_total 1.0" in metrics
    assert len(cluster.spawned) == 1


def test_without_a_key_every_submission_is_a_new_job(client: Client) -> None:
    http, cluster = client
    ids = {post(http, "alice", None, steps=1).json()["jobId"] for _ in range(3)}
    assert len(ids) == 3 and len(cluster.spawned) == 3


def test_two_racing_submissions_with_one_key_start_one_job(client: Client) -> None:
    """Both pass the key lookup before either records its job (the store's save_keyed held back): the
    store's transaction lets one record it; the other is answered 200 with that job, nothing started."""
    http, cluster = client
    answers = race_past_the_key_lookup(cluster, lambda: post(http, "alice", "race", steps=1))
    assert sorted(a.status_code for a in answers) == [200, 202]
    assert len({a.json()["jobId"] for a in answers}) == 1
    assert len(cluster.spawned) == 1
    assert len(cluster.store.calls("save_keyed")) == 2


def test_a_repeat_of_a_key_this_ingress_recorded_asks_the_shard_not_the_store(client: Client) -> None:
    """The ingress remembers the keys it recorded (JobDesk.memo): a repeat's job and digest come from
    there and its status from the educator's shard, so the store is asked once, at the first lookup."""
    http, cluster = client
    first = post(http, "alice", "memo", hold=True)
    assert first.status_code == 202
    job_id = first.json()["jobId"]
    for _ in range(3):
        again = post(http, "alice", "memo", hold=True)
        assert again.status_code == 200 and again.json()["jobId"] == job_id
        assert again.json()["status"] in ("queued", "processing")
    assert post(http, "alice", "memo", steps=9).status_code == 409  # another body: from the memo too
    assert len(cluster.store.calls("keyed_job")) == 1
    assert len(cluster.spawned) == 1
    http.post(f"/api/jobs/{job_id}/cancel", headers=auth("alice"))
    for _ in range(200):  # a job that ended: its final status, still without the store
        if post(http, "alice", "memo", hold=True).json()["status"] == "cancelled":
            break
        time.sleep(0.05)
    assert post(http, "alice", "memo", hold=True).json() == {"jobId": job_id, "status": "cancelled"}
    assert len(cluster.store.calls("keyed_job")) == 1


def test_a_key_this_ingress_did_not_record_is_read_from_the_store(tmp_path: Path) -> None:
    """HUB_IDEMPOTENCY_MEMO=0 (as for a key another ingress recorded): every repeat asks the store,
    with the same answers."""
    http, cluster = make_client(tmp_path, idempotency_memo=0)
    with http:
        job_id = post(http, "alice", "no-memo", steps=1).json()["jobId"]
        replies = [post(http, "alice", "no-memo", steps=1) for _ in range(3)]
        assert all(r.status_code == 200 and r.json()["jobId"] == job_id for r in replies)
        assert post(http, "alice", "no-memo", steps=2).status_code == 409
    assert len(cluster.store.calls("keyed_job")) == 5
    assert len(cluster.spawned) == 1
