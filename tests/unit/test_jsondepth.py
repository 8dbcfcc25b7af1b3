"""The JSON depth check that runs before any parser sees a body."""

from __future__ import annotations

import json
import time

import pytest

from parley.security.jsondepth import nesting_depth, too_deep


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[[[", "b": "\\"[[["}', 1),
        ('"unterminated [[[', 0),
        ("[" * 500, 500),
    ],
)
def test_nesting_depth(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_too_deep_matches_the_parser() -> None:
    assert not too_deep(json.dumps([[[[1]]]]), 4)
    assert too_deep(json.dumps([[[[[1]]]]]), 4)


def test_a_large_body_is_checked_quickly() -> None:
    body = json.dumps({"content": "[{" * 30_000, "items": [[1, 2]] * 5000})
    started = time.perf_counter()
    assert not too_deep(body, 32)
    assert too_deep("[" * 60_000, 32)
    assert time.perf_counter() - started < 0.5
