"""The notebook API's partial results (PROTOCOL.md section 9): each job's finished items as the stream
brings them (`ItemBook`, fed by hub.notebook.Hub from its client's thread, read by `Job.items` and
`Job.watch` on the caller's), and the line `watch` shows under the bar for each (`item_line`)."""

from __future__ import annotations

import threading
from typing import Any


def item_line(index: int, value: Any, total: int | None, width: int = 100) -> str:
    """The line `Job.watch` shows under the bar for a finished item: "  question 2 of 8: What ..." for a
    quiz's question (its prompt), "  item 3: <value>" for another kind's, cut to `width` characters."""
    of = f" of {total}" if total is not None else ""
    if isinstance(value, dict) and isinstance(value.get("prompt"), str):
        return f"  question {index + 1}{of}: {value['prompt']}"[:width]
    return f"  item {index + 1}{of}: {value!r}"[:width]


class ItemBook:
    """Each job's finished items seen on the stream, by index; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, dict[int, tuple[Any, int | None]]] = {}  # job -> index -> (value, total)

    def take(self, envelope: dict[str, Any]) -> None:
        """Keep the `item` a job's status message carries ({index, total?, question} for a quiz,
        {index, total?, value} for a custom kind); a message without one is ignored."""
        data = envelope.get("data")
        if not isinstance(data, dict):
            return
        item, job_id = data.get("item"), data.get("jobId")
        if isinstance(item, dict) and isinstance(item.get("index"), int) and isinstance(job_id, str):
            value = item["question"] if "question" in item else item.get("value")
            with self._lock:
                self._items.setdefault(job_id, {})[item["index"]] = (value, item.get("total"))

    def items(self, job_id: str) -> dict[int, Any]:
        """The job's items seen so far, {index: value} in index order; empty before the first."""
        with self._lock:
            kept = self._items.get(job_id, {})
            return {index: kept[index][0] for index in sorted(kept)}

    def lines(self, job_id: str, shown: set[int]) -> list[tuple[int, Any, str]]:
        """(index, value, item_line) of the job's items not in `shown`, in index order; adds them to it."""
        with self._lock:
            kept = dict(self._items.get(job_id, {}))
        new = [(i, *kept[i]) for i in sorted(kept) if i not in shown]
        shown.update(i for i, _, _ in new)
        return [(i, value, item_line(i, value, total)) for i, value, total in new]
