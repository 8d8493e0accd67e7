"""Document processing in pure Python: extract text, split it into chunks, index key terms.

`extract_text` reads .txt, .md, .html/.htm and .pdf uploads (PDFs through pypdf) into plain text,
`chunk_text` cuts that text into sentence-aligned chunks that overlap by a sentence, and
`build_index` picks the key terms of each chunk, scored against the whole document, into a
`DocumentIndex` that is stored as JSON (the document job's result). Sentence splitting, tokenisation,
stopwords and term extraction are those of `jobs.text`, shared with `jobs.quiz`, so quizzes and the index agree.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from hub.core.errors import InvalidInput
from jobs.text import (
    TOKEN_RE,
    class_weight,
    extract_terms,
    number_shape,
    split_sentences,
    tokens,
)

SUPPORTED = (".txt", ".md", ".html", ".htm", ".pdf")

Progress = Callable[[float, str], None]


class DocumentError(InvalidInput, ValueError):
    """Unsupported type, unreadable/corrupt file, empty text. Plain-words message, shown to the
    educator as it is (hub.core.errors.InvalidInput): a 422 at submission, or the failed job's error."""


# What files of the types people most often upload by mistake start with (their "magic bytes").
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive (a Word .docx, an OpenDocument or an Excel file is one)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file"),
    (b"{\\rtf", "a rich-text (.rtf) file"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "a program"),
)
PDF_MAGIC = b"%PDF-"
PDF_HEADER_WITHIN = 1024  # bytes: a PDF's header may follow a little junk (PDF 1.7, annex H.3)


# -- extraction ------------------------------------------------------------------------------------


def _extension(name: str) -> str:
    return "." + name.lower().rsplit(".", 1)[-1] if "." in name else ""


def size_text(n: int) -> str:
    """`n` bytes in words: whole MiB as "20 MiB", anything else as "1,234 bytes"."""
    return f"{n // 2**20} MiB" if n >= 2**20 and n % 2**20 == 0 else f"{n:,} bytes"


def check_upload(content: bytes, filename: str, max_bytes: int | None = None) -> None:
    """Refuse, with a DocumentError saying why in a sentence, an upload that cannot be a readable
    document, judged from its name and bytes alone (cheap enough for submission time): over
    `max_bytes` (the hub's Settings.max_upload, which the job desk gives at submission; None: the
    size is not checked here), a type not in SUPPORTED (a .docx among them), empty, a `.pdf` whose bytes are not a
    PDF (no `%PDF-` header in its first PDF_HEADER_WITHIN bytes), a text type whose bytes are
    another format (_BINARY_MAGIC) or binary, or a text with no word or number in it. A file that
    passes may still fail to parse (a damaged PDF): extract_text says so then."""
    content = bytes(content)
    name = filename.strip() or "the document"
    if max_bytes is not None and len(content) > max_bytes:
        raise DocumentError(f"{name} is {len(content) / 2**20:.1f} MiB; the limit is {size_text(max_bytes)}.")
    ext = _extension(name)
    if ext not in SUPPORTED:
        raise DocumentError(
            f"{name} is not a supported file type ({ext or 'no extension'}); upload one of: {', '.join(SUPPORTED)}."
        )
    if not content:
        raise DocumentError(f"{name} is empty.")
    if ext == ".pdf":
        if PDF_MAGIC not in content[:PDF_HEADER_WITHIN]:
            raise DocumentError(
                f"{name} is not a PDF file (it does not start with the PDF header); "
                f"upload the PDF itself, or the document as one of: {', '.join(SUPPORTED)}."
            )
        return
    for magic, what in _BINARY_MAGIC:
        if content.startswith(magic):
            raise DocumentError(
                f"{name} is {what}, not a {ext} text file; upload the document as one of: {', '.join(SUPPORTED)}."
            )
    if not TOKEN_RE.search(_decode(content, name)):
        raise DocumentError(f"{name} contains no readable text.")


