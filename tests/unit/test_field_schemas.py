"""Each validated field says in the OpenAPI document exactly what it accepts:
the validator and the JSON Schema constraints (length, pattern) built from the
same character tables agree on every string, so a client, and the
schemathesis contract test, can tell a valid body from the schema alone."""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from parley.fields import (
    INVISIBLE,
    NAME_MAX,
    NAME_PATTERN,
    NONBLANK_PATTERN,
    URL_MAX,
    URL_PATTERN,
    WHITESPACE,
    ImageUrl,
    Name,
    Ranges,
)
from parley.messages.schemas import MAX_CONTENT, MessageCreate, MessageEdit

BLANK_LETTERS = "\u115f\u1160\u17b4\u17b5\u180e\u2800\u3164\uffa0"


def _codes(table: Ranges) -> set[int]:
    return {code for first, last in table for code in range(first, last + 1)}


def test_the_tables_match_this_pythons_unicode_data() -> None:
    everything = [chr(code) for code in range(sys.maxunicode + 1)]
    invisible = {
        ord(c)
        for c in everything
        if c.isspace() or unicodedata.category(c) == "Cf" or c in BLANK_LETTERS
    }
    assert _codes(INVISIBLE) == invisible, unicodedata.unidata_version
    assert _codes(WHITESPACE) == {ord(c) for c in everything if c.isspace()}


def _accepts(adapter: TypeAdapter[Any], value: object) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _schema_accepts(value: str, pattern: str, max_length: int) -> bool:
    # fullmatch: in ECMA-262 `$` is the end of the text; Python's `re.search`
    # would also let it match before a final newline.
    return len(value) <= max_length and re.fullmatch(pattern, value) is not None


# Text that exercises the tables: controls, bidi and invisible characters, spaces.
TRICKY = st.sampled_from(
    ["\x00", "\t", "\n", "\x7f", "\x85", "\xa0", "\u200b", "\u202e", "\u2066", "\u3164",
     "\ufeff", "\U000e0020", "\U000110bd", " ", "a", "é", "李", "👩", "\\", "@", "/"]
)  # fmt: skip
TEXT = st.lists(st.one_of(TRICKY, st.characters(exclude_categories=["Cs"])), max_size=12).map(
    "".join
)
NAME = TypeAdapter(Name)
URL = TypeAdapter(ImageUrl)


@given(TEXT)
@example("")
@example("x" * NAME_MAX)
@example("x" * (NAME_MAX + 1))
@example(" \u200b ")
def test_a_name_is_valid_exactly_when_its_schema_says_so(value: str) -> None:
    assert _accepts(NAME, value) == _schema_accepts(value, NAME_PATTERN, NAME_MAX)


URLS = st.one_of(
    st.from_regex(URL_PATTERN, fullmatch=True),
    st.builds(
        lambda scheme, host, rest: f"{scheme}://{host}{rest}",
        st.sampled_from(["http", "HTTPS", "ftp", "", "http:"]),
        st.one_of(st.sampled_from(["example.com", "a@b.com", "[::1]", "", "x:80"]), TEXT),
        TEXT,
    ),
)


@given(URLS)
@example("https://example.com/" + "a" * URL_MAX)
@example("https://good.com@evil.com/")
@example("http://evil.com\\@good.com/")
def test_a_url_is_valid_exactly_when_its_schema_says_so(value: str) -> None:
    assert _accepts(URL, value) == _schema_accepts(value, URL_PATTERN, URL_MAX)


@given(TEXT)
@example(" " * 3)
@example("x" * MAX_CONTENT)
@example("x" * (MAX_CONTENT + 1))
def test_message_content_is_valid_exactly_when_its_schema_says_so(value: str) -> None:
    nonblank = _schema_accepts(value, NONBLANK_PATTERN, MAX_CONTENT)
    edit = TypeAdapter(MessageEdit)
    assert _accepts(edit, {"content": value}) == nonblank
    create = TypeAdapter(MessageCreate)
    assert _accepts(create, {"content": value}) == nonblank
    with_file = {"content": value, "fileUrl": "https://example.com/a.png"}
    assert _accepts(create, with_file) == _schema_accepts(value, "^[^\x00]*$", MAX_CONTENT)


@pytest.mark.parametrize("pattern", [NAME_PATTERN, NONBLANK_PATTERN, URL_PATTERN])
def test_patterns_use_only_syntax_json_schema_shares_with_python(pattern: str) -> None:
    """ECMA-262 (JSON Schema's regex dialect) reads \\uXXXX escapes, classes and
    (?:...) as Python does; it has no \\U, no \\s with Python's meaning, no
    inline flags."""
    assert "\\U" not in pattern
    assert not re.search(r"(?<!\\)\\[sSwWdD]", pattern)
    assert "(?i" not in pattern
