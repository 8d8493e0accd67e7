"""Why a job waits (PROTOCOL.md section 9): the sentence from what is asked and the cluster's nodes,
the `waiting` a job state and its messages carry, and when it goes."""

from __future__ import annotations

import pytest

from hub.core.jobstate import JobState, Waiting, message_for
from hub.core.waiting import NodeResources, PendingTasks, describe, next_waiting, tasks_reason, waiting_reason


def node(total: dict[str, float], available: dict[str, float] | None = None) -> NodeResources:
    return NodeResources(total, total if available is None else available)


CPU_NODES = [node({"CPU": 2.0, "memory": 8 * 2**30}) for _ in range(3)]
BUSY_GPU_NODES = [node({"CPU": 2.0, "GPU": 1.0}, {"CPU": 2.0, "GPU": 0.0}) for _ in range(3)]


def test_a_gpu_no_node_has() -> None:
    assert waiting_reason({"GPU": 1}, CPU_NODES) == "waiting for 1 GPU: no node of the cluster's 3 has one"


def test_a_gpu_none_free() -> None:
    assert waiting_reason({"GPU": 1}, BUSY_GPU_NODES) == "waiting for 1 GPU: none free on the cluster's 3 nodes"


def test_a_custom_resource_no_node_has_on_one_node() -> None:
    reason = waiting_reason({"some_custom_resource": 1}, [node({"CPU": 2.0})])
    assert reason == "waiting for 1 some_custom_resource: the cluster's one node has none"


def test_several_resources_name_each() -> None:
    reason = waiting_reason({"GPU": 1, "CPU": 4, "some_custom_resource": 2}, BUSY_GPU_NODES)
    assert reason == (
        "waiting for 1 GPU, 4 CPUs and 2 some_custom_resource: no node of the cluster's 3 has 4 CPUs and "
        "2 some_custom_resource; 1 GPU not free on any of the cluster's 3 nodes"
    )


def test_each_free_somewhere_but_not_together() -> None:
    nodes = [node({"CPU": 2.0, "GPU": 1.0}, {"CPU": 0.0, "GPU": 1.0}), node({"CPU": 2.0}, {"CPU": 2.0})]
    reason = waiting_reason({"CPU": 1, "GPU": 1}, nodes)
    assert reason == "waiting for 1 CPU and 1 GPU: no one of the cluster's 2 nodes has all of it free at once"


def test_more_than_a_node_ever_has() -> None:
    assert waiting_reason({"GPU": 2}, BUSY_GPU_NODES) == "waiting for 2 GPUs: no node of the cluster's 3 has 2 GPUs"


def test_placeable_now_or_nothing_asked_is_not_waiting() -> None:
    assert waiting_reason({"CPU": 1}, CPU_NODES) is None
    assert waiting_reason({}, CPU_NODES) is None
    assert waiting_reason({"CPU": 0}, []) is None


def test_no_nodes() -> None:
    assert waiting_reason({"CPU": 1}, []) == "waiting for 1 CPU: the cluster has no nodes"


def test_tasks_are_counted() -> None:
    assert waiting_reason({"CPU": 1, "GPU": 1}, CPU_NODES, tasks=3) == (
        "3 tasks waiting for 1 CPU and 1 GPU each: no node of the cluster's 3 has 1 GPU"
    )
    busy = [node({"CPU": 2.0}, {"CPU": 0.0})]
    assert waiting_reason({"CPU": 1}, busy, tasks=1) == "1 task waiting for 1 CPU: none free on the cluster's one node"


@pytest.mark.parametrize(
    ("resource", "amount", "words"),
    [
        ("CPU", 1, "1 CPU"),
        ("CPU", 0.5, "0.5 CPUs"),
        ("GPU", 2, "2 GPUs"),
        ("memory", 3 * 2**30, "3.0 GiB of memory"),
        ("object_store_memory", 512 * 2**20, "512.0 MiB of object store memory"),
        ("accelerator", 1, "1 accelerator"),
    ],
)
def test_describe(resource: str, amount: float, words: str) -> None:
    assert describe(resource, amount) == words


