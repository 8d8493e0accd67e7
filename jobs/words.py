"""Counting words for the messages people read: "1 chunk", "2 chunks"."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` and the noun in the right number: plural(1, "chunk") == "1 chunk", plural(3, "chunk")
    == "3 chunks"; `nouns` for an irregular plural. Thousands are grouped: "1,200 chunks"."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"
