"""The README's browser example of rooms runs as written (in Chromium, against the real hub): its
page joins, shows the members, types and publishes a comment that another educator's page receives."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from hub.server import LocalHub
from tests.conftest import scaled

ROOT = Path(__file__).resolve().parents[2]

BOB = """async ([token, room]) => {
  const { HubClient } = await import("/static/hub-client.js");
  window.hub = new HubClient({ url: location.origin, token });
  await window.hub.start();
  const r = window.hub.join(room, { info: { name: "Bob" } });
  window.seen = { comments: [], typing: [] };
  r.on("message", (env) => window.seen.comments.push([env.data.from.educatorId, env.data.data.text]));
  r.on("typing", () => window.seen.typing.push([...r.typingMembers]));
}"""


def readme_rooms_js() -> str:
    """The first ```js block of the README's "Rooms" section."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Rooms") :]
    match = re.search(r"```js\n(.*?)```", section, re.S)
    assert match, "the README's Rooms section lost its browser example"
    return match.group(1)


def test_the_readme_browser_example_runs_as_written(hub: LocalHub, browser: Any) -> None:
    room = f"quiz:readme-{time.monotonic_ns() % 10**8}"
    example = readme_rooms_js()
    assert "quiz:q-42" in example and "http://127.0.0.1:8000" in example
    example = example.replace("quiz:q-42", room).replace("http://127.0.0.1:8000", hub.url)
    # What the example leaves to the page: its token, a comment box and three render functions.
    prelude = """
const token = window.TOKEN;
const commentBox = document.querySelector("#comment");
const showAvatars = (members) => { window.avatars = members.map((m) => m.educatorId).sort(); };
const showTyping = (ids) => { window.typingShown = ids; };
const addComment = (who, text) => { (window.comments ||= []).push([who, text]); };
"""
    ms = scaled(15) * 1000
    bob_ctx, alice_ctx = browser.new_context(), browser.new_context()
    try:
        bob = bob_ctx.new_page()
        bob.goto(hub.url + "/healthz")
        bob.evaluate(BOB, [hub.token("readme-bob", rooms=["quiz:*"]), room])
        alice = alice_ctx.new_page()
        alice.goto(hub.url + "/healthz")
        alice.evaluate(
            """([token]) => {
              window.TOKEN = token;
              const box = document.createElement("textarea");
              box.id = "comment";
              box.value = "Question 3 needs a better distractor";
              document.body.append(box);
            }""",
            [hub.token("readme-alice", rooms=["quiz:*"])],
        )
        alice.add_script_tag(content=prelude + example + "\nwindow.done = true;\n", type="module")
        alice.wait_for_function("() => window.done === true", timeout=ms)
        bob.wait_for_function(
            "() => window.seen.comments.some(([who, t]) => who === 'readme-alice' && t.startsWith('Question 3'))",
            timeout=ms,
        )
        alice.wait_for_function("() => (window.avatars || []).join() === 'readme-alice,readme-bob'", timeout=ms)
        alice.evaluate("() => document.querySelector('#comment').dispatchEvent(new Event('input'))")
        bob.wait_for_function("() => window.seen.typing.some((ids) => ids.includes('readme-alice'))", timeout=ms)
        bob.evaluate("() => window.hub.close()")
        alice.wait_for_function("() => (window.avatars || []).join() === 'readme-alice'", timeout=ms)
    finally:
        bob_ctx.close()
        alice_ctx.close()