def test_tasks_reason_takes_the_largest_blocked_group_and_the_earliest_since() -> None:
    pending = [
        PendingTasks({"CPU": 1}, 5, 10.0),  # placeable now: not waiting for resources
        PendingTasks({"CPU": 1, "GPU": 1}, 2, 30.0),
        PendingTasks({"CPU": 1, "x": 1}, 1, 20.0),
    ]
    found = tasks_reason(pending, CPU_NODES)
    assert found is not None
    reason, since = found
    assert reason.startswith("2 tasks waiting for 1 CPU and 1 GPU each: no node of the cluster's 3 has 1 GPU")
    assert reason.endswith("(and 1 more task waiting for other resources)")
    assert since == 20.0
    assert tasks_reason([PendingTasks({"CPU": 1}, 5, 10.0)], CPU_NODES) is None
    assert tasks_reason([], CPU_NODES) is None


def test_next_waiting_keeps_since_while_it_lasts() -> None:
    first = next_waiting(None, "waiting for 1 GPU: no node of the cluster's 3 has one", 100.0)
    assert first == Waiting(reason="waiting for 1 GPU: no node of the cluster's 3 has one", since=100.0)
    later = next_waiting(first, "waiting for 1 GPU: none free on the cluster's 4 nodes", 200.0)
    assert later is not None and later.since == 100.0 and later.reason.endswith("4 nodes")
    assert next_waiting(later, None, 300.0) is None


def state(**changes: object) -> JobState:
    return JobState.model_validate(
        {"jobId": "j", "kind": "quiz_generation", "educatorId": "e", "createdAt": 1.0, "updatedAt": 1.0, **changes}
    )


WAITING = Waiting(reason="waiting for 1 GPU: none free on the cluster's 3 nodes", since=5.0)


def test_waiting_on_the_wire_and_in_messages() -> None:
    queued = state().waiting_as(6.0, WAITING)
    assert queued.wire()["waiting"] == {"reason": WAITING.reason, "since": 5.0}
    assert queued.updated_at == 6.0 and queued.status == "queued"
    assert message_for(queued)[1]["waiting"] == {"reason": WAITING.reason, "since": 5.0}
    assert JobState.model_validate(queued.wire()) == queued
    assert "waiting" not in state().wire() and "waiting" not in message_for(state())[1]


def test_waiting_goes_when_the_job_starts_or_ends() -> None:
    queued = state().waiting_as(6.0, WAITING)
    assert queued.advance(7.0, status="processing").waiting is None
    assert queued.advance(7.0, status="cancelled").waiting is None
    processing = state(status="processing").waiting_as(6.0, WAITING)
    assert processing.advance(7.0, progress=50.0).waiting == WAITING  # a tick keeps it
    assert processing.advance(7.0, status="completed").waiting is None
    done = state(status="failed")
    assert done.waiting_as(8.0, WAITING) is done  # an ended job never waits


def test_waiting_needs_a_reason() -> None:
    with pytest.raises(ValueError):
        Waiting(reason="", since=1.0)


def test_one_node_lacking_several() -> None:
    nodes = [node({"CPU": 2.0})]
    assert waiting_reason({"CPU": 4, "GPU": 1, "memory": 2**40}, nodes) == (
        "waiting for 4 CPUs, 1 GPU and 1024.0 GiB of memory: the cluster's one node has fewer than 4 CPUs, "
        "no GPU and less than 1024.0 GiB of memory"
    )


def test_the_python_client_keeps_waiting_while_it_lasts() -> None:
    from hub.client import HubClient
    from tests.unit.test_server_frames import batch, welcome

    client = HubClient("http://127.0.0.1:1", "a-token")
    client._receive(welcome())
    why = {"reason": WAITING.reason, "since": 5.0}
    client._receive(batch(8, status="queued", progress=0, waiting=why))
    assert client.jobs["j-1"]["waiting"] == why
    client._receive(batch(9, status="processing", progress=1))
    assert "waiting" not in client.jobs["j-1"] and client.jobs["j-1"]["status"] == "processing"


def test_the_notebook_status_line_says_why_a_job_waits() -> None:
    from hub.notebook import status_line

    why = {"reason": "waiting for 1 GPU: none free on the cluster's 3 nodes", "since": 5.0}
    line = status_line({"status": "queued", "message": "Waiting to start", "waiting": why}, width=200)
    assert line == "queued: waiting for 1 GPU: none free on the cluster's 3 nodes"
    assert status_line({"status": "processing", "message": "Step 2", "waiting": why}).startswith("processing: waiting")
    assert status_line({"status": "cancelled", "message": "Cancelled", "waiting": why}) == "cancelled: Cancelled"
