"""API models for messages; independent of both storage shapes."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

MAX_CONTENT = 4000
MAX_URL = 2048
MAX_NONCE = 64


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _trimmed_content(value: str) -> str:
    value = _no_nul(value).strip()
    if len(value) > MAX_CONTENT:
        raise ValueError(f"must be at most {MAX_CONTENT} characters after trimming")
    return value


def _http_url(value: str) -> str:
    value = _no_nul(value).strip()
    if len(value) > MAX_URL:
        raise ValueError(f"must be at most {MAX_URL} characters")
    scheme, sep, rest = value.partition("://")
    if scheme.lower() not in {"http", "https"} or not sep or not rest or " " in value:
        raise ValueError("must be an http(s) URL")
    return value


Content = Annotated[str, AfterValidator(_trimmed_content)]
FileUrl = Annotated[str, AfterValidator(_http_url)]
Nonce = Annotated[str, Field(min_length=1, max_length=MAX_NONCE), AfterValidator(_no_nul)]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class MessageCreate(_Model):
    content: Content = ""
    file_url: FileUrl | None = None
    nonce: Nonce | None = None

    @model_validator(mode="after")
    def _content_or_file(self) -> MessageCreate:
        if not self.content and not self.file_url:
            raise ValueError("content must be 1-4000 characters unless fileUrl is given")
        return self


class MessageEdit(_Model):
    content: Content

    @model_validator(mode="after")
    def _not_empty(self) -> MessageEdit:
        if not self.content:
            raise ValueError("content must be 1-4000 characters")
        return self


class AuthorOut(_Model):
    id: uuid.UUID
    name: str
    image_url: str | None


class MessageOut(_Model):
    """The message JSON (documentation model; channel messages add `memberId`
    and `role`)."""

    id: uuid.UUID
    room_id: uuid.UUID
    content: str
    file_url: str | None
    deleted: bool
    created_at: str
    updated_at: str
    author: AuthorOut
    member_id: uuid.UUID | None = None
    role: str | None = None


class MessagePage(_Model):
    items: list[MessageOut]
    next_cursor: uuid.UUID | None
