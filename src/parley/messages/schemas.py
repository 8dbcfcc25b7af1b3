"""API models for messages; independent of both storage shapes."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from parley.fields import NO_NUL_PATTERN, NONBLANK_PATTERN, ImageUrl, clean_text, schema

MAX_CONTENT = 4000
MAX_NONCE = 64


def _trimmed_content(value: str) -> str:
    if len(value) > MAX_CONTENT:
        raise ValueError(f"must be at most {MAX_CONTENT} characters")
    return value.strip()


# At most 4000 characters as sent, then trimmed; may be blank only beside a fileUrl.
Content = Annotated[
    str,
    BeforeValidator(clean_text),
    AfterValidator(_trimmed_content),
    schema(maxLength=MAX_CONTENT, pattern=NO_NUL_PATTERN),
]
Nonce = Annotated[
    str,
    BeforeValidator(clean_text),
    Field(min_length=1, max_length=MAX_NONCE),
    schema(pattern=NO_NUL_PATTERN),
]
# "content or fileUrl": the model validators below, as JSON Schema.
_CONTENT_OR_FILE: JsonDict = {
    "anyOf": [
        {"required": ["content"], "properties": {"content": {"pattern": NONBLANK_PATTERN}}},
        {"required": ["fileUrl"], "properties": {"fileUrl": {"type": "string"}}},
    ]
}
# An edit cannot blank a message.
EditedContent = Annotated[Content, schema(maxLength=MAX_CONTENT, pattern=NONBLANK_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class MessageCreate(_Model):
    model_config = ConfigDict(json_schema_extra=_CONTENT_OR_FILE)

    content: Content = ""
    file_url: ImageUrl | None = None
    nonce: Nonce | None = None
    # Set on a repeat of a send whose answer never arrived (with its nonce): a
    # DM retry then needs both stores to say whether the first one landed.
    retry: bool = False

    @model_validator(mode="after")
    def _content_or_file(self) -> MessageCreate:
        if not self.content and not self.file_url:
            raise ValueError("content must be 1-4000 characters unless fileUrl is given")
        return self


class MessageEdit(_Model):
    content: EditedContent

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
