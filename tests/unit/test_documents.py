"""Unit tests of jobs.documents: text extraction, chunking and the key-term index."""

from __future__ import annotations

import io
import json
import re

import pytest
from pypdf import PdfReader, PdfWriter

from hub.settings import Settings
from jobs.documents import (
    SUPPORTED,
    DocumentError,
    build_index,
    chunk_text,
    extract_text,
)
from tests.pdfgen import make_pdf

MAX_BYTES = Settings.model_fields["max_upload"].default  # the hub's upload limit (HUB_MAX_UPLOAD), as shipped

ARTICLE = """Volcanoes of the World

A volcano is an opening in the crust of a planet through which molten rock escapes. \
Most volcanoes form where tectonic plates pull apart or push together. The Pacific Ring of Fire \
holds about three quarters of the active volcanoes on Earth.

Mount Vesuvius erupted in 79 and buried the Roman towns of Pompeii and Herculaneum under ash. \
Pliny the Younger described the eruption in two letters to the historian Tacitus. His account \
is the earliest detailed description of a volcanic eruption that survives.

Krakatoa exploded in 1883 with a sound heard nearly five thousand kilometres away. The eruption \
threw so much ash into the air that sunsets around the world glowed red for months. Tsunamis \
caused by the collapse of the island killed more than thirty thousand people.

Shield volcanoes such as Mauna Loa have gentle slopes built from runny basalt lava. \
Stratovolcanoes such as Mount Fuji are steep cones made of layers of ash and thick lava. \
Scientists watch volcanoes with seismometers, gas sensors and satellites \
to warn people before an eruption."""


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


# -- extraction ------------------------------------------------------------------------------------


def test_txt_utf8_and_latin1() -> None:
    assert extract_text("Café au lait.\r\n\r\n\r\n\r\nNext.".encode(), "Notes.TXT") == "Café au lait.\n\nNext."
    assert extract_text("Café crème".encode("latin-1"), "a.txt") == "Café crème"
    assert extract_text(b"\xef\xbb\xbfWith a BOM", "a.txt") == "With a BOM"


def test_markdown_syntax_is_stripped() -> None:
    source = """# The Title #

Some **bold**, *italic* and __strong__ words, a [link](https://example.com) and \
![a picture](pic.png) an image, with `inline code` and snake_case_name kept.

- first item
2. second item

> quoted &amp; unescaped

```python
def f(x):  # *kept* as text
    return x
```
"""
    text = extract_text(source.encode(), "readme.md")
    assert text.startswith("The Title\n\n")
    assert "Some bold, italic and strong words, a link and an image, with inline code and snake_case_name kept." in text
    assert "first item\nsecond item" in text
    assert "quoted & unescaped" in text
    assert "def f(x):  # *kept* as text\n    return x" in text
    for syntax in ("**", "](", "![", "pic.png", "https://", "```", "#", "> "):
        assert syntax not in text.replace("# *kept*", "")


def test_html_drops_script_style_head_and_keeps_blocks() -> None:
    page = b"""<!doctype html><html><head><title>Secret title</title>
<style>body { color: red } .leak { }</style><script>var leak = "script text";</script></head>
<body><h1>Caf&eacute; &amp; Bar</h1><p>First   paragraph
spread over lines.<br>After a break.</p><script>alert("leak")</script>
<ul><li>One</li><li>Two</li></ul><noscript>leak</noscript>
<p>Last &lt;p&gt; here.</p></body></html>"""
    text = extract_text(page, "page.HTM")
    assert "leak" not in text and "color" not in text and "Secret" not in text
    assert text == ("Café & Bar\n\nFirst paragraph spread over lines.\nAfter a break.\n\nOne\nTwo\n\nLast <p> here.")


def test_pdf_text_is_extracted_page_by_page() -> None:
    pdf = make_pdf(
        [
            ["Photosynthesis turns light into sugar.", "Chlorophyll (green) absorbs it."],
            ["The Calvin cycle fixes carbon dioxide."],
        ]
    )
    calls: list[tuple[float, str]] = []
    text = extract_text(pdf, "paper.PDF", lambda f, m: calls.append((f, m)))
    for word in ("Photosynthesis", "sugar", "Chlorophyll", "(green)", "Calvin", "dioxide"):
        assert word in text
    assert text.index("sugar") < text.index("Calvin")
    assert calls == [(0.5, "Reading page 1 of 2"), (1.0, "Reading page 2 of 2")]


def test_pdf_encrypted_with_empty_password_opens() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Hidden treasure map."]]))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert b"treasure" not in buffer.getvalue()
    assert "treasure" in extract_text(buffer.getvalue(), "locked.pdf")


