"""Input hygiene for names and URLs (issue 15): nothing that renders as an
empty name or reorders text, and no URL a browser reads differently."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from parley.fields import ImageUrl, Name

NAME: TypeAdapter[str] = TypeAdapter(Name)
URL: TypeAdapter[str] = TypeAdapter(ImageUrl)


@pytest.mark.parametrize(
    "name",
    [
        "\u200b",
        "\u200b\u200c\u200d\ufeff",
        " \u2060 \u00ad ",
        "\u3164",
        "\u2800\u2800",
        "\u115f\u1160",
    ],
)
def test_names_that_render_empty_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        NAME.validate_python(name)


@pytest.mark.parametrize("name", ["Ada\u202eecilA", "\u2067Bob\u2069", "Eve\u200f", "x\u061c"])
def test_bidi_controls_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError, match="bidirectional"):
        NAME.validate_python(name)


@pytest.mark.parametrize("name", ["Ada", "Zoë", "李雷", "👩\u200d💻 Ada", "مرحبا", "a b"])
def test_real_names_pass(name: str) -> None:
    assert NAME.validate_python(name) == name


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.com\\@good.com/",
        "https://good.com\\evil",
        "https://user:pass@good.com/a.png",
        "https://good.com@evil.com/a.png",
        "https://@good.com/a.png",
    ],
)
def test_urls_with_user_info_or_backslashes_are_rejected(url: str) -> None:
    with pytest.raises(ValidationError):
        URL.validate_python(url)


@pytest.mark.parametrize(
    "url", ["https://cdn.example.com/a.png", "http://example.com:8080/x?y=1#z"]
)
def test_plain_urls_pass(url: str) -> None:
    assert URL.validate_python(url) == url
