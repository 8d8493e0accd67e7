"""The text side of quiz generation and document indexing, in pure Python: sentences, tokens and
key terms (common content words, capitalised names, acronyms, numbers and years), each term's class
and weight. Shared by `jobs.quiz` (questions) and `jobs.documents` (the index)."""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    """
a about above after again against all almost along already also although always am among an and
another any anyone anything are around as at back be became because become becomes been before
being below between both but by can cannot could did do does doing done down during each either
else enough even ever every few first for from further had has have having he her here hers
herself him himself his how however i if in into is it its itself just last later least less let
like made make makes many may me might more most much must my myself near nearly neither never
new next no nor not now of off often on once one only onto or other others our ours ourselves out
over own per perhaps quite rather really said same second several shall she should since so some
something still such than that the their theirs them themselves then there therefore these they
this those though three through thus to today together too toward towards two under until up
upon us use used uses using very via was we well were what when where whether which while who
whom whose why will with within without would yet you your yours yourself also became called
""".split()
)

ABBREVIATIONS = frozenset(
    """
e.g i.e etc vs cf al dr mr mrs ms prof sr jr st mt fig figs vol pp approx ca inc ltd co corp
dept est jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k a.m p.m ph.d gen gov sen rep
rev capt col lt sgt ave eq ref refs ed eds
""".split()
)

