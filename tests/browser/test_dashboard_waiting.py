"""The dashboard shows why a job waits (PROTOCOL.md section 9) instead of a bar stuck at 0 %: a job
whose monitor asks for a resource no node has, then its cancel from the page."""

from __future__ import annotations

from typing import Any

from hub.server import LocalHub
from jobs import connect
from tests.browser.test_dashboard import ms, open_dashboard
from tests.integration.conftest import Api
from tests.integration.test_waiting import MISSING, NoParams, never_runs


def test_a_waiting_job_shows_why_instead_of_its_bar_and_cancels(hub: LocalHub, page: Any) -> None:
    nb = connect(hub.url, hub.token("dashboard-waiting-registrar"), namespace=hub.settings.namespace)
    nb.register_kind("dashboard_waits", never_runs, NoParams, resources={MISSING: 1})
    nb.close()
    token = hub.token("browser-wes")
    open_dashboard(page, hub.url, token)
    page.wait_for_selector("#connection[data-state=connected]", timeout=ms(15))
    reply = Api(hub, token).http.post("/api/jobs", json={"kind": "dashboard_waits", "params": {}})
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["jobId"]
    row = page.wait_for_selector(f"[data-job-id='{job_id}'][data-waiting]", timeout=ms(30))
    note = row.query_selector(".job-waiting")
    assert note is not None and note.is_visible()
    assert note.text_content() == f"Waiting for 1 {MISSING}: the cluster's one node has none"
    bar = row.query_selector(".progress")
    assert bar is not None and not bar.is_visible()  # no bar stuck at 0 %
    assert row.get_attribute("data-status") == "queued"
    row.query_selector(".cancel").click()  # type: ignore[union-attr]
    page.wait_for_selector(f"[data-job-id='{job_id}'][data-status=cancelled]", timeout=ms(30))
    ended = page.query_selector(f"[data-job-id='{job_id}']")
    assert ended is not None and ended.get_attribute("data-waiting") is None
    assert not ended.query_selector(".job-waiting").is_visible()  # type: ignore[union-attr]
    assert ended.query_selector(".progress").is_visible()  # type: ignore[union-attr]


def test_a_running_job_whose_task_waits_shows_why_under_its_bar(hub: LocalHub, page: Any) -> None:
    from tests.integration.test_waiting import waits_on_a_task

    nb = connect(hub.url, hub.token("dashboard-waiting-registrar"), namespace=hub.settings.namespace)
    nb.register_kind("dashboard_task_waits", waits_on_a_task, NoParams)
    nb.close()
    token = hub.token("browser-wim")
    open_dashboard(page, hub.url, token)
    page.wait_for_selector("#connection[data-state=connected]", timeout=ms(15))
    reply = Api(hub, token).http.post("/api/jobs", json={"kind": "dashboard_task_waits", "params": {}})
    job_id = reply.json()["jobId"]
    row = page.wait_for_selector(f"[data-job-id='{job_id}'][data-waiting]", timeout=ms(30))
    assert row.get_attribute("data-status") == "processing"
    note = row.query_selector(".job-waiting")
    assert (
        note is not None and note.text_content() == f"1 task waiting for 1 {MISSING}: the cluster's one node has none"
    )
    bar = row.query_selector(".progress")
    assert bar is not None and bar.is_visible() and float(bar.get_attribute("data-progress") or 0) == 5
    assert (row.query_selector(".eta").text_content() or "").startswith("waiting since ")  # type: ignore[union-attr]
    row.query_selector(".cancel").click()  # type: ignore[union-attr]
    page.wait_for_selector(f"[data-job-id='{job_id}'][data-status=cancelled]:not([data-waiting])", timeout=ms(30))
