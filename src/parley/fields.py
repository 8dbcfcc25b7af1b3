"""Building blocks shared by every domain's API schemas: the
camelCase base model and the validated text fields every body uses.

Every rule here is also in the OpenAPI document as a JSON Schema constraint
(length, pattern), built from the same character tables, so a client (and the
schemathesis contract test) can tell a valid body from the schema alone;
`tests/unit/test_field_schemas.py` checks that validator and pattern agree.

Every text field rejects NUL characters and text that is not valid Unicode (a
lone surrogate), so no request body can make PostgreSQL fail with a 500.
Lengths count the characters as sent. Names are at most 100 characters,
without control or bidirectional control characters, with at least one
visible character (zero-width, format and blank letters do not count), and
are trimmed. URLs are absolute http(s) with a plain host name, at most 2048
characters, no spaces, control characters, backslashes or user info.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

NAME_MAX = 100
URL_MAX = 2048
PASSWORD_MIN = 8
PASSWORD_MAX = 1024

Ranges = tuple[tuple[int, int], ...]

# C0, DEL and C1 control characters.
CONTROL: Ranges = ((0x00, 0x1F), (0x7F, 0x9F))
# Characters that reorder the text around them (Trojan Source, "Ada\u202eecilA").
BIDI_CONTROLS: Ranges = (
    (0x061C, 0x061C),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    (0x2066, 0x2069),
)
# Characters that render as nothing (Unicode 14, Python 3.11): whitespace
# (`str.isspace`), format characters (category Cf: zero-width spaces and
# joiners, BOM, soft hyphen, word joiner, tags) and letters that render blank
# (Hangul fillers, blank Braille, Mongolian vowel separator, Khmer inherent
# vowels). tests/unit/test_field_schemas.py recomputes it from `unicodedata`.
INVISIBLE: Ranges = (
    (0x0009, 0x000D), (0x001C, 0x0020), (0x0085, 0x0085), (0x00A0, 0x00A0),
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD),
    (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x115F, 0x1160),
    (0x1680, 0x1680), (0x17B4, 0x17B5), (0x180E, 0x180E), (0x2000, 0x200F),
    (0x2028, 0x202F), (0x205F, 0x2064), (0x2066, 0x206F), (0x2800, 0x2800),
    (0x3000, 0x3000), (0x3164, 0x3164), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0),
    (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)  # fmt: skip
# What `str.isspace` (and so `str.strip`) counts as whitespace.
WHITESPACE: Ranges = (
    (0x0009, 0x000D), (0x001C, 0x0020), (0x0085, 0x0085), (0x00A0, 0x00A0),
    (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F),
    (0x205F, 0x205F), (0x3000, 0x3000),
)  # fmt: skip


def _chars(*tables: Ranges) -> frozenset[str]:
    return frozenset(
        chr(c) for table in tables for first, last in table for c in range(first, last + 1)
    )


def _escape(code: int) -> str:
    # \uXXXX reads the same in Python's `re` and in ECMA-262 (JSON Schema);
    # characters beyond the BMP go in literally (one code point in both).
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


def _outside(*tables: Ranges, extra: str = "") -> str:
    """A regex class of every character outside `tables` (and `extra`)."""
    parts = [
        _escape(first) if first == last else f"{_escape(first)}-{_escape(last)}"
        for table in tables
        for first, last in table
    ]
    return f"[^{''.join(parts)}{extra}]"


_CONTROL_CHARS = _chars(CONTROL)
_BIDI_CHARS = _chars(BIDI_CONTROLS)
_INVISIBLE_CHARS = _chars(INVISIBLE)

_NUL = "\\u0000"
_BACKSLASH = "\\\\"
NO_NUL_PATTERN = f"^[^{_NUL}]*$"
# No control or bidi character anywhere, and one visible character somewhere.
NAME_PATTERN = (
    f"^{_outside(CONTROL, BIDI_CONTROLS)}*"
    f"{_outside(CONTROL, BIDI_CONTROLS, INVISIBLE)}"
    f"{_outside(CONTROL, BIDI_CONTROLS)}*$"
)
# Not blank once trimmed, and no NUL.
NONBLANK_PATTERN = f"^[^{_NUL}]*{_outside(WHITESPACE, extra=_NUL)}[^{_NUL}]*$"
# http(s), a plain host name (letters, digits, ".", "_", "~", "-"), an optional
# port, then anything but whitespace, control characters and backslashes.
URL_PATTERN = (
    "^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~-]+(?::[0-9]*)?"
    f"(?:[/?#]{_outside(CONTROL, WHITESPACE, extra=_BACKSLASH)}*)?$"
)

_URL = re.compile(URL_PATTERN)


def schema(**constraints: Any) -> Any:
    """JSON Schema constraints that the field's own validator enforces."""
    return Field(json_schema_extra=constraints)


