"""A web front end on another origin, in a real browser: a page served from http://localhost:PORT
(as a Next.js dev server is) submits, lists and long-polls against the hub on http://127.0.0.1:PORT2
with an Authorization header, so Chromium sends real CORS preflights."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hub.server import LocalHub
from tests.conftest import scaled

CALLS = """async ([hub, token]) => {
  const auth = {Authorization: `Bearer ${token}`};
  const out = {};
  const submit = await fetch(`${hub}/api/jobs`, {method: "POST",
    headers: {...auth, "Content-Type": "application/json"}, body: JSON.stringify({kind: "no_such_kind", params: {}})});
  out.submit = [submit.status, (await submit.json()).detail !== undefined];
  const list = await fetch(`${hub}/api/jobs?limit=1`, {headers: auth});
  out.list = [list.status, Array.isArray(await list.json())];
  const poll = await fetch(`${hub}/api/events?timeout=0`, {headers: auth});
  out.poll = [poll.status, "epoch" in (await poll.json())];
  return out;
}"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"<!doctype html><title>front end</title><p>front end</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def front_end() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_front_end_on_a_loopback_origin_can_use_the_api(hub: LocalHub, page: Any, front_end: str) -> None:
    page.goto(front_end + "/", timeout=scaled(10) * 1000)
    assert page.evaluate("() => location.origin") != hub.url  # cross-origin: each call is preflighted
    out = page.evaluate(CALLS, [hub.url, hub.token("front-end")])
    assert out == {"submit": [422, True], "list": [200, True], "poll": [200, True]}


def test_a_page_on_another_origin_is_refused(hub: LocalHub, page: Any) -> None:
    """An origin the hub does not trust: the browser refuses to hand the page the answer."""
    page.route("http://untrusted.example/**", lambda route: route.fulfill(body="<p>x</p>", content_type="text/html"))
    page.goto("http://untrusted.example/")
    failed = page.evaluate(
        """async ([hub, token]) => {
          try { await fetch(`${hub}/api/jobs`, {headers: {Authorization: `Bearer ${token}`}}); return false; }
          catch (e) { return e instanceof TypeError; }
        }""",
        [hub.url, hub.token("not-trusted")],
    )
    assert failed is True