def extract_text(
    content: bytes, filename: str, progress: Progress | None = None, *, max_bytes: int | None = None
) -> str:
    """The plain text of an uploaded document, chosen by the file's extension. DocumentError (a
    sentence) for a file check_upload refuses (over `max_bytes` among them, when given) or one that
    cannot be read."""
    content = bytes(content)
    check_upload(content, filename, max_bytes)
    name = filename.strip() or "the document"
    ext = _extension(name)
    if ext == ".pdf":
        text = _pdf_text(content, name, progress)
    else:
        raw = _decode(content, name)
        text = {".md": _markdown_text, ".html": _html_text, ".htm": _html_text}.get(ext, str)(raw)
        if progress is not None:
            progress(1.0, f"Read {name}")
    text = _tidy(text)
    if not TOKEN_RE.search(text):
        raise DocumentError(f"{name} contains no readable text.")
    return text


def _decode(content: bytes, name: str) -> str:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return content.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("latin-1")
    if "\x00" in text:
        raise DocumentError(f"{name} looks like a binary file, not text.")
    return text


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _pdf_text(content: bytes, name: str, progress: Progress | None) -> str:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:
                raise DocumentError(
                    f"{name} is encrypted in a way this server cannot open; "
                    f"save it without encryption and upload it again."
                ) from exc
            if not opened:
                raise DocumentError(f"{name} is protected by a password; remove the password and upload it again.")
        pages = len(reader.pages)
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files
        raise DocumentError(f"{name} could not be read as a PDF; the file may be damaged.") from exc
    if pages == 0:
        raise DocumentError(f"{name} has no pages.")
    texts: list[str] = []
    failed = 0
    for i in range(1, pages + 1):
        try:
            texts.append(reader.pages[i - 1].extract_text() or "")
        except Exception:  # one bad page should not lose the others
            failed += 1
        if progress is not None:
            progress(i / pages, f"Reading page {i} of {pages}")
    text = "\n\n".join(t.strip() for t in texts if t.strip())
    if failed == pages:
        raise DocumentError(f"{name} could not be read as a PDF; the file may be damaged.")
    if not TOKEN_RE.search(text):
        raise DocumentError(
            f"{name} has no extractable text (it may be scanned images); "
            f"upload a PDF with a text layer or the text itself."
        )
    return re.sub(r"(\w)-\n(?=[a-z])", r"\1", text)  # words hyphenated across lines


_MD_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[[^\]]*\]", ""),  # images
        (r"\[([^\]]*)\]\([^)]*\)|\[([^\]]+)\]\[[^\]]*\]", r"\1\2"),  # links
        (r"<(https?://[^>\s]+)>", r"\1"),  # autolinks
        (r"</?[A-Za-z][^>\n]*>", ""),  # inline html tags
        (r"`+([^`]+?)`+", r"\1"),  # inline code
        (r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2"),
        (r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"\1"),
        (r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)", r"\1"),
        (r"~~(.+?)~~", r"\1"),
        (r"\\([\\`*_{}\[\]()#+\-.!>|])", r"\1"),  # backslash escapes
    )
)
_MD_LINE_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$", r"\1"),  # headings
        (r"^\s{0,3}(?:>\s?)+", ""),  # block quotes
        (r"^\s*(?:[-*+]|\d{1,9}[.)])\s+(?:\[[ xX]\]\s+)?", ""),  # list items, task boxes
    )
)
_MD_DROP = re.compile(
    r"^\s{0,3}(?:[-*_=]\s*){3,}$|^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?\s*$"
    r"|^\s{0,3}\[[^\]]+\]:\s+\S+.*$"
)  # rules, underlines, table rules, refs
_FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")


def _markdown_text(source: str) -> str:
    out: list[str] = []
    fence = ""
    for line in source.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        m = _FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = ""
            else:
                out.append(line)  # code is kept as it is
            continue
        if m:
            fence = m.group(1)
            continue
        if _MD_DROP.match(line):
            out.append("")
            continue
        for pattern, repl in _MD_LINE_RULES:
            line = pattern.sub(repl, line)
        if line.lstrip().startswith("|"):
            line = " ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        for pattern, repl in _MD_RULES:
            line = pattern.sub(repl, line)
        out.append(re.sub(r"(?<=\S)[ \t]{2,}(?=\S)", " ", html.unescape(line)))
    return "\n".join(out)


