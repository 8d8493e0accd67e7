"""The notebook client's `submit` (hub/notebook.py) over a scripted HTTP transport (httpx.MockTransport
stands in for the hub): every call carries an Idempotency-Key, a fresh uuid4 unless one is given, and
its own retries (a lost answer, a 503, a 429) send the same key again (PROTOCOL.md section 9)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from hub.notebook import Hub, HubRefused


def scripted(answers: list[Callable[[httpx.Request], httpx.Response]]) -> tuple[Hub, list[httpx.Request]]:
    """A Hub whose HTTP calls get `answers` in turn (each may raise, as a lost answer does); no WebSocket."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1](request)

    nb = object.__new__(Hub)  # only what submit uses: its HTTP client and retry budget
    nb._http = httpx.Client(base_url="http://hub.test", transport=httpx.MockTransport(handle))
    nb.retry_budget = 10.0
    nb.token_source = None
    return nb, seen


def accepted(status: int = 202) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(status, json={"jobId": "j1", "status": "queued"})


def lost(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("connection reset while reading the answer", request=request)


@pytest.fixture(autouse=True)
def _no_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hub.notebook.time.sleep", lambda _: None)


def test_each_submit_sends_a_fresh_uuid4_key() -> None:
    nb, seen = scripted([accepted()])
    nb.submit("quiz_generation", text="x")
    nb.submit("quiz_generation", text="x")
    keys = [r.headers["Idempotency-Key"] for r in seen]
    assert keys[0] != keys[1] and all(uuid.UUID(k).version == 4 for k in keys)


def test_a_given_key_is_sent_and_a_200_repeat_is_the_job() -> None:
    nb, seen = scripted([accepted(200)])
    job = nb.submit_quiz("text", num_questions=2, idempotency_key="order-42")
    assert job.id == "j1" and seen[0].headers["Idempotency-Key"] == "order-42"


def test_its_retries_reuse_the_key() -> None:
    busy = httpx.Response(503, json={"detail": "the hub's job store did not answer; try again in a moment"})
    slow = httpx.Response(429, json={"detail": "too many jobs"}, headers={"Retry-After": "1"})
    nb, seen = scripted([lost, lambda _: busy, lambda _: slow, accepted()])
    assert nb.submit("quiz_generation", text="x").id == "j1"
    assert len(seen) == 4 and len({r.headers["Idempotency-Key"] for r in seen}) == 1


def test_a_409_is_raised_at_once_with_the_hubs_sentence() -> None:
    clash = httpx.Response(
        409, json={"detail": "this Idempotency-Key was already used by you for a different submission"}
    )
    nb, seen = scripted([lambda _: clash])
    with pytest.raises(HubRefused) as refused:
        nb.submit("quiz_generation", idempotency_key="k", text="x")
    assert "Idempotency-Key" in str(refused.value) and len(seen) == 1


def test_a_lost_answer_past_the_budget_is_a_sentence() -> None:
    nb, seen = scripted([lost])
    nb.retry_budget = 2.0
    with pytest.raises(Exception, match="answer was lost") as failed:
        nb.submit("quiz_generation", text="x")
    assert "Traceback" not in str(failed.value) and len(seen) == 3
    assert len({r.headers["Idempotency-Key"] for r in seen}) == 1
