"""The browser client (clients/js/src/hub-client.js) in Chromium against the real hub, with a token
function (PROTOCOL.md section 2, "Token expiry"): it refreshes before expiry on the same socket, and
with refresh off it reconnects with a new token after the 4401 at expiry and misses nothing.
The page gets tokens from the test (Playwright's expose_function), as a page would from its app."""

from __future__ import annotations

from typing import Any

from hub.server import LocalHub
from tests.conftest import TOKEN_LEEWAY, scaled
from tests.integration.conftest import Api
from tests.integration.test_token_expiry import mint, publish, unique

START = """async ([refresh]) => {
  const { HubClient } = await import("/static/hub-client.js");
  window.log = [];
  const hub = new HubClient({ url: location.origin, token: () => window.mint(), refresh, baseDelay: 500 });
  window.hub = hub;
  hub.on("refreshed", (f) => window.log.push({ refreshed: f.exp }));
  hub.on("notification", (e) => window.log.push({ seq: e.seq, title: e.data.title }));
  hub.on("error", (e) => window.log.push({ error: e.code, message: e.message }));
  await hub.start();
}"""


def ms(seconds: float) -> float:
    return scaled(seconds) * 1000


def start_page(hub: LocalHub, page: Any, sub: str, lifetime: float, refresh: bool) -> list[str]:
    minted: list[str] = []

    def fresh() -> str:
        minted.append(mint(sub, lifetime))
        return minted[-1]

    page.expose_function("mint", fresh)
    page.goto(hub.url + "/healthz")
    page.evaluate(START, [refresh])
    return minted


def titles(page: Any) -> list[str]:
    return [e["title"] for e in page.evaluate("window.log") if "title" in e]


def test_browser_client_refreshes_its_token_on_the_same_socket(hub: LocalHub, page: Any) -> None:
    sub = unique("js-refresh")
    minted = start_page(hub, page, sub, scaled(3), refresh=True)
    for i in range(4):  # spans more than two lifetimes of a token
        publish(hub, sub, f"n{i}")
        page.wait_for_timeout(ms(2))  # not time.sleep: the page's calls to mint() are answered meanwhile
    page.wait_for_function("() => window.log.filter((e) => e.title).length === 4", timeout=ms(10))
    assert titles(page) == ["n0", "n1", "n2", "n3"]
    refreshes, connects = page.evaluate("[window.hub.refreshes, window.hub.connects]")
    assert refreshes >= 2 and connects == 1 and len(minted) == refreshes + 1
    assert not [e for e in page.evaluate("window.log") if "error" in e]
    assert page.evaluate("window.hub.state") == "connected"
    page.evaluate("window.hub.close()")


def test_browser_client_without_refresh_reconnects_after_expiry_and_misses_nothing(hub: LocalHub, page: Any) -> None:
    sub = unique("js-reconnect")
    minted = start_page(hub, page, sub, scaled(2), refresh=False)
    publish(hub, sub, "before")
    page.wait_for_function("() => window.hub.state === 'reconnecting'", timeout=ms(2) + TOKEN_LEEWAY * 1000 + ms(5))
    publish(hub, sub, "while away")  # sent while the page has no connection: the resume brings it
    page.wait_for_function("() => window.hub.connects === 2", timeout=ms(10))
    publish(hub, sub, "after")
    page.wait_for_function("() => window.log.filter((e) => e.title).length === 3", timeout=ms(10))
    assert titles(page) == ["before", "while away", "after"]
    seqs = [e["seq"] for e in page.evaluate("window.log") if "seq" in e]
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    assert len(minted) == 2 and not [e for e in page.evaluate("window.log") if "error" in e]
    assert Api(hub, minted[-1]).http.get("/api/jobs").status_code == 200
    page.evaluate("window.hub.close()")
