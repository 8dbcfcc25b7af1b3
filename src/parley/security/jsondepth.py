"""How deeply a JSON text nests, found without parsing it.

Python's `json` module recurses once per nesting level, so `[[[[…` a few
thousand levels deep raises `RecursionError` (and costs stack) before any
validation runs. `too_deep` answers from the brackets alone: strings are
skipped with one regular expression and the running depth is summed in C.
Malformed text is not this module's business; the parser rejects it later.
"""

from __future__ import annotations

import re
from itertools import accumulate

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text` (0 for a scalar)."""
    steps = [_STEP.get(token, 0) for token in _TOKENS.findall(text)]
    return max(accumulate(steps), default=0)


def too_deep(text: str, max_depth: int) -> bool:
    """True when `text` nests arrays/objects more than `max_depth` levels deep."""
    # Cheap pre-check: fewer opening brackets than the limit cannot exceed it.
    if text.count("[") + text.count("{") <= max_depth:
        return False
    return nesting_depth(text) > max_depth
