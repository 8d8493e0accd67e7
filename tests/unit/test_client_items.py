"""Partial results (PROTOCOL.md section 9) in the Python client and the notebook API, without sockets: an
`item` reaches the handlers with its envelope as it came, the job state keeps `itemsDone` but not the
item, and the notebook keeps each job's items by index and shows a line per item."""

from __future__ import annotations

from typing import Any

from hub.client import HubClient
from hub.core.protocol import WireEnvelope
from hub.notebookitems import ItemBook, item_line

QUESTION = {"id": "q2", "type": "cloze", "prompt": "Plants turn light into ____.", "answer": "sugar"}


def envelope(seq: int, **data: Any) -> dict[str, Any]:
    base = {"jobId": "j1", "quizId": "q", "status": "processing", "progress": 10.0 * seq, "message": "m"}
    return {"seq": seq, "type": "quiz_status", "ts": 1.0, "data": {**base, **data}}


def test_the_client_hands_an_item_to_handlers_and_keeps_items_done_in_the_job_state() -> None:
    client = HubClient("http://127.0.0.1:1", "a-token")
    got: list[dict[str, Any]] = []
    client.on("quiz_status", got.append)
    item = {"index": 1, "total": 4, "question": QUESTION}
    wires = [envelope(1, itemsDone=1, item=item), envelope(2, itemsDone=1)]
    client._deliver([WireEnvelope.model_validate(w) for w in wires], wires)
    assert got[0]["data"]["item"] == item and "item" not in got[1]["data"]
    assert client.jobs["j1"]["itemsDone"] == 1 and "item" not in client.jobs["j1"]


def test_the_notebook_keeps_items_by_index_and_shows_a_line_each() -> None:
    book = ItemBook()
    book.take(envelope(1, item={"index": 2, "total": 3, "question": {**QUESTION, "id": "q3"}}))
    book.take(envelope(2, item={"index": 0, "total": 3, "question": QUESTION}))
    book.take(envelope(3))  # no item
    book.take({"seq": 4, "type": "quiz_status", "ts": 1.0, "data": {"jobId": "j2", "item": {"index": 0, "value": 7}}})
    assert list(book.items("j1")) == [0, 2] and book.items("j1")[2]["id"] == "q3"
    assert book.items("j2") == {0: 7} and book.items("other") == {}
    assert item_line(0, QUESTION, 3) == "  question 1 of 3: Plants turn light into ____."
    assert item_line(4, {"words": 12}, None) == "  item 5: {'words': 12}"
    assert len(item_line(0, "x" * 500, None)) == 100
    shown = {0}
    assert book.lines("j1", shown) == [(2, {**QUESTION, "id": "q3"}, "  question 3 of 3: " + QUESTION["prompt"])]
    assert shown == {0, 2} and book.lines("j1", shown) == []
