"""Why a job waits (PROTOCOL.md section 9): the resources its monitor or tasks ask Ray for, against
the cluster's nodes, as a sentence a person understands, and the `waiting` a job carries.

Pure: the Ray edge (actors.raystate) reads what is asked and what the nodes have from Ray's own
state and passes them in; the time is passed in too.

    waiting_reason({"GPU": 1}, nodes)  -> "waiting for 1 GPU: none free on the cluster's 3 nodes"
    waiting_reason({"GPU": 1}, nodes)  -> "waiting for 1 GPU: no node of the cluster's 3 has one"
    waiting_reason({"CPU": 1}, nodes)  -> None when some node has it free now (not waiting for resources)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from hub.core.jobstate import Waiting

# Resources Ray names itself, as words: (one, many). Others (custom resources) keep their name.
_NAMED: dict[str, tuple[str, str]] = {"CPU": ("CPU", "CPUs"), "GPU": ("GPU", "GPUs")}
_BYTES: dict[str, str] = {"memory": "memory", "object_store_memory": "object store memory"}


class NodeResources(NamedTuple):
    """One live node of the cluster as Ray reports it: its `total` and `available` resources (Ray's
    names: "CPU", "GPU", "memory" in bytes, custom ones), each a float."""

    total: Mapping[str, float]
    available: Mapping[str, float]


class PendingTasks(NamedTuple):
    """A job's Ray tasks that Ray has not placed on a node: the resources each `asks` (Ray's names),
    how many (`tasks`) ask for exactly that, and `since` (seconds since the epoch) the first of them
    has waited for a node."""

    asks: Mapping[str, float]
    tasks: int
    since: float


def _amount(value: float) -> str:
    return f"{value:g}"


def _size(value: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} bytes"


def describe(resource: str, amount: float) -> str:
    """`amount` of `resource` in words: "1 GPU", "4 CPUs", "2.0 GiB of memory", "1 some_custom_resource"."""
    if resource in _NAMED:
        one, many = _NAMED[resource]
        return f"{_amount(amount)} {one if amount == 1 else many}"
    if resource in _BYTES:
        return f"{_size(amount)} of {_BYTES[resource]}"
    return f"{_amount(amount)} {resource}"


def _less(resource: str, amount: float) -> str:
    """What a node lacking `amount` of `resource` has: "no GPU", "no some_custom_resource", "fewer than 4 CPUs"."""
    if amount == 1 and resource not in _BYTES:
        return f"no {_NAMED[resource][0] if resource in _NAMED else resource}"
    return (
        f"less than {describe(resource, amount)}" if resource in _BYTES else f"fewer than {describe(resource, amount)}"
    )


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def waiting_reason(asks: Mapping[str, float], nodes: Sequence[NodeResources], tasks: int = 0) -> str | None:
    """Why something asking Ray for `asks` (resource -> amount, Ray's names; amounts <= 0 ignored)
    cannot be placed on the cluster's live `nodes`, as a sentence; None when some node has all of
    it free now (it is not waiting for resources) or it asks for nothing.

    `tasks`: 0 for the job's monitor; n >= 1 for n of the job's tasks that each ask for `asks` (the
    sentence then says so). The sentence names each resource asked, then, per resource, whether
    no node has it at all ("no node of the cluster's 3 has one") or none has it free ("none free on
    the cluster's 3 nodes"); when each is free somewhere but no one node has all of it free at once,
    it says that."""
    asked = {name: float(amount) for name, amount in asks.items() if amount > 0}
    if not asked:
        return None
    if any(all(node.available.get(r, 0.0) >= a for r, a in asked.items()) for node in nodes):
        return None
    what = _join([describe(r, a) for r, a in asked.items()])
    head = f"waiting for {what}"
    if tasks == 1:
        head = f"1 task waiting for {what}"
    elif tasks > 1:
        head = f"{tasks} tasks waiting for {what} each"
    n = len(nodes)
    if n == 0:
        return f"{head}: the cluster has no nodes"
    cluster = "the cluster's one node" if n == 1 else f"the cluster's {n} nodes"
    missing = [r for r, a in asked.items() if not any(node.total.get(r, 0.0) >= a for node in nodes)]
    busy = [
        r for r, a in asked.items() if r not in missing and not any(node.available.get(r, 0.0) >= a for node in nodes)
    ]
    clauses = []
    if missing:
        single = len(asked) == 1 and asked[missing[0]] == 1
        if n == 1:
            clauses.append(
                "the cluster's one node has none"
                if single
                else f"the cluster's one node has {_join([_less(r, asked[r]) for r in missing])}"
            )
        else:
            clauses.append(
                f"no node of the cluster's {n} has "
                + ("one" if single else _join([describe(r, asked[r]) for r in missing]))
            )
    if busy:
        if len(asked) == 1:
            clauses.append(f"none free on {cluster}")
        else:
            clauses.append(f"{_join([describe(r, asked[r]) for r in busy])} not free on any of {cluster}")
    if not clauses:
        clauses.append(f"no one of {cluster} has all of it free at once")
    return f"{head}: {'; '.join(clauses)}"


def tasks_reason(pending: Sequence[PendingTasks], nodes: Sequence[NodeResources]) -> tuple[str, float] | None:
    """Why a job's tasks wait, from its `pending` tasks (grouped by what they ask) and the cluster's
    live `nodes`: the sentence of the largest group that cannot be placed for lack of resources (with
    how many more wait for other resources), and since when the first of those waits; None when
    none of them waits for resources."""
    waiting = [(group, waiting_reason(group.asks, nodes, group.tasks)) for group in pending]
    blocked = [(group, reason) for group, reason in waiting if reason is not None]
    if not blocked:
        return None
    blocked.sort(key=lambda item: -item[0].tasks)
    group, reason = blocked[0]
    others = sum(g.tasks for g, _ in blocked[1:])
    if others:
        reason = f"{reason} (and {others} more {'task' if others == 1 else 'tasks'} waiting for other resources)"
    return reason, min(g.since for g, _ in blocked)


def next_waiting(current: Waiting | None, reason: str | None, since: float) -> Waiting | None:
    """The `waiting` a job carries after a check that found `reason` (None: it no longer waits for
    resources): a wait that goes on keeps the `since` it began at (its reason may change, e.g. from
    "no node has one" to "none free" once a node with it joins); a new wait begins at `since`."""
    if reason is None:
        return None
    return Waiting(reason=reason, since=current.since if current is not None else since)
