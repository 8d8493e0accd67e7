"""A job kind's `resources` are checked when the kind is made (jobs.kinds.JobKind), so a notebook's
`register_kind` is refused with a sentence instead of every submission failing later."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.kinds import AnyParams, JobKind, resources_problem


def runner(ctx: Any, params: Any) -> None:
    return None


@pytest.mark.parametrize(
    "resources",
    [None, {}, {"num_cpus": 1}, {"num_gpus": 0.5, "memory": 2**30}, {"my_resource": 2, "num_cpus": 0}],
)
def test_good_resources_make_a_kind(resources: dict[str, float] | None) -> None:
    assert JobKind("k", AnyParams, runner, resources=resources).resources == resources


@pytest.mark.parametrize(
    ("resources", "says"),
    [
        ({"resources": {"my_resource": 1}}, "resources['resources'] is {'my_resource': 1}: an amount must be a number"),
        ({"num_gpus": -1}, "resources['num_gpus'] is -1"),
        ({"num_gpus": "1"}, "resources['num_gpus'] is '1'"),
        ({"num_gpus": True}, "resources['num_gpus'] is True"),
        ({"num_gpus": float("nan")}, "resources['num_gpus'] is nan"),
        ({"num_gpus": float("inf")}, "resources['num_gpus'] is inf"),
        ({"": 1}, "named by non-empty strings"),
        ({1: 1}, "named by non-empty strings"),
        ([("num_gpus", 1)], "must be a dict of resource names to amounts"),
    ],
)
def test_bad_resources_are_refused_with_a_sentence(resources: Any, says: str) -> None:
    with pytest.raises(ValueError, match="^job kind 'k': ") as caught:
        JobKind("k", AnyParams, runner, resources=resources)
    assert says in str(caught.value)
    assert resources_problem(resources) is not None
