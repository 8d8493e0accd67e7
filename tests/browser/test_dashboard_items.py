"""The dashboard shows a quiz's questions one by one while the job runs (partial results: PROTOCOL.md
section 9): each finished question appears under the job's bar as its `item` arrives, in question order,
before the job completes; the list equals the result's questions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.server import LocalHub
from jobs import connect
from tests import counted_quiz
from tests.conftest import scaled
from tests.integration.conftest import DOCUMENT, Api

# Each time the job's list of questions changes: the row's status and the questions shown, in order.
OBSERVE = """(jobId) => {
  window.__lists = [];
  const seen = () => {
    const row = document.querySelector(`[data-job-id="${jobId}"]`);
    const box = row?.querySelector(".job-items");
    if (!box || box.hidden) return;
    const texts = [...box.querySelectorAll(".job-item")].map((li) => li.textContent);
    const last = window.__lists.at(-1);
    if (!last || last.texts.join("|") !== texts.join("|")) {
      window.__lists.push({ status: row.dataset.status, texts,
        count: box.querySelector(".job-items-count").textContent });
    }
  };
  new MutationObserver(seen).observe(document.querySelector("#jobs"), { subtree: true, childList: true,
    attributes: true, characterData: true });
}"""


def ms(seconds: float) -> float:
    return scaled(seconds) * 1000


def test_the_questions_of_a_running_quiz_appear_one_by_one(hub: LocalHub, page: Any, tmp_path: Path) -> None:
    token = hub.token("browser-items")
    nb = connect(hub.url, token, namespace=hub.settings.namespace)
    kind = counted_quiz.register(nb)
    nb.close()
    page.goto(f"{hub.url}/?token={token}")
    page.wait_for_selector("#connection[data-state=connected]", timeout=ms(15))
    api = Api(hub, token)
    n = 6
    params = {"text": DOCUMENT, "numQuestions": n, "markerDir": str(tmp_path), "delay": 0.6}
    reply = api.http.post("/api/jobs", json={"kind": kind, "params": params})
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["jobId"]
    page.wait_for_selector(f'[data-job-id="{job_id}"]', timeout=ms(15))
    page.evaluate(OBSERVE, job_id)
    page.wait_for_selector(f'[data-job-id="{job_id}"][data-status=completed]', timeout=ms(90))
    lists = page.evaluate("window.__lists")
    result = api.http.get(f"/api/jobs/{job_id}/result").json()
    prompts = [q["prompt"] for q in result["questions"]]
    assert lists and all(entry["status"] == "processing" for entry in lists), lists  # shown while it runs
    sizes = [len(entry["texts"]) for entry in lists]
    assert sizes == sorted(sizes) and len(set(sizes)) >= 3, sizes  # they came one (or two) at a time
    assert lists[-1]["texts"] == prompts and lists[-1]["count"] == f"{n} of {n} items ready"
    for entry in lists:  # always in question order, each shown once
        assert entry["texts"] == [p for p in prompts if p in entry["texts"]]
    row = page.query_selector(f'[data-job-id="{job_id}"] .job-items')
    assert row is not None and row.get_attribute("hidden") is not None  # done: the result holds them
