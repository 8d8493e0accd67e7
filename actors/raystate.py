"""What Ray itself says about a job's monitor and tasks that wait to be placed (PROTOCOL.md section 9,
"Why a job waits"), read from Ray's control store (the GCS), which works without Ray's dashboard
(the hub runs Ray with include_dashboard=False, so `ray.util.state`, which asks the dashboard, does
not).

Private Ray APIs, Ray 2.60 (tests/integration/test_waiting.py::test_ray_state_apis fails loudly when
Ray changes them); each is one GCS request, blocking, so callers run them off their event loop:

- the GCS actor table: `ray._private.state.state._connect_and_get_accessor().get_actor_info(ActorID)`,
  an `ActorTableData` (gcs.proto) with `state` (PENDING_CREATION while Ray cannot place the actor)
  and `required_resources`;
- the GCS resource state the autoscaler reads (autoscaler v2 SDK,
  `ray.autoscaler.v2.sdk.get_cluster_resource_state(gcs_client)`): each node's `status`,
  `total_resources` and `available_resources`, and the cluster's `pending_resource_requests`
  (about 1 ms, small);
- the GCS task events: `ray._private.state.state._get_all_task_events()`, `TaskEvents` (gcs.proto)
  with `task_info.required_resources` and `state_updates.state_ts_ns` by `TaskStatus` (common.proto).
  It returns every task the GCS keeps (at most Ray's task_events_max_num_task_in_gcs), so
  `pending_tasks` asks it only when the resource state shows requests Ray cannot place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

from hub.core.waiting import NodeResources, PendingTasks

# TaskStatus (common.proto): a task whose newest state is PENDING_NODE_ASSIGNMENT waits for a node
# with the resources it asks for (states past it: the task was placed).
PENDING_NODE_ASSIGNMENT = 2
# NodeStatus (autoscaler.proto): the nodes that count as the cluster's (DEAD and DRAINING do not).
LIVE_NODE_STATUSES = frozenset({1, 3})  # RUNNING, IDLE


def _accessor() -> Any:
    import ray

    return ray._private.state.state._connect_and_get_accessor()


def cluster_nodes() -> tuple[list[NodeResources], bool]:
    """The cluster's live nodes (NodeResources: total and available resources) and whether Ray has
    resource requests it cannot place now (tasks or actors pending), from the GCS resource state."""
    import ray
    from ray.autoscaler.v2.sdk import get_cluster_resource_state

    worker: Any = ray._private.worker.global_worker
    state = get_cluster_resource_state(worker.gcs_client)
    nodes = [
        NodeResources(dict(n.total_resources), dict(n.available_resources))
        for n in state.node_states
        if n.status in LIVE_NODE_STATUSES
    ]
    return nodes, len(state.pending_resource_requests) > 0


def pending_actor(name: str, namespace: str) -> dict[str, float] | Literal["placed", "absent"]:
    """The resources the named actor asks for while Ray has not placed it (its GCS actor-table state is
    PENDING_CREATION); "absent" when Ray has no actor of that name, "placed" otherwise (alive,
    restarting, dead)."""
    import ray
    from ray.core.generated import gcs_pb2 as _gcs_pb2

    gcs_pb2: Any = _gcs_pb2
    try:
        handle = ray.get_actor(name, namespace=namespace)
    except ValueError:
        return "absent"
    info = _accessor().get_actor_info(handle._actor_id)
    if info is None:
        return "absent"
    data = gcs_pb2.ActorTableData.FromString(info)
    if data.state != gcs_pb2.ActorTableData.PENDING_CREATION:
        return "placed"
    return dict(data.required_resources)


def task_id_of(ref: Any) -> bytes | None:
    """The Ray task id (bytes) behind a tracked ref: an ObjectRef's task, or a streaming generator's
    (ObjectRefGenerator) task; None for anything else."""
    import ray

    if isinstance(ref, ray.ObjectRef):
        return bytes(ref.task_id().binary())
    if isinstance(ref, ray.ObjectRefGenerator):
        return bytes(ref.completed().task_id().binary())
    return None


def pending_tasks(task_ids: Iterable[bytes]) -> list[PendingTasks]:
    """Of the tasks `task_ids`, those Ray has not placed on a node (their newest attempt's newest state
    is PENDING_NODE_ASSIGNMENT), grouped by the resources they ask, each group with since when its
    first task has waited (seconds since the epoch), from the GCS task events. A task the GCS has no
    events for yet (they arrive about a second after it is submitted) is not counted."""
    wanted = set(task_ids)
    if not wanted:
        return []
    # per task: its newest attempt, the resources it asks and the states it reached (an attempt's
    # events may come in more than one entry: merged)
    newest: dict[bytes, tuple[int, dict[str, float], dict[int, int]]] = {}
    for event in _all_task_events():
        if event.task_id not in wanted:
            continue
        attempt, asks, states = newest.get(event.task_id, (-1, {}, {}))
        if event.attempt_number > attempt:
            attempt, asks, states = event.attempt_number, {}, {}
        elif event.attempt_number < attempt:
            continue
        if event.HasField("task_info"):
            asks = dict(event.task_info.required_resources)
        states = {**states, **dict(event.state_updates.state_ts_ns)}
        newest[event.task_id] = (attempt, asks, states)
    counts: Counter[tuple[tuple[str, float], ...]] = Counter()
    since: dict[tuple[tuple[str, float], ...], float] = {}
    for _, task_asks, states in newest.values():
        if not states or max(states) != PENDING_NODE_ASSIGNMENT:
            continue
        shape = tuple(sorted(task_asks.items()))
        counts[shape] += 1
        began = states[PENDING_NODE_ASSIGNMENT] / 1e9
        since[shape] = min(since.get(shape, began), began)
    return [PendingTasks(dict(shape), count, since[shape]) for shape, count in counts.items()]


def _all_task_events() -> list[Any]:
    import ray

    return list(ray._private.state.state._get_all_task_events())