_SKIP_TAGS = frozenset("script style head noscript template svg".split())
_LINE_TAGS = frozenset("br li tr dt dd option".split())
_BLOCK_TAGS = frozenset(
    """p div h1 h2 h3 h4 h5 h6 ul ol dl table thead tbody tfoot pre blockquote
section article aside header footer nav main figure figcaption form fieldset address hr body html
caption details summary""".split()
)


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and "head" in self.skipping:  # a head left open ends at the body
            self.skipping.clear()
        if tag in _SKIP_TAGS:
            self.skipping.append(tag)
        elif tag in ("td", "th"):
            self.parts.append(" ")
        self._boundary(tag)
        self.pre += tag == "pre"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._boundary(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.skipping:
            while self.skipping and self.skipping.pop() != tag:
                pass
            return
        self._boundary(tag)
        if tag == "pre" and self.pre:
            self.pre -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))

    def _boundary(self, tag: str) -> None:
        if not self.skipping and (tag in _LINE_TAGS or tag in _BLOCK_TAGS):
            self.parts.append("\x01" if tag in _LINE_TAGS else "\x02")


def _html_text(source: str) -> str:
    parser = _HTMLText()
    try:
        parser.feed(source)
        parser.close()
    except Exception as exc:  # the stdlib parser is lenient; this is a last resort
        raise DocumentError("The HTML could not be read.") from exc
    text = re.sub(
        r"[\x01\x02\s]*[\x01\x02][\x01\x02\s]*",  # merge adjacent boundaries
        lambda m: "\n\n" if "\x02" in m.group() else "\n",
        "".join(parser.parts),
    )
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(lines)


