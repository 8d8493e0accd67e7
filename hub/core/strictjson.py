"""Strict JSON (RFC 8259) in valid UTF-8: what every frame and body the hub reads or writes must be
(PROTOCOL.md section 2). Pure: no I/O, no logging.

Python's `json` is lenient both ways: it reads and writes `NaN`, `Infinity` and `-Infinity` (not
JSON; a browser's `JSON.parse` throws on them), reads `1e999` as infinity, and reads and writes a
lone surrogate (`"\\ud83d"`), which no UTF-8 text can hold (encoding it raises UnicodeEncodeError).

The hub's rule, one per direction:

- What a client sends (WebSocket ops, HTTP bodies) is **refused**: `loads` raises `NotStrictJSON`,
  which the ingress turns into an `error` frame (`bad_frame`) or a 422.
- What code hands the hub (a service or back end publishing through a registry shard, a job kind's
  progress messages, fields and results) is **made safe where it enters** the shard or the job
  store, by `safe`: a non-finite float becomes `null`, a lone surrogate becomes U+FFFD (the
  replacement character), a value JSON has no form for becomes `null`. Every transport then carries
  the same value, because there is only the one copy. `JobDesk.publish` (`Backend.publish`) refuses
  instead, like HTTP, since its caller can be told.
- `dumps` never writes a value that is not strict: it raises `UnsafeValue`; `dumps_safe` is the last
  line of defence on every way out (WebSocket frames, long-poll and HTTP answers).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONG_DIGITS = re.compile(r"[0-9]{309}")  # an integer that may be past a double (dumps checks it)
# Nesting deeper than this is cut (`safe`) or refused (`loads`): Python's encoder and decoder recurse.
MAX_DEPTH = 200
MAX_INT_DIGITS = 309  # the largest double, 1.8e308, has 309 digits
REPLACEMENT = "\ufffd"


class NotStrictJSON(json.JSONDecodeError):
    """Text that Python's json reads but strict JSON forbids. `msg` is a sentence naming where
    (`params.scores[2]`) and what; a JSONDecodeError so FastAPI answers it as it answers bad JSON (422)."""

    def __init__(self, reason: str, doc: str = "", pos: int = 0) -> None:
        super().__init__(reason, doc, pos)


class UnsafeValue(ValueError):
    """A value `dumps` refuses to write: it holds NaN/Infinity or a lone surrogate."""


def has_lone_surrogate(text: str) -> bool:
    """Whether a str holds a surrogate code point (json decodes an escaped pair to one character,
    so any surrogate left in a decoded str is a lone one). O(1) for ASCII text."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def _where(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if isinstance(part, str) and part.isidentifier() and part.isascii() else ascii(part)
            out += f".{key}" if out else key
    return (out if len(out) <= 40 else out[:37] + "...") or "the value"


def _spelled(number: float) -> str:
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


class _HugeInt(int):
    """Stands in, while `loads` checks a document, for an integer literal too long to convert."""

    digits: int

    def __new__(cls, digits: int) -> _HugeInt:
        huge = super().__new__(cls, 10**MAX_INT_DIGITS)  # past the largest double as well
        huge.digits = digits
        return huge


def _too_large(number: int) -> bool:
    """True for an integer no double can hold (it reads as Infinity in a browser's JSON.parse)."""
    if -(10**300) < number < 10**300:  # the common case, without a conversion
        return False
    try:
        float(number)
    except OverflowError:
        return True
    return False