def _nothing() -> None:
    return None


def unchanged() -> Any:
    """The default of a PATCH field that may be left out (unchanged) but not
    sent as null: None inside, and no `default: null` in the document (a
    default factory is not rendered), which the field's own type would refuse."""
    return Field(default_factory=_nothing)


class ApiModel(BaseModel):
    """Base of every request and response body: camelCase JSON keys, snake_case
    attributes (either accepted on input)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


def clean_text(value: object) -> object:
    """Reject NUL characters and lone surrogates in any string."""
    if not isinstance(value, str):
        return value
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _check_name(value: str) -> str:
    if all(char in _INVISIBLE_CHARS for char in value):  # also true for ""
        raise ValueError("must not be empty")
    if len(value) > NAME_MAX:
        raise ValueError(f"must be at most {NAME_MAX} characters")
    if not _CONTROL_CHARS.isdisjoint(value):
        raise ValueError("must not contain control characters")
    if not _BIDI_CHARS.isdisjoint(value):
        raise ValueError("must not contain bidirectional control characters")
    return value.strip()


def _check_url(value: str) -> str:
    if len(value) > URL_MAX:
        raise ValueError(f"must be at most {URL_MAX} characters")
    if any(char.isspace() or char in _CONTROL_CHARS for char in value):
        raise ValueError("must not contain spaces or control characters")
    # Browsers read "http://evil.com\\@good.com/" as evil.com; user info
    # ("good.com@evil.com") is the classic way to disguise a host.
    if "\\" in value:
        raise ValueError("must not contain backslashes")
    if "@" in re.split("[/?#]", value.partition("://")[2], maxsplit=1)[0]:
        raise ValueError("must not contain user info (user@host)")
    if not _URL.fullmatch(value):
        raise ValueError("must be a valid http or https URL")
    return value


def _check_email(value: str) -> str:
    """An address as JSON Schema's `format: email` reads it (RFC 5321), checked
    by email-validator without DNS, lower-cased. Not a display name
    ("Ada <ada@example.com>", which pydantic's EmailStr would take). Names in
    the special-use domains other than `.test` (`.local`, `.localhost`,
    `.invalid`, `.onion`, `.arpa`) are refused, which the format does not say."""
    try:
        address = validate_email(value.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None
    return address.normalized.lower()


def _check_password(value: str) -> str:
    if len(value) < PASSWORD_MIN:
        raise ValueError(f"must be at least {PASSWORD_MIN} characters")
    if len(value) > PASSWORD_MAX:
        raise ValueError(f"must be at most {PASSWORD_MAX} characters")
    return value


def _check_login_text(value: str) -> str:
    if len(value) > PASSWORD_MAX:
        raise ValueError(f"must be at most {PASSWORD_MAX} characters")
    return value


def reject_null(value: object) -> object:
    if value is None:
        raise ValueError("must not be null")
    return value


def unique(values: Iterable[object]) -> None:
    """Raise when `values` repeats an item (JSON Schema `uniqueItems`)."""
    items = list(values)
    if len(set(items)) != len(items):
        raise ValueError("must not repeat an item")


Name = Annotated[
    str,
    BeforeValidator(clean_text),
    AfterValidator(_check_name),
    schema(minLength=1, maxLength=NAME_MAX, pattern=NAME_PATTERN),
]
ImageUrl = Annotated[
    str,
    BeforeValidator(clean_text),
    AfterValidator(_check_url),
    schema(maxLength=URL_MAX, pattern=URL_PATTERN),
]
# For PATCH bodies: may be left out (unchanged) but not sent as null. The
# null check runs before the type's own, so `null` reads "must not be null".
NameChange = Annotated[Name, BeforeValidator(reject_null)]
Email = Annotated[
    str, BeforeValidator(clean_text), AfterValidator(_check_email), schema(format="email")
]
NewPassword = Annotated[
    str,
    BeforeValidator(clean_text),
    AfterValidator(_check_password),
    schema(minLength=PASSWORD_MIN, maxLength=PASSWORD_MAX, pattern=NO_NUL_PATTERN),
]
LoginText = Annotated[
    str,
    BeforeValidator(clean_text),
    AfterValidator(_check_login_text),
    schema(maxLength=PASSWORD_MAX, pattern=NO_NUL_PATTERN),
]
