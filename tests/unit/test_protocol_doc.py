"""docs/protocol.md is the repository's own copy of the wire contract, identical to it in its body."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTE = "> The repository's copy of the hub's wire contract"
BEYOND = "<!-- beyond-the-contract"  # the line after which the hub's own additions are described


def split_note(text: str) -> tuple[str, str]:
    """(the note at the top of docs/protocol.md, the contract's text below it, up to the marker
    before the hub's additions)."""
    assert BEYOND in text, "docs/protocol.md marks where the contract ends and the hub's additions begin"
    text = text[: text.index(BEYOND)].removesuffix("\n")
    lines = text.splitlines(keepends=True)
    count = 0
    while count < len(lines) and lines[count].startswith(">"):
        count += 1
    assert count < len(lines) and lines[count] == "\n", "the note is followed by one blank line"
    return "".join(lines[:count]), "".join(lines[count + 1 :])


def contract() -> Path | None:
    """../shared/PROTOCOL.md beside the repository (or beside a folder holding it, for a worktree)."""
    for folder in ROOT.parents:
        path = folder / "shared" / "PROTOCOL.md"
        if path.exists():
            return path
    return None


def test_docs_protocol_holds_every_section_of_the_contract() -> None:
    note, body = split_note((ROOT / "docs" / "protocol.md").read_text())
    assert note.startswith(NOTE)
    assert body.startswith("# Hub protocol v1")
    headings = [line for line in body.splitlines() if line.startswith("## ")]
    assert [h.split(".")[0] for h in headings] == [f"## {n}" for n in range(1, 10)], headings


def test_docs_protocol_is_the_contract_word_for_word() -> None:
    path = contract()
    if path is None:
        pytest.skip("no ../shared/PROTOCOL.md beside this checkout to compare with")
    _, body = split_note((ROOT / "docs" / "protocol.md").read_text())
    assert body == path.read_text(), f"docs/protocol.md differs from {path}: copy the contract again"


def test_readme_links_the_repositorys_own_protocol_reference() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "](docs/protocol.md)" in readme
    assert "../shared/" not in readme
