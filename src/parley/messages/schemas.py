"""API models for messages; independent of both storage shapes."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from parley.fields import ImageUrl, clean_text

MAX_CONTENT = 4000
MAX_NONCE = 64


def _trimmed_content(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_CONTENT:
        raise ValueError(f"must be at most {MAX_CONTENT} characters after trimming")
    return value


Content = Annotated[str, BeforeValidator(clean_text), AfterValidator(_trimmed_content)]
Nonce = Annotated[str, BeforeValidator(clean_text), Field(min_length=1, max_length=MAX_NONCE)]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class MessageCreate(_Model):
    content: Content = ""
    file_url: ImageUrl | None = None
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


class ChangePage(_Model):
    """`GET /api/rooms/{id}/changes`: messages created, edited or deleted after
    the cursor, oldest version first; `cursor` is opaque, pass it as `since`."""

    items: list[MessageOut]
    cursor: str
    more: bool