def problem(value: Any) -> str | None:
    """The first thing in `value` (decoded JSON or any Python value) that strict JSON cannot carry,
    as a sentence naming its path; None when there is none. Walks without recursion."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                return f"{_where(path)}: lone surrogate in a string (not valid Unicode)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{_where(path)}: {_spelled(item)} is not a JSON number (numbers must be finite doubles)"
        elif isinstance(item, dict):
            if len(path) >= MAX_DEPTH:
                return f"{_where(path)}: nested more than {MAX_DEPTH} deep"
            for key, sub in reversed(list(item.items())):
                if isinstance(key, str) and has_lone_surrogate(key):
                    return f"{_where(path)}: lone surrogate in a key (not valid Unicode)"
                if isinstance(key, float) and not math.isfinite(key):
                    return f"{_where(path)}: a key is {_spelled(key)}"
                stack.append((sub, (*path, key)))
        elif isinstance(item, list | tuple):
            if len(path) >= MAX_DEPTH:
                return f"{_where(path)}: nested more than {MAX_DEPTH} deep"
            stack.extend((sub, (*path, i)) for i, sub in reversed(list(enumerate(item))))
        elif isinstance(item, int) and not isinstance(item, bool):
            if _too_large(item):
                digits = getattr(item, "digits", None) or len(str(abs(item)))
                return f"{_where(path)}: a {digits}-digit integer is not a JSON number a double can hold"
        elif item is not None and not isinstance(item, bool):
            return f"{_where(path)}: a {type(item).__name__} has no JSON form"
    return None


def loads(data: str | bytes | bytearray) -> Any:
    """Parse strict JSON. Bytes must be UTF-8. Raises json.JSONDecodeError for text that is not JSON
    and NotStrictJSON (a JSONDecodeError) for NaN, Infinity, -Infinity, a number too large for a
    double, a lone surrogate in any string or key, invalid UTF-8, or nesting too deep for the parser."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")  # json.loads would let encoded surrogates through
        except UnicodeDecodeError as exc:
            raise NotStrictJSON(f"not valid UTF-8 at byte {exc.start}", "", 0) from None
    else:
        text = data
    suspicious = False

    def constant(name: str) -> float:
        nonlocal suspicious
        suspicious = True
        return float(name)

    def number(literal: str) -> float:
        nonlocal suspicious
        value = float(literal)
        if math.isinf(value):
            suspicious = True
        return value

    def integer(literal: str) -> int:
        nonlocal suspicious
        digits = len(literal.lstrip("-"))
        if digits > MAX_INT_DIGITS:  # past a double, and before int() itself refuses (4,300 digits):
            suspicious = True  # a stand-in that `problem` finds, with the path, as too large
            return _HugeInt(digits)
        value = int(literal)
        if digits > 300 and _too_large(value):
            suspicious = True
        return value

    try:
        value = json.loads(text, parse_constant=constant, parse_float=number, parse_int=integer)
    except RecursionError:
        raise NotStrictJSON("nested too deeply", text, 0) from None
    if suspicious or ("\\u" in text and _SURROGATE_ESCAPE.search(text)) or has_lone_surrogate(text):
        found = problem(value)
        if found is not None:
            raise NotStrictJSON(found, text, 0)
    return value


def dumps(obj: Any) -> str:
    """Compact strict JSON text (UTF-8 safe: the text encodes without error). UnsafeValue for NaN,
    Infinity or a lone surrogate; TypeError for a value JSON has no form for."""
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:  # allow_nan=False, or a circular reference
        raise UnsafeValue(problem(obj) or str(exc)) from None
    if has_lone_surrogate(text):
        raise UnsafeValue(problem(obj) or "a string holds a lone surrogate")
    if _LONG_DIGITS.search(text):  # an integer past a double, or only digits inside a string
        found = problem(obj)
        if found is not None:
            raise UnsafeValue(found)
    return text


def _safe_str(text: str) -> str:
    return _SURROGATE.sub(REPLACEMENT, text) if has_lone_surrogate(text) else text


def _safe(value: Any, depth: int, active: set[int]) -> Any:
    if isinstance(value, str):
        return _safe_str(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return None if _too_large(value) else int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple):
        if depth >= MAX_DEPTH or id(value) in active:
            return None  # too deep, or a cycle
        active.add(id(value))
        try:
            if isinstance(value, dict):
                return {_safe_key(k): _safe(v, depth + 1, active) for k, v in value.items()}
            return [_safe(v, depth + 1, active) for v in value]
        finally:
            active.discard(id(value))
    return None  # no JSON form (a date, a set, an object): null rather than its repr


def _safe_key(key: Any) -> Any:
    if isinstance(key, str):
        return _safe_str(key)
    if isinstance(key, bool) or key is None or (isinstance(key, int) and not isinstance(key, bool)):
        return key
    if isinstance(key, float):
        return key if math.isfinite(key) else "null"
    return _safe_str(str(key))


def safe(value: Any) -> Any:
    """A copy of `value` that strict JSON can carry: non-finite floats -> None, lone surrogates (in
    strings and keys) -> U+FFFD, tuples -> lists, anything without a JSON form, cycles and nesting
    past MAX_DEPTH -> None. Same input, same output, whichever transport writes it."""
    return _safe(value, 0, set())


def dumps_safe(obj: Any) -> tuple[str, str | None]:
    """`dumps(obj)`, or when it cannot be written strictly, `dumps(safe(obj))` and the reason."""
    try:
        return dumps(obj), None
    except (ValueError, TypeError, RecursionError) as exc:
        return dumps(safe(obj)), str(exc) or type(exc).__name__


def made_safe(value: Any) -> tuple[Any, str | None]:
    """`value` itself when strict JSON carries it as it is (checked at C speed), else `safe(value)`
    and the reason: for where values from code enter the hub (registry shards, the job store)."""
    try:
        dumps(value)
        return value, None
    except (ValueError, TypeError, RecursionError) as exc:
        return safe(value), str(exc) or type(exc).__name__
