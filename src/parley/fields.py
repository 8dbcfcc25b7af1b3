"""Building blocks shared by every domain's API schemas: the
camelCase base model and the validated text fields every body uses.

Every text field rejects NUL characters and text that is not valid Unicode (a
lone surrogate), so no request body can make PostgreSQL fail with a 500.
Names are trimmed and 1-100 characters, not blank once invisible characters
(zero-width, format, blank letters) are ignored, without control or
bidirectional control characters; URLs are absolute http(s), at most 2048, with
no user info and no backslash.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, EmailStr
from pydantic.alias_generators import to_camel

NAME_MAX = 100
URL_MAX = 2048
EMAIL_MAX = 320
PASSWORD_MIN = 8
PASSWORD_MAX = 1024


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


# Characters that reorder the text around them (Trojan Source, "Ada\u202eecilA").
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Letters that render as blank space although Unicode does not call them spaces.
_BLANK_LETTERS = frozenset("\u115f\u1160\u17b4\u17b5\u180e\u2800\u3164\uffa0")


def _invisible(char: str) -> bool:
    """Renders as nothing: whitespace, format characters (zero-width spaces and
    joiners, BOM, soft hyphen, word joiner: category Cf) and blank letters."""
    return char.isspace() or unicodedata.category(char) == "Cf" or char in _BLANK_LETTERS


def _check_name(value: str) -> str:
    value = value.strip()
    if all(_invisible(char) for char in value):  # also true for ""
        raise ValueError("must not be empty")
    if len(value) > NAME_MAX:
        raise ValueError(f"must be at most {NAME_MAX} characters")
    if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in value):
        raise ValueError("must not contain control characters")
    if not _BIDI_CONTROLS.isdisjoint(value):
        raise ValueError("must not contain bidirectional control characters")
    return value


def _check_url(value: str) -> str:
    value = value.strip()
    if len(value) > URL_MAX:
        raise ValueError(f"must be at most {URL_MAX} characters")
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise ValueError("must be a valid http or https URL") from None
    if parts.scheme.lower() not in {"http", "https"} or not host:
        raise ValueError("must be a valid http or https URL")
    # Browsers read "http://evil.com\\@good.com/" as evil.com; user info
    # ("good.com@evil.com") is the classic way to disguise a host.
    if "\\" in value:
        raise ValueError("must not contain backslashes")
    if "@" in parts.netloc:
        raise ValueError("must not contain user info (user@host)")
    return value


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


def _reject_null(value: str | None) -> str | None:
    if value is None:
        raise ValueError("must not be null")
    return value


Name = Annotated[str, BeforeValidator(clean_text), AfterValidator(_check_name)]
ImageUrl = Annotated[str, BeforeValidator(clean_text), AfterValidator(_check_url)]
# For PATCH bodies: may be left out (unchanged) but not sent as null.
NameChange = Annotated[Name | None, AfterValidator(_reject_null)]
Email = Annotated[EmailStr, BeforeValidator(clean_text), AfterValidator(str.lower)]
NewPassword = Annotated[str, BeforeValidator(clean_text), AfterValidator(_check_password)]
LoginText = Annotated[str, BeforeValidator(clean_text), AfterValidator(_check_login_text)]


class ErrorOut(ApiModel):
    """Every error's body (rendered by `parley.errors`), for the OpenAPI document."""

    error: str
    detail: str


_ERROR_MEANINGS = {
    401: "Missing, invalid or expired token",
    403: "You can see it but may not do this",
    404: "Nothing by that id that you may see",
    409: "Conflicts with the current state (the code says which rule)",
    422: "The body or a parameter is invalid (detail names the field)",
    429: "Too many attempts; Retry-After says how many seconds to wait",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` entries for the given error statuses, all `ErrorOut`."""
    return {
        status: {"model": ErrorOut, "description": _ERROR_MEANINGS[status]} for status in statuses
    }
