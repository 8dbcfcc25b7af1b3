"""What a message operation answers: the JSON body, the HTTP status and, for
DMs, which stores served or accepted it (the `X-Data-Source` header)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parley.storage.records import MessageRecord


@dataclass(frozen=True)
class Reply:
    body: dict[str, Any]
    status: int = 200
    data_source: str | None = None


def page_body(
    items: list[dict[str, Any]], records: list[MessageRecord], limit: int
) -> dict[str, Any]:
    """`limit + 1` records were asked for: the extra one only says more exist."""
    more = len(records) > limit
    next_cursor = items[limit - 1]["id"] if more else None
    return {"items": items[:limit], "nextCursor": next_cursor}