CONNECTORS = frozenset("of de van von der den da di du la le del".split())
TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*(?:%|(?:st|nd|rd|th|s)\b)?|[^\W\d_]+(?:['’\-][^\W\d_]+)*")
BOUNDARY_RE = re.compile(r"([.!?]+)([\"'”’)\]]*)\s+")
BULLET_RE = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s+")
HEADING_END_RE = re.compile(r"[.!?:;,][\"'”’)\]]*$")

Token = tuple[str, int, int]  # text, start, end within its sentence
Occurrence = tuple[str, str, int, int]  # term key, term class, start, end within its sentence


def split_segment(segment: str) -> list[str]:
    """One paragraph segment (whitespace already collapsed) cut at sentence ends: `.`, `!`, `?` followed
    by a capital or a digit, not after an abbreviation ("e.g.", "Dr."), an initial ("J. Smith") or
    "No." before a number. The pieces in order, stripped."""
    parts: list[str] = []
    start = 0
    for m in BOUNDARY_RE.finditer(segment):
        nxt = segment[m.end() : m.end() + 1]
        if not nxt or nxt.islower():
            continue
        if m.group(1) == ".":
            before = segment[start : m.start()].rsplit(None, 1)
            word = before[-1].lstrip("(\"'“‘[") if before else ""
            if word.lower() in ABBREVIATIONS and not (word.lower() == "etc" and nxt.isupper()):
                continue
            if len(word) == 1 and word.isupper():  # an initial, as in "J. Smith"
                continue
            if word.lower() == "no" and nxt.isdigit():
                continue
        parts.append(segment[start : m.end()].strip())
        start = m.end()
    parts.append(segment[start:].strip())
    return parts


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` in order: paragraphs split on blank lines, short lines that read as
    headings kept apart, sentences cut by `split_segment`, list bullets removed; only pieces with a
    word or a number in them."""
    segments: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
        buf: list[str] = []
        for k, line in enumerate(lines):
            nxt = lines[k + 1] if k + 1 < len(lines) else ""
            heading = (
                not HEADING_END_RE.search(line)
                and len(line.split()) <= 8
                and nxt[:1].isupper()
                and (not buf or HEADING_END_RE.search(buf[-1]))
            )
            if heading:
                if buf:
                    segments.append(" ".join(buf))
                    buf = []
                segments.append(line)
            else:
                buf.append(line)
        if buf:
            segments.append(" ".join(buf))
    sentences: list[str] = []
    for segment in segments:
        for part in split_segment(" ".join(segment.split())):
            cleaned = BULLET_RE.sub("", part).strip()
            if cleaned and TOKEN_RE.search(cleaned):
                sentences.append(cleaned)
    return sentences


def tokens(sentence: str) -> list[Token]:
    """The words and numbers of `sentence` as (text, start, end) character spans, a possessive
    "'s" left out of its word."""
    out: list[Token] = []
    for m in TOKEN_RE.finditer(sentence):
        text, end = m.group(), m.end()
        if len(text) > 2 and text[-2] in "'’" and text[-1] in "sS":  # possessive
            text, end = text[:-2], end - 2
        out.append((text, m.start(), end))
    return out


def is_content_word(word: str) -> bool:
    """Whether `word` can be a key term: four letters or more and not a stopword."""
    return len(word) >= 4 and word.lower() not in STOPWORDS


def extract_terms(sentence: str, toks: list[Token], mid_caps: set[str]) -> list[Occurrence]:
    """The terms of one sentence as (key, class, start, end)."""
    out: list[Occurrence] = []
    i, n = 0, len(toks)
    while i < n:
        text, start, end = toks[i]
        if text[0].isdigit():
            out.append((text, "number", start, end))
            i += 1
            continue
        if not text[0].isupper():
            if is_content_word(text):
                out.append((text, "word", start, end))
            i += 1
            continue
        j = i + 1
        while j < n and sentence[toks[j - 1][2] : toks[j][1]] == " ":
            if toks[j][0][0].isupper():
                j += 1
            elif (
                toks[j][0] in CONNECTORS
                and j + 1 < n
                and toks[j + 1][0][0].isupper()
                and sentence[toks[j][2] : toks[j + 1][1]] == " "
            ):
                j += 2
            else:
                break
        first = i
        while first < j and toks[first][0].lower() in STOPWORDS:
            first += 1
        i = j
        if first == j:
            continue
        group = toks[first:j]
        start, end = group[0][1], group[-1][2]
        key = sentence[start:end]
        if len(group) == 1 and first == 0 and key.lower() not in mid_caps:
            if is_content_word(key) and not key.isupper():  # a common word starting the sentence
                out.append((key.lower(), "word", start, end))
            continue
        if len(group) == 1 and key.isupper() and len(key) >= 2:
            out.append((key, "acronym", start, end))
        elif len(group) > 1 or (len(key) >= 2 and key.lower() not in ABBREVIATIONS):
            out.append((key, "name", start, end))
    return out


def class_weight(key: str, cls: str) -> float:
    """How much a term of class `cls` ("name", "acronym", "number", "word") counts in scoring: names
    (more for longer ones), years and acronyms above plain words; words by length, nouns above the
    shapes `word_shape` tells apart. A factor around 0.5 to 1.6."""
    if cls == "name":
        return 1.3 + 0.15 * (min(len(key.split()), 3) - 1)
    if cls == "acronym":
        return 1.2
    if cls == "number":
        return 1.25 if number_shape(key) == "year" else 1.1
    return (0.55 + 0.05 * min(len(key), 13)) * (1.0 if word_shape(key) == "noun" else 0.6)


def word_shape(word: str) -> str:
    """A crude part of speech from the ending, so that distractors read alike."""
    for suffix, shape in (("ly", "adverb"), ("ed", "past"), ("ing", "gerund")):
        if word.endswith(suffix) and len(word) > len(suffix) + 3:
            return shape
    return "noun"


def number_shape(key: str) -> str:
    """The shape of a number term: "percent", "decade" ("1990s"), "ordinal" ("3rd"), "decimal", "year"
    (1000 to 2099) or "integer"; distractors share it."""
    if key.endswith("%"):
        return "percent"
    if key[-1].isalpha():
        return "decade" if key.endswith("s") else "ordinal"
    if "." in key or "," in key:
        return "decimal"
    return "year" if len(key) == 4 and 1000 <= int(key) <= 2099 else "integer"


def number_value(key: str) -> float:
    """The number a term starts with (thousands separators ignored), 0.0 if none: how far apart two
    number distractors are."""
    digits = re.match(r"\d+(?:\.\d+)?", key.replace(",", ""))
    return float(digits.group()) if digits else 0.0


def contains_words(outer: str, inner: str) -> bool:
    """Whether `inner` appears in `outer` as whole words, ignoring case."""
    return f" {inner.lower()} " in f" {outer.lower()} "
