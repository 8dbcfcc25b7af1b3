"""The validated text fields every community, auth and rooms body uses."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from parley.fields import Email, ImageUrl, Name, NameChange, NewPassword

NAME = TypeAdapter(Name)
URL = TypeAdapter(ImageUrl)
EMAIL = TypeAdapter(Email)
PASSWORD = TypeAdapter(NewPassword)


def test_names_are_trimmed() -> None:
    assert NAME.validate_python("  Ada  ") == "Ada"
    assert NAME.validate_python("x" * 100) == "x" * 100
    assert NAME.validate_python("  " + "é" * 96 + "  ") == "é" * 96


def test_name_length_counts_the_characters_as_sent() -> None:
    """As the schema's maxLength does: spaces that trimming removes count."""
    with pytest.raises(ValidationError, match="at most 100"):
        NAME.validate_python("  " + "é" * 100 + "  ")


@pytest.mark.parametrize(
    "value", ["", "   ", "x" * 101, "a\x00b", "\ud800", "new\nline", "bell\x07", "del\x7f", 5]
)
def test_bad_names_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        NAME.validate_python(value)


def test_name_change_refuses_explicit_null() -> None:
    with pytest.raises(ValidationError, match="must not be null"):
        TypeAdapter(NameChange).validate_python(None)


@pytest.mark.parametrize(
    "value",
    ["https://example.com/a.png", "http://127.0.0.1:8000/x?y=1#z", "HTTPS://EXAMPLE.COM"],
)
def test_good_urls(value: str) -> None:
    assert URL.validate_python(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "ftp://example.com/a", "javascript:alert(1)", "//example.com/a", "example.com",
        "http://", "https://exa mple.com", "http://[::1", "http://a\x00b",
        "https://example.com/" + "a" * 2030, "data:text/html,hi", "\ud800",
    ],
)  # fmt: skip
def test_bad_urls(value: str) -> None:
    with pytest.raises(ValidationError):
        URL.validate_python(value)


def test_emails_are_lower_cased() -> None:
    assert EMAIL.validate_python(" Ada@Example.COM ") == "ada@example.com"


@pytest.mark.parametrize("value", ["ada", "ada@", "@example.com", "a\x00@example.com", "\ud800"])
def test_bad_emails(value: str) -> None:
    with pytest.raises(ValidationError):
        EMAIL.validate_python(value)


@pytest.mark.parametrize("value", ["short", "x" * 1025, "pass\x00word", "\ud800" * 8])
def test_bad_new_passwords(value: str) -> None:
    with pytest.raises(ValidationError):
        PASSWORD.validate_python(value)
