"""What a message operation answers, built the same way whichever store served
the record: the message JSON, a page of them, and the HTTP status and
`X-Data-Source` that go with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from parley.storage.records import Author, MessageRecord

UNKNOWN_AUTHOR = "Unknown user"


@dataclass(frozen=True)
class Reply:
    body: dict[str, Any]
    status: int = 200
    data_source: str | None = None  # DMs: the stores that served or accepted it


def created_or_found(body: dict[str, Any], created: bool, data_source: str | None = None) -> Reply:
    """201 for a new message, 200 for a nonce retry answered with the original."""
    return Reply(body, 201 if created else 200, data_source)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_json(
    record: MessageRecord, author: Author | None, *, channel: bool = False
) -> dict[str, Any]:
    view = author or Author(record.author_id, UNKNOWN_AUTHOR, None)
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


def page_body(
    items: list[dict[str, Any]], records: list[MessageRecord], limit: int
) -> dict[str, Any]:
    """`limit + 1` records were asked for: the extra one only says more exist."""
    more = len(records) > limit
    next_cursor = items[limit - 1]["id"] if more else None
    return {"items": items[:limit], "nextCursor": next_cursor}
