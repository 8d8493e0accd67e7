"""The Next.js example (examples/nextjs/) in Chromium against the session's real hub: its built app runs
under `next start` on a free loopback port (an origin the hub trusts by default, HUB_ALLOWED_ORIGINS
being empty), its token route signs educator tokens with the hub's secret, and its page submits a quiz
and shows the job's live progress through to completed with `useWebSocket("quiz_status", ...)`, over
one shared WebSocket, the indicator reading `getWebSocketService().isConnected`.

The app is built by scripts/build-nextjs-example (`make test` runs it before pytest); without a build
these tests are skipped, saying so."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from hub.server import LocalHub
from tests.conftest import DOCUMENT, SECRET, free_port, scaled
from tests.integration.conftest import Api

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nextjs"
NEXT_BIN = EXAMPLE / "node_modules" / "next" / "dist" / "bin" / "next"
BUILT = (EXAMPLE / ".next" / "BUILD_ID").exists() and NEXT_BIN.exists()

pytestmark = pytest.mark.skipif(
    not BUILT or shutil.which("node") is None,
    reason="examples/nextjs is not built (or node is missing): run scripts/build-nextjs-example (make test does)",
)


def ms(seconds: float) -> float:
    return scaled(seconds) * 1000


class NextApp:
    """The example under `next start`: `url` (http://127.0.0.1:PORT), `educator` (the HUB_EDUCATOR_ID
    its token route signs for) and `log` (the server's output, for failure messages)."""

    def __init__(self, url: str, educator: str, log: Path) -> None:
        self.url = url
        self.educator = educator
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End the `next start` this module started: its process group (it was made the group's leader), by its
    pid; SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def next_app(hub: LocalHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NextApp]:
    port = free_port()
    educator = f"next-example-{time.monotonic_ns() % 10**8}"
    log = tmp_path_factory.mktemp("next-example") / "next-start.log"
    env = {
        **os.environ,
        "NEXT_TELEMETRY_DISABLED": "1",
        "NODE_ENV": "production",
        "HUB_SECRET": SECRET,  # the session hub's secret: the route's tokens are the hub's own
        "HUB_EDUCATOR_ID": educator,
        "NEXT_PUBLIC_WS_URL": hub.url,  # read by page.js at request time (the build has none inlined)
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["node", str(NEXT_BIN), "start", "--port", str(port), "--hostname", "127.0.0.1"],
            cwd=EXAMPLE,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so that stop() ends its workers too
        )
    app = NextApp(f"http://127.0.0.1:{port}", educator, log)
    try:
        deadline = time.monotonic() + scaled(30)
        while True:
            assert proc.poll() is None, f"next start exited with {proc.returncode}:\n{app.output()}"
            assert time.monotonic() < deadline, f"next start did not answer within {scaled(30)} s:\n{app.output()}"
            try:
                if httpx.get(app.url + "/api/hub-token", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield app
    finally:
        stop(proc)


def test_the_token_route_signs_an_educator_token_the_hub_accepts(hub: LocalHub, next_app: NextApp) -> None:
    reply = httpx.get(next_app.url + "/api/hub-token", timeout=10)
    assert reply.status_code == 200 and reply.headers["cache-control"].startswith("no-store")
    token = reply.json()["token"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])  # PROTOCOL.md section 1
    assert claims["sub"] == next_app.educator and claims["role"] == "educator"
    assert claims["iat"] <= time.time() + 5 and 0 < claims["exp"] - claims["iat"] <= 3600
    assert Api(hub, token).http.get("/api/jobs").status_code == 200  # the hub takes it as the educator's


def test_the_page_submits_a_quiz_and_shows_its_live_progress_to_completed(
    hub: LocalHub, next_app: NextApp, page: Any
) -> None:
    sockets: list[str] = []
    problems: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)

    page.goto(next_app.url + "/", timeout=ms(30))
    try:
        page.wait_for_selector("#connection[data-connected=true]", timeout=ms(20))
    except Exception as exc:
        raise AssertionError(f"never connected; {problems}; next start said:\n{next_app.output()}") from exc
    assert page.text_content("#connection") == "Connected"
    page.fill("#quiz-text", DOCUMENT)
    page.fill("#num-questions", "4")
    page.click("#start-quiz")
    try:
        page.wait_for_selector("#job[data-status=completed]", timeout=ms(90))
    except Exception as exc:
        raise AssertionError(f"the job did not complete on the page; {problems}; {page.inner_text('main')}") from exc

    job = page.get_attribute("#job", "data-job-id")
    assert job and float(page.get_attribute("#job", "data-progress") or 0) == 100
    events = page.eval_on_selector_all(
        "#events li", "(items) => items.map((li) => [li.dataset.status, Number(li.dataset.progress)])"
    )
    statuses = [status for status, _ in events]
    progress = [value for _, value in events]
    assert statuses[0] == "queued" and "processing" in statuses and statuses[-1] == "completed", events
    assert progress == sorted(progress) and len(set(progress)) >= 3, events  # live steps, never backwards
    page.wait_for_selector("#questions li", timeout=ms(20))  # the result, fetched once completed
    assert len(page.query_selector_all("#questions li")) == 4

    assert page.get_attribute("#connection", "data-connected") == "true"
    assert sockets and all(url.startswith(hub.url.replace("http", "ws", 1)) for url in sockets), sockets
    assert len(sockets) == 1, sockets  # one shared connection for the page, not one per hook
    assert not problems, problems

    state = Api(hub, hub.token(next_app.educator)).http.get(f"/api/jobs/{job}")  # the hub agrees
    assert state.status_code == 200 and state.json()["status"] == "completed"
    assert state.json()["educatorId"] == next_app.educator
