"""The dashboard in a real browser against a real hub: a job to 100%, a server restart with no
missed status, and the fallback to long-polling when WebSockets are blocked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hub.server import LocalHub
from hub.settings import Settings
from jobs import connect
from tests.conftest import free_port, scaled
from tests.integration.conftest import DOCUMENT, SECRET, Api
from tests.integration.test_kinds import SlowParams, slow_kind

RECORD = """() => {
  window.__events = [];
  for (const t of ["quiz_status"]) window.hub.on(t, (env) => window.__events.push(
    {seq: env.seq, job: env.data.jobId, status: env.data.status, progress: env.data.progress}));
}"""


def ms(seconds: float) -> float:
    return scaled(seconds) * 1000


def open_dashboard(page: Any, url: str, token: str, extra: str = "") -> None:
    page.goto(f"{url}/?token={token}{extra}")
    page.wait_for_selector("#connection", timeout=ms(10))
    page.wait_for_function("() => window.hub !== undefined", timeout=ms(10))
    page.evaluate(RECORD)


def test_a_quiz_started_from_the_page_reaches_100_percent(hub: LocalHub, page: Any) -> None:
    token = hub.token("browser-ann")
    open_dashboard(page, hub.url, token)
    page.wait_for_selector("#connection[data-state=connected]", timeout=ms(15))
    page.fill("#quiz-text", DOCUMENT)
    page.fill("#num-questions", "4")
    page.click("#start-quiz")
    row = page.wait_for_selector("[data-job-id][data-status=completed]", timeout=ms(60))
    bar = row.query_selector(".progress")
    assert bar is not None and float(bar.get_attribute("data-progress") or 0) == 100
    page.wait_for_function("() => document.querySelector('#quiz').textContent.includes('_____')", timeout=ms(20))
    events = page.evaluate("window.__events")
    statuses = [e["status"] for e in events]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress)


def test_server_restart_shows_reconnecting_then_resumes_with_no_missed_status(
    hub: LocalHub, page: Any, tmp_path: Path
) -> None:
    settings = Settings(
        port=free_port(),
        secret=SECRET,
        data_dir=tmp_path,
        namespace="hub-browser-restart",
        shards=1,
        log_level="warning",
    )
    first = LocalHub(settings)
    token = first.token("browser-ben")
    nb = connect(first.url, token, namespace=settings.namespace)
    nb.register_kind("slow_steps", slow_kind, SlowParams)
    nb.close()
    second = None
    try:
        open_dashboard(page, first.url, token, "&baseDelay=200&maxAttempts=100")
        page.wait_for_selector("#connection[data-state=connected]", timeout=ms(15))
        job = (
            Api(first, token)
            .http.post("/api/jobs", json={"kind": "slow_steps", "params": {"steps": 100, "delay": 0.05}})
            .json()["jobId"]
        )
        page.wait_for_function(f"() => window.__events.some(e => e.job === '{job}' && e.progress > 5)", timeout=ms(60))
        first.stop()
        page.wait_for_selector("#connection[data-state=reconnecting]", timeout=ms(15))
        second = LocalHub(settings)
        page.wait_for_selector("#connection[data-state=connected]", timeout=ms(30))
        page.wait_for_selector(f"[data-job-id='{job}'][data-status=completed]", timeout=ms(60))
        events = [e for e in page.evaluate("window.__events") if e["job"] == job]
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # resumed: nothing missed
        assert [s for i, s in enumerate(e["status"] for e in events) if i == 0 or events[i - 1]["status"] != s] == [
            "queued",
            "processing",
            "completed",
        ]
    finally:
        (second or first).stop()


def test_blocked_websockets_fall_back_to_polling_and_still_complete(hub: LocalHub, page: Any) -> None:
    page.route_web_socket(re.compile(r".*/ws$"), lambda ws: ws.close(code=4500, reason="blocked by a proxy"))
    token = hub.token("browser-cat")
    open_dashboard(page, hub.url, token, "&baseDelay=100&maxAttempts=2&upgradeRetry=600000")
    page.wait_for_selector("#connection[data-state=polling]", timeout=ms(20))
    page.wait_for_function("() => window.hub.epoch", timeout=ms(20))  # the first poll has answered
    page.fill("#quiz-text", DOCUMENT)
    page.fill("#num-questions", "3")
    page.click("#start-quiz")
    row = page.wait_for_selector("[data-job-id][data-status=completed]", timeout=ms(60))
    bar = row.query_selector(".progress")
    assert bar is not None and float(bar.get_attribute("data-progress") or 0) == 100
    assert page.get_attribute("#connection", "data-state") == "polling"
    events = page.evaluate("window.__events")
    statuses = [e["status"] for e in events]
    assert statuses[0] == "queued" and statuses[-1] == "completed", events
