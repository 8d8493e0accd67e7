"""The job desk and the warm monitor pool's job ids (Cluster.new_job_id / release_job_id, actors.pool):
a job is recorded under the id the cluster gives for its kind's resources, and an id whose job was
not recorded (the store refused it, or an Idempotency-Key already names another job) is given back,
so its warm monitor serves the next job instead of waiting unused."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.adapters.fakes import FakeCluster, auth, race_past_the_key_lookup, strict

Client = tuple[TestClient, FakeCluster]


def test_a_job_is_recorded_under_the_id_the_cluster_gave_and_nothing_is_given_back(client: Client) -> None:
    http, cluster = client
    reply = http.post("/api/jobs", json={"kind": "adapter_steps", "params": {}}, headers=auth("alice"))
    assert reply.status_code == 202
    job_id = strict(reply.content)["jobId"]
    assert [i for i, _ in cluster.issued] == [job_id]
    assert cluster.issued[0][1] is None  # the kind asks for no resources: a warm monitor may take it
    assert cluster.released == []


def test_an_id_whose_job_the_store_refused_is_given_back(client: Client) -> None:
    http, cluster = client
    cluster.store.fail("save")
    reply = http.post("/api/jobs", json={"kind": "adapter_steps", "params": {}}, headers=auth("alice"))
    assert reply.status_code == 503
    assert cluster.released == [i for i, _ in cluster.issued] and len(cluster.released) == 1


def test_the_id_of_a_racing_submission_that_lost_its_idempotency_key_is_given_back(client: Client) -> None:
    """Two submissions with one key both pass the key lookup (save_keyed held back, as in
    test_adapter_idempotency): the one whose record the store refuses gives its id back."""
    http, cluster = client
    headers = auth("alice") | {"Idempotency-Key": "warm-race"}
    body = {"kind": "adapter_steps", "params": {"steps": 1}}
    answers = race_past_the_key_lookup(cluster, lambda: http.post("/api/jobs", json=body, headers=headers))
    assert sorted(a.status_code for a in answers) == [200, 202]
    recorded = answers[0].json()["jobId"]
    issued = [i for i, _ in cluster.issued]
    assert len(issued) == 2 and recorded in issued
    assert cluster.released == [i for i in issued if i != recorded]