def test_pdf_with_password_is_refused() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Hidden treasure map."]]))))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(DocumentError, match="password"):
        extract_text(buffer.getvalue(), "locked.pdf")


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.4\nthis is not really a pdf at all",
        b"\x00\x01\x02garbage",
        make_pdf([["Cut short."]])[:40],
    ],
)
def test_corrupt_pdf_raises_document_error(content: bytes) -> None:
    with pytest.raises(DocumentError):
        extract_text(content, "broken.pdf")


def test_pdf_without_text_raises_document_error() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(DocumentError, match="no extractable text"):
        extract_text(buffer.getvalue(), "scan.pdf")


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"hello", "slides.pptx", "not a supported file type"),
        (b"hello", "noextension", "not a supported file type"),
        (b"", "empty.txt", "empty"),
        (b"  \n\n -- \n", "blank.txt", "no readable text"),
        (b"<script>only()</script>", "x.html", "no readable text"),
        (b"x" * (MAX_BYTES + 1), "huge.txt", "limit"),
    ],
)
def test_bad_inputs_raise_document_error(content: bytes, filename: str, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        extract_text(content, filename, max_bytes=MAX_BYTES)
    assert issubclass(DocumentError, ValueError)
    assert ".pdf" in SUPPORTED


# -- chunking --------------------------------------------------------------------------------------


def test_chunks_cover_the_text_with_overlap() -> None:
    text = extract_text(ARTICLE.encode(), "article.txt")
    chunks = chunk_text(text, target_words=40, overlap_sentences=1)
    assert len(chunks) >= 4
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.text.strip() and c.text == text[c.start : c.start + len(c.text)]
        assert c.terms == ()
    assert chunks[0].start == 0 and chunks[-1].start + len(chunks[-1].text) == len(text)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.start < b.start <= a.start + len(a.text)  # no gap, and always moving on
        shared = text[b.start : a.start + len(a.text)]
        assert shared.strip() and shared.rstrip()[-1] in ".!?"  # at least one whole sentence
    covered = [False] * len(text)
    for c in chunks:
        covered[c.start : c.start + len(c.text)] = [True] * len(c.text)
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())
    assert chunk_text(text, 40, 1) == chunks  # deterministic


def test_chunks_prefer_paragraph_breaks() -> None:
    text = extract_text(ARTICLE.encode(), "article.txt")
    chunks = chunk_text(text, target_words=45, overlap_sentences=0)
    ends = [c.start + len(c.text) for c in chunks]
    for end in ends[:-1]:
        assert text[end : end + 2] == "\n\n"
    assert "".join(words(" ".join(c.text for c in chunks))) == "".join(words(text))


def test_chunking_edge_cases() -> None:
    assert chunk_text("") == [] and chunk_text("  \n ") == []
    one = chunk_text("Just one short sentence")
    assert len(one) == 1 and one[0].text == "Just one short sentence" and one[0].start == 0
    run_on = " ".join(f"word{i}" for i in range(1000))  # no sentence end at all
    chunks = chunk_text(run_on, target_words=100)
    assert len(chunks) > 5 and all(len(c.text.split()) <= 150 for c in chunks)
    assert {w for c in chunks for w in c.text.split()} == set(run_on.split())
    with pytest.raises(ValueError):
        chunk_text("Some text.", target_words=0)


# -- index -----------------------------------------------------------------------------------------


def test_index_terms() -> None:
    chunks = chunk_text(extract_text(ARTICLE.encode(), "article.txt"), target_words=45)
    calls: list[tuple[float, str]] = []
    index = build_index(chunks, terms_per_chunk=5, progress=lambda f, m: calls.append((f, m)))
    n = len(chunks)
    assert calls == [((k + 1) / n, f"Indexing chunk {k + 1} of {n}") for k in range(n)]
    assert all(0 < len(c.terms) <= 5 for c in index.chunks)
    assert [(c.text, c.start) for c in index.chunks] == [(c.text, c.start) for c in chunks]
    for c in index.chunks:
        for term in c.terms:
            assert term == term.lower() and c.index in index.terms[term]
    krakatoa = next(c.index for c in chunks if "Krakatoa" in c.text)
    assert "1883" in index.chunks[krakatoa].terms and index.terms["1883"] == (krakatoa,)


def test_index_json() -> None:
    """The document job's result carries the index as JSON (jobs/tasks.py)."""
    index = build_index(chunk_text(ARTICLE, target_words=40))
    data = json.loads(json.dumps(index.to_json()))
    assert data["version"] == 1
    assert [(c["index"], c["text"], c["start"], tuple(c["terms"])) for c in data["chunks"]] == [
        (c.index, c.text, c.start, c.terms) for c in index.chunks
    ]
    assert {t: tuple(w) for t, w in data["terms"].items()} == index.terms and list(data["terms"]) == list(index.terms)


def test_empty_index() -> None:
    index = build_index([])
    assert index.chunks == () and index.terms == {}
    assert index.to_json() == {"version": 1, "chunks": [], "terms": {}}
