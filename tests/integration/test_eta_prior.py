"""The ETA before the first tick against the real hub (Ray, the job store actor on its SQLite file, real
monitors, a WebSocket client): once a quiz job has completed, the first `processing` message of the next
quiz jobs carries `etaSeconds` from the recorded pace, scaled by their questions (hub/core/eta.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ray

from actors.names import STORE_NAME
from hub.server import LocalHub
from tests.integration.conftest import Api, messages_until, open_ws, scaled, terminal


def first_processing(envelopes: list[dict[str, Any]], job_id: str) -> dict[str, Any]:
    mine = [e["data"] for e in envelopes if e["data"].get("jobId") == job_id]
    return next(data for data in mine if data["status"] == "processing")


async def until_recorded(hub: LocalHub, kind: str) -> None:
    """Wait until the job store holds a pace for `kind`: a monitor records its job's right after its
    `completed` goes out (actors.job_monitor.JobMonitor._record_pace), so a job started at once may miss it."""
    store = ray.get_actor(STORE_NAME, namespace=hub.settings.namespace)
    deadline = time.monotonic() + scaled(10)
    while await asyncio.to_thread(ray.get, store.pace.remote(kind, 20)) is None:
        assert time.monotonic() < deadline, f"no pace recorded for {kind}"
        await asyncio.sleep(0.05)


def test_after_a_completed_quiz_the_next_quizzes_first_processing_carries_a_scaled_eta(
    hub: LocalHub, educator: Api
) -> None:
    async def go() -> tuple[list[dict[str, Any]], str, str]:
        ws, _ = await open_ws(hub, {"token": educator.token})
        first = await asyncio.to_thread(educator.submit_quiz, n=2)
        done, _ = await messages_until(ws, terminal(first))
        assert done[-1]["data"]["status"] == "completed", done[-1]
        await until_recorded(hub, "quiz_generation")
        # Two more quizzes together, so that both read the same recorded paces: 5 and 10 questions.
        small = await asyncio.to_thread(educator.submit_quiz, n=5)
        large = await asyncio.to_thread(educator.submit_quiz, n=10)
        seen: set[str] = set()

        def both_ended(envelope: dict[str, Any]) -> bool:
            if terminal(small)(envelope) or terminal(large)(envelope):
                seen.add(envelope["data"]["jobId"])
            return seen == {small, large}

        envelopes, _ = await messages_until(ws, both_ended)
        await ws.close()
        return envelopes, small, large

    envelopes, small, large = asyncio.run(go())
    five, ten = first_processing(envelopes, small), first_processing(envelopes, large)
    assert five["progress"] == 1 and ten["progress"] == 1, (five, ten)  # the very first `processing`
    assert five.get("etaSeconds", 0) > 0 and ten.get("etaSeconds", 0) > 0, (five, ten)
    assert 1.6 < ten["etaSeconds"] / five["etaSeconds"] < 2.4, (five, ten)  # twice the questions
