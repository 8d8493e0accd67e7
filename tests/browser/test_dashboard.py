"""The dashboard in a real browser against a real hub: a job to 100%, a server restart with no
missed status, the fallback to long-polling when WebSockets are blocked, analytics on load, a
bounded job list with titles, "show more" and "clear finished", a favicon, and the "Working together"
panel of the quiz on show (two educators see each other, typing and comments; a token without room
patterns sees it say so)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

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


def test_back_from_polling_to_the_websocket_soon_after_it_works_again(hub: LocalHub, page: Any) -> None:
    """A hub restart left the page on "Polling (fallback)" for 38 s though the hub was back in 10:
    the upgrade is tried after about a second, then backing off, not after upgradeRetry (30 s)."""
    blocked = True

    def route(ws: Any) -> None:
        if blocked:
            ws.close(code=1011, reason="down")
        else:
            ws.connect_to_server()

    page.route_web_socket(re.compile(r".*/ws$"), route)
    open_dashboard(page, hub.url, hub.token("browser-hal"), "&baseDelay=100&maxAttempts=2")
    page.wait_for_selector("#connection[data-state=polling]", timeout=ms(20))
    page.wait_for_timeout(1500)  # a failed upgrade try meanwhile (after 0.5-1 s); the next by 3 s, then by 7 s
    blocked = False
    started = time.monotonic()
    page.wait_for_selector("#connection[data-state=connected]", timeout=ms(15))
    took = time.monotonic() - started
    assert took < scaled(8), f"back on the WebSocket {took:.1f} s after it worked again (upgradeRetry is 30 s)"


def in_thread(coro_fn: Any) -> Any:
    """Run an async function to its end on a thread of its own (Playwright's loop holds this one)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_fn())).result()


def make_records(hub: LocalHub, educator_id: str, finished: int, running: int) -> list[str]:
    """Job records for `educator_id` made through the back-end helpers (no job actors): `finished`
    completed ones, then `running` processing ones; returns their ids, oldest first."""
    from hub.backend import Backend

    backend = Backend.connect(namespace=hub.settings.namespace)

    async def go() -> list[str]:
        ids = []
        for i in range(finished + running):
            job = await backend.create_job_record(educator_id, "quiz_generation", quiz_id=f"quiz-rec{i:02d}")
            await backend.update_job_with_notification(
                job["jobId"], status="processing", progress=30, message="Writing questions", notify=False
            )
            if i < finished:
                await backend.update_job_with_notification(
                    job["jobId"], status="completed", progress=100, message="Quiz ready", notify=False
                )
            ids.append(job["jobId"])
        return ids

    return list(in_thread(go))


def shown_ids(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#jobs > li", "rows => rows.map(r => r.dataset.jobId)"))


def test_analytics_show_the_current_figures_on_load(hub: LocalHub, page: Any) -> None:
    token = hub.token("browser-dee")
    api = Api(hub, token)
    job = api.submit_quiz(n=3)
    deadline = time.monotonic() + scaled(60)
    while api.http.get(f"/api/jobs/{job}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # the analytics_update of that job went out before this page opened: the panel must not be empty
    open_dashboard(page, hub.url, token)
    page.wait_for_selector("#analytics [data-key=quizzesGenerated]", timeout=ms(15))
    assert page.text_content("#analytics [data-key=quizzesGenerated] dd") == "1"
    assert page.text_content("#analytics [data-key=questionsGenerated] dd") == "3"
    assert page.text_content("#analytics [data-key=jobsToday] dd") == "1"
    assert page.is_hidden("#analytics .empty")
    page.reload()  # and again after a reload
    page.wait_for_selector("#analytics [data-key=questionsGenerated]", timeout=ms(15))
    assert page.text_content("#analytics [data-key=questionsGenerated] dd") == "3"


def test_fresh_educator_sees_zero_figures_and_no_average_yet(hub: LocalHub, page: Any) -> None:
    open_dashboard(page, hub.url, hub.token("browser-eve"))
    page.wait_for_selector("#analytics [data-key=averageGenerationSeconds]", timeout=ms(15))
    assert page.text_content("#analytics [data-key=jobsToday] dd") == "0"
    assert page.text_content("#analytics [data-key=averageGenerationSeconds] dd") == "—"


def test_jobs_have_titles_a_bounded_list_with_show_more_and_clear_finished(
    hub: LocalHub, page: Any, tmp_path: Path
) -> None:
    token = hub.token("browser-fay")
    ids = make_records(hub, "browser-fay", finished=30, running=9)  # 39 jobs, as in the report
    open_dashboard(page, hub.url, token)
    page.wait_for_selector("#connection[data-state=connected]", timeout=ms(15))
    page.wait_for_function("() => document.querySelectorAll('#jobs > li').length === 10", timeout=ms(15))
    newest = list(reversed(ids))
    assert shown_ids(page) == newest[:10]
    assert page.text_content("#jobs-count") == "10 of 39 shown"
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 2600, f"the page is {height} px tall with 39 jobs"
    title = page.text_content(f"[data-job-id='{ids[-1]}'] .job-title") or ""
    assert "Quiz generation" in title and "quiz-rec38" in title

    page.click("#show-more")
    page.wait_for_function("() => document.querySelectorAll('#jobs > li').length === 20", timeout=ms(5))
    assert shown_ids(page) == newest[:20]

    # a quiz started here is titled by the first words of its text
    page.fill("#quiz-text", DOCUMENT)
    page.fill("#num-questions", "3")
    page.click("#start-quiz")
    row = page.wait_for_selector("#jobs > li:first-child[data-status=completed]", timeout=ms(60))
    words = " ".join(DOCUMENT.split()[:3])
    assert words in (row.text_content() or ""), row.text_content()
    mine = row.get_attribute("data-job-id")
    page.screenshot(path=str(tmp_path / "many-jobs.png"), full_page=True)

    # clear finished: only the 9 running jobs stay, and it holds across a reload
    assert page.text_content("#clear-finished") == "Clear finished (31)"
    page.click("#clear-finished")
    page.wait_for_function("() => document.querySelectorAll('#jobs > li').length === 9", timeout=ms(5))
    assert set(shown_ids(page)) == set(ids[30:])
    assert "31 finished jobs hidden" in (page.text_content("#cleared") or "")
    assert page.is_hidden("#show-more")
    page.reload()
    page.wait_for_selector("#connection[data-state=connected]", timeout=ms(15))
    page.wait_for_function("() => window.hub.jobs.size > 0", timeout=ms(15))
    page.wait_for_timeout(500)  # the job list (GET /api/jobs) has been read
    assert set(shown_ids(page)) == set(ids[30:])

    # a job that finishes after the clear shows again; "Show them" brings back the rest
    in_thread(lambda: finish(hub, ids[35]))
    page.wait_for_selector(f"[data-job-id='{ids[35]}'][data-status=completed]", timeout=ms(15))
    assert len(shown_ids(page)) == 9
    page.click("#show-cleared")
    page.wait_for_function("() => document.querySelectorAll('#jobs > li').length === 10", timeout=ms(5))
    assert shown_ids(page)[0] == mine and page.is_visible("#show-more")


async def finish(hub: LocalHub, job_id: str) -> None:
    from hub.backend import Backend

    backend = Backend.connect(namespace=hub.settings.namespace)
    await backend.update_job_with_notification(job_id, status="completed", progress=100, notify=False)


def test_favicon_and_no_missing_files(hub: LocalHub, page: Any) -> None:
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    open_dashboard(page, hub.url, hub.token("browser-gus"))
    page.wait_for_selector("#connection[data-state=connected]", timeout=ms(15))
    icon = page.get_attribute("link[rel=icon]", "href")
    assert icon == "/static/favicon.svg"
    got = page.request.get(hub.url + icon)
    assert got.status == 200 and got.headers["content-type"].startswith("image/svg+xml")
    assert page.request.get(hub.url + "/favicon.ico").status == 200
    assert failed == []


# -- the "Working together" panel (rooms, PROTOCOL.md section 7) -------------------------------------


def room_token(hub: LocalHub, educator_id: str, rooms: list[str]) -> str:
    """A token for `educator_id` whose `rooms` claim holds `rooms` (patterns)."""
    return hub.token(educator_id, rooms=rooms)


def quiz_shown(page: Any, quiz_id: str) -> None:
    page.wait_for_selector(f"#quiz[data-quiz-id='{quiz_id}'] .question", timeout=ms(60))


@pytest.mark.parametrize("transport", ["ws", "poll"])
def test_working_together_says_it_is_unavailable_without_room_patterns(
    hub: LocalHub, page: Any, transport: str
) -> None:
    """A token with no `rooms` claim may join no room: the panel says so in a sentence, its comment box
    is off, no toast appears, and the quiz shows as ever; over the WebSocket and while long-polling."""
    token = hub.token(f"browser-ivy-{transport}")
    open_dashboard(page, hub.url, token, "&transport=poll" if transport == "poll" else "")
    page.wait_for_selector(
        f"#connection[data-state={'polling' if transport == 'poll' else 'connected'}]", timeout=ms(20)
    )
    page.wait_for_function("() => window.hub.epoch", timeout=ms(20))
    quiz_id = f"alone-{transport}-{time.monotonic_ns() % 10**8}"
    Api(hub, token).submit_quiz(n=3, quizId=quiz_id)
    quiz_shown(page, quiz_id)
    page.wait_for_selector(f"#together[data-room='quiz:{quiz_id}'][data-unavailable]", timeout=ms(15))
    status = page.text_content("#together-status") or ""
    assert status.startswith("Working together is not available for this quiz: "), status
    assert "Traceback" not in status
    assert page.is_disabled("#comment-text") and page.is_disabled("#send-comment")
    assert page.query_selector_all(".toast-warning") == [], "a refused join is the panel's, not a toast"
    assert page.evaluate(f"window.hub.rooms.has('quiz:{quiz_id}')") is False
    assert page.get_attribute("#connection", "data-state") == ("polling" if transport == "poll" else "connected")


def test_two_educators_on_one_quiz_see_each_other_type_comment_and_leave(hub: LocalHub, browser: Any) -> None:
    quiz_id = f"together-{time.monotonic_ns() % 10**8}"
    pages = {}
    contexts = []
    try:
        for name in ("browser-jo", "browser-kim"):
            token = room_token(hub, name, ["quiz:*"])
            context = browser.new_context()
            contexts.append(context)
            page = context.new_page()
            open_dashboard(page, hub.url, token)
            page.wait_for_selector("#connection[data-state=connected]", timeout=ms(15))
            Api(hub, token).submit_quiz(n=3, quizId=quiz_id)  # each makes a quiz with the same id
            quiz_shown(page, quiz_id)
            pages[name] = page
        jo, kim = pages["browser-jo"], pages["browser-kim"]
        for page in (jo, kim):  # each sees both, once
            page.wait_for_function(
                "() => [...document.querySelectorAll('#together-members .member')].map(m => m.dataset.educatorId)"
                ".sort().join() === 'browser-jo,browser-kim'",
                timeout=ms(15),
            )
        assert "browser-jo (you)" in (jo.text_content("#together-members") or "")
        assert kim.text_content("#together-count") == "2 here"

        jo.type("#comment-text", "Question 2")  # keystrokes: typing
        kim.wait_for_function(
            "() => document.querySelector('#together-typing').textContent === 'browser-jo is typing…'", timeout=ms(10)
        )
        assert jo.text_content("#together-typing") == "", "no one sees their own typing"
        jo.type("#comment-text", " needs a better distractor")
        jo.click("#send-comment")
        kim.wait_for_selector(
            "#together-comments .comment:has-text('Question 2 needs a better distractor')", timeout=ms(10)
        )
        mine = jo.wait_for_selector("#together-comments .comment[data-mine]:not([data-pending])", timeout=ms(10))
        assert "Question 2 needs a better distractor" in (mine.text_content() or "")
        assert len(jo.query_selector_all("#together-comments .comment")) == 1, "the own comment once"
        kim.wait_for_function(
            "() => document.querySelector('#together-typing').textContent === ''", timeout=ms(10)
        )  # sending ends typing

        kim.fill("#comment-text", "Agreed")
        kim.click("#send-comment")
        jo.wait_for_selector("#together-comments .comment:has-text('Agreed')", timeout=ms(10))

        jo.click("#sign-out")  # jo leaves: kim's list drops jo
        kim.wait_for_function(
            "() => [...document.querySelectorAll('#together-members .member')].map(m => m.dataset.educatorId)"
            ".join() === 'browser-kim'",
            timeout=ms(15),
        )
        assert kim.text_content("#together-count") == "1 here"
    finally:
        for context in contexts:
            context.close()
