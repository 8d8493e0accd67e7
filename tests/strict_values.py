"""Hypothesis strategies for strict-JSON tests: random Unicode that includes lone surrogates, and
numbers that include NaN, the infinities and values past a double (PROTOCOL.md section 2)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Any code point, lone surrogates (category Cs) among them, often.
chars = st.characters() | st.characters(categories=["Cs"])
texts = st.text(chars, max_size=12)
numbers = st.integers(-(2**60), 2**60) | st.floats()  # floats(): NaN and the infinities included
values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def lenient_text(value: Any, ascii_only: bool) -> str:
    """What a careless client writes: Python's json, which writes NaN, Infinity and lone surrogates
    (escaped as \\udXXX with ensure_ascii, raw otherwise)."""
    return json.dumps(value, ensure_ascii=ascii_only)


OVERFLOWS = ["1e999", "-1e999", "1.5e400", "1" + "0" * 400, "-" + "9" * 5000]  # floats and integers past a double
CONSTANTS = ["NaN", "Infinity", "-Infinity"]
# Each way a lone surrogate arrives as a JSON escape: high or low, in a value, a key, nested.
SURROGATE_FRAMES = [
    '{"op":"ping","id":"\\ud83d"}',
    '{"op":"ping","id":"\\ude00"}',
    '{"op":"ping","id":"a\\ud83dz"}',
    '{"op":"ping","id":{"\\ud83d":1}}',
    '{"op":"ping","id":[1,{"k":["\\udfff"]}]}',
    '{"op":"ping","id":"\\ude00\\ud83d"}',  # a pair in the wrong order is two lone surrogates
]
