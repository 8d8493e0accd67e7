"""Partial results (PROTOCOL.md section 9): the `item` a job's status message carries for each finished
piece of its result (a quiz's question), and the rules a monitor restarted after losing its node
follows to go on from the items kept. Pure: no clock, no I/O."""

from __future__ import annotations

from typing import Any, NamedTuple


class KeptItem(NamedTuple):
    """A finished item as the job store keeps it (JobStore.save_items, .items) and it crosses between a
    job's monitor and the store: its `item_index` (from 0; `index` would hide tuple.index), the job's
    `total` items when the kind gave it (None otherwise), and its `value` (a quiz's question dict;
    strict JSON)."""

    item_index: int
    total: int | None
    value: Any


# The key an item's value goes under, by job kind: a quiz's items are its questions (the contract's
# `item: {index, total, question}`); a custom kind's are `value`.
VALUE_KEY_BY_KIND: dict[str, str] = {"quiz_generation": "question"}


def value_key(kind: str) -> str:
    """The key of an item's value in the `item` of a job of `kind`: `question` for quiz_generation,
    `value` for any other kind (custom kinds: whatever their `ctx.item` gave)."""
    return VALUE_KEY_BY_KIND.get(kind, "value")


def item_payload(kind: str, index: int, value: Any, total: int | None) -> dict[str, Any]:
    """The `item` a status message carries: {index, total, question} for a quiz (VALUE_KEY_BY_KIND),
    {index, total, value} for a custom kind; `total` left out when the kind gave none."""
    payload: dict[str, Any] = {"index": index}
    if total is not None:
        payload["total"] = total
    payload[value_key(kind)] = value
    return payload


def check_item(index: Any, total: int | None) -> None:
    """ValueError (a sentence) unless `index` is a whole number from 0, below `total` when given."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"an item's index is a whole number from 0, not {index!r}")
    if total is not None and index >= total:
        raise ValueError(f"item index {index} is past the job's {total} items (indexes run from 0)")


def resumed_progress(stored: float | None, live: float | None, floor: float = 1.0) -> float:
    """The progress (0-99) a restarted monitor starts from: at least what the job store recorded
    (`stored`) and what the registry shard last published (`live`: newer than the store's, which records
    progress at a bounded rate; None when the shard did not answer or had forgotten the job), and at
    least `floor` (a first run's starting 1 %). Below 100: only `completed` brings 100."""
    return min(99.0, max(floor, stored or 0.0, live or 0.0))