# -- chunking --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of a document: its position among the chunks (`index`, from 0), its `text`, where
    it starts in the full text (`start`, a character offset) and its key terms, best first."""

    index: int
    text: str
    start: int  # character offset in the full text
    terms: tuple[str, ...] = ()  # key terms of this chunk, best first (filled by build_index)


def _sentence_spans(text: str, max_words: int) -> list[tuple[int, int, int, bool]]:
    """(start, end, words, starts a paragraph) of each sentence of the text, in order; sentences
    longer than max_words are cut at word boundaries."""
    positions = [i for i, c in enumerate(text) if not c.isspace()]
    compact = "".join(text[i] for i in positions)
    spans: list[tuple[int, int, int, bool]] = []
    cursor, prev_end, piece = 0, 0, max(1, max_words * 2 // 3)
    for sentence in split_sentences(text):
        needle = "".join(sentence.split())
        at = compact.find(needle, cursor)
        if at < 0:  # cannot happen with quiz's splitter; skip rather than misplace
            continue
        cursor = at + len(needle)
        start, end = positions[at], positions[cursor - 1] + 1
        para = not spans or re.search(r"\n[ \t]*\n", text[prev_end:start]) is not None
        words = [(m.start(), m.end()) for m in TOKEN_RE.finditer(text, start, end)]
        done = 0
        while len(words) - done > max_words:  # an over-long "sentence": a table, no stops
            cut = words[done + piece - 1][1]
            spans.append((start, cut, piece, para))
            done += piece
            start = next(i for i in range(cut, words[done][0] + 1) if not text[i].isspace())
            para = False
        spans.append((start, end, len(words) - done, para))
        prev_end = end
    return spans


def chunk_text(text: str, target_words: int = 200, overlap_sentences: int = 1) -> list[Chunk]:
    """Sentence-aligned chunks of about target_words words, consecutive chunks sharing
    overlap_sentences sentences; a paragraph break near the target is preferred as the end."""
    if target_words < 1 or overlap_sentences < 0:
        raise ValueError("target_words must be 1 or more and overlap_sentences 0 or more")
    low, high = target_words / 2, target_words * 1.5
    spans = _sentence_spans(text, max(1, int(high)))
    chunks: list[Chunk] = []
    first, n = 0, len(spans)
    while first < n:
        total, last, reached, best, best_total = 0, first, -1, -1, 0
        for e in range(first, n):
            total += spans[e][2]
            if total > high and e > first:
                break
            last = e
            if reached < 0 and total >= target_words:
                reached = e
            if e + 1 < n and spans[e + 1][3] and total >= low:
                if best < 0 or abs(total - target_words) < abs(best_total - target_words):
                    best, best_total = e, total
        end = last if last == n - 1 else best if best >= 0 else reached if reached >= 0 else last
        start = spans[first][0]
        chunks.append(Chunk(len(chunks), text[start : spans[end][1]], start))
        if end == n - 1:
            break
        first = max(end + 1 - overlap_sentences, first + 1)
    return chunks


# -- indexing --------------------------------------------------------------------------------------


def _idf(df: int, n: int) -> float:
    return math.log((1 + n) / (1 + df)) + 1


@dataclass(frozen=True, slots=True)
class DocumentIndex:
    """A document's chunks with their key terms, and for each key term (lower-cased) the indices of
    the chunks holding it, in order. Made by `build_index`; kept in the job store as `to_json`."""

    chunks: tuple[Chunk, ...]
    terms: dict[str, tuple[int, ...]]  # key term (lower-cased) -> chunk indices containing it

    def to_json(self) -> dict[str, Any]:
        """{"version": 1, "chunks": [{"index", "text", "start", "terms": [...]}, ...], "terms":
        {term: [chunk index, ...]}}: plain JSON, as the document job stores it."""
        return {
            "version": 1,
            "chunks": [
                {"index": c.index, "text": c.text, "start": c.start, "terms": list(c.terms)} for c in self.chunks
            ],
            "terms": {term: list(where) for term, where in self.terms.items()},
        }


def build_index(chunks: list[Chunk], terms_per_chunk: int = 8, progress: Progress | None = None) -> DocumentIndex:
    """Key terms of each chunk, scored tf-idf style against the whole document."""
    sentences = [split_sentences(c.text) for c in chunks]
    toks = [[tokens(s) for s in ss] for ss in sentences]
    mid_caps = {t.lower() for ts in toks for sts in ts for t, _, _ in sts[1:] if t[0].isupper()}
    found: list[Counter[str]] = []
    first_at: list[dict[str, int]] = []
    classes: dict[str, str] = {}
    total = len(chunks)
    for k, (ss, ts) in enumerate(zip(sentences, toks, strict=False)):
        tf: Counter[str] = Counter()
        order: dict[str, int] = {}
        for sentence, sentence_toks in zip(ss, ts, strict=False):
            for key, cls, _, _ in extract_terms(sentence, sentence_toks, mid_caps):
                if cls == "number" and number_shape(key) == "integer":
                    continue  # page numbers, counts: poor search terms
                term = key.lower()
                classes.setdefault(term, cls)
                tf[term] += 1
                order.setdefault(term, len(order))
        found.append(tf)
        first_at.append(order)
        if progress is not None:
            progress((k + 1) / total, f"Indexing chunk {k + 1} of {total}")
    df: Counter[str] = Counter(term for tf in found for term in tf)
    best: dict[str, float] = {}
    built: list[Chunk] = []
    for chunk, tf, order in zip(chunks, found, first_at, strict=False):
        scored = {t: (1 + math.log(c)) * _idf(df[t], total) * class_weight(t, classes[t]) for t, c in tf.items()}
        top = sorted(scored, key=lambda t: (-scored[t], order[t]))[: max(0, terms_per_chunk)]
        for t in top:
            best[t] = max(best.get(t, 0.0), scored[t])
        built.append(Chunk(len(built), chunk.text, chunk.start, tuple(top)))
    terms = {t: tuple(i for i, tf in enumerate(found) if t in tf) for t in sorted(best, key=lambda t: (-best[t], t))}
    return DocumentIndex(chunks=tuple(built), terms=terms)
