"""Message JSON, built the same way whichever store served the record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from parley.storage.records import MessageRecord

UNKNOWN_AUTHOR = "Unknown user"


@dataclass(frozen=True)
class AuthorView:
    id: uuid.UUID
    name: str
    image_url: str | None
    member_id: uuid.UUID | None = None
    role: str | None = None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_json(
    record: MessageRecord, author: AuthorView | None, *, channel: bool = False
) -> dict[str, Any]:
    view = author or AuthorView(record.author_id, UNKNOWN_AUTHOR, None)
    body: dict[str, Any] = {
        "id": str(record.id),
        "roomId": str(record.room_id),
        "content": record.content,
        "fileUrl": record.file_url,
        "deleted": record.deleted,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
        "author": {"id": str(view.id), "name": view.name, "imageUrl": view.image_url},
    }
    if channel:
        body["memberId"] = str(view.member_id) if view.member_id else None
        body["role"] = view.role
    return body
