"""Storage-neutral records: what both stores hold for a DM, field for field,
the order of a message's versions, and the author view both can render it with.
Each store's adapter converts its own shape to and from these; API schemas
are built from them and never from a storage shape.

The version order (`version_key`) is total, so two stores that apply the same
versions in different orders end with the same one:

    1. deleted            a delete wins over every edit, whatever their times:
                          deleting is final (an edit that read the message
                          before it was deleted must not bring it back)
    2. updatedAt          later wins
    3. content            then the greater content, by code point
    4. fileUrl            then a file URL over none, then the greater URL

Code-point order is UTF-8 byte order, which is how MongoDB compares strings
(no collation) and how PostgreSQL compares them `COLLATE "C"`. Each store's
conditional write states this same order in its own language and is tested
against this function: `_older_filter` in `storage/mongo/direct_messages.py`,
`_version_key` in `storage/postgres/direct_messages.py`. Replay, merged reads and
anti-entropy use `newest` below.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

TOMBSTONE_TEXT = "This message has been deleted."


def now_ms() -> datetime:
    """Now, in UTC, truncated to milliseconds (BSON dates hold milliseconds, so
    both stores can hold the same value)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def later_than(previous: datetime) -> datetime:
    """A timestamp strictly after `previous`: last-writer-wins needs each
    version's `updatedAt` to increase even within one millisecond."""
    now = now_ms()
    return now if now > previous else previous + timedelta(milliseconds=1)


@dataclass(frozen=True)
class MessageRecord:
    """A message in any room; `room_id` is the conversation, group or channel id."""

    id: uuid.UUID
    room_id: uuid.UUID
    author_id: uuid.UUID
    content: str
    file_url: str | None
    deleted: bool
    nonce: str
    created_at: datetime
    updated_at: datetime

    def edited(self, content: str) -> MessageRecord:
        return replace(self, content=content, updated_at=later_than(self.updated_at))

    def tombstone(self) -> MessageRecord:
        return replace(
            self,
            content=TOMBSTONE_TEXT,
            file_url=None,
            deleted=True,
            updated_at=later_than(self.updated_at),
        )

    def newer_than(self, other: MessageRecord) -> bool:
        """This version wins over `other` in the version order."""
        return version_key(self) > version_key(other)


def version_key(record: MessageRecord) -> tuple[bool, datetime, str, bool, str]:
    """Where a version stands in the total order of a message's versions
    (module docstring): (deleted, updatedAt, content, has a file, file URL)."""
    file_url = record.file_url
    return (record.deleted, record.updated_at, record.content, file_url is not None, file_url or "")


def newest(a: MessageRecord, b: MessageRecord) -> MessageRecord:
    """The version that wins: last writer wins, ties broken by `version_key`."""
    return b if b.newer_than(a) else a


@dataclass(frozen=True)
class Author:
    """How a message's author is shown: from PostgreSQL or MongoDB's mirror."""

    id: uuid.UUID
    name: str
    image_url: str | None
    member_id: uuid.UUID | None = None  # channel messages: the author's membership
    role: str | None = None  # channel messages: the author's role


@dataclass(frozen=True)
class PageQuery:
    """Newest-first before `before` (or from the newest), or oldest-first after
    `after`; `limit + 1` rows are fetched so callers know whether more exist."""

    room_id: uuid.UUID
    limit: int
    before: uuid.UUID | None = None
    after: uuid.UUID | None = None

    @property
    def ascending(self) -> bool:
        return self.after is not None


@dataclass(frozen=True)
class ChangeQuery:
    """A room's messages whose version `(updated_at, id)` is after `after` (from
    the first when None), oldest version first; `limit + 1` rows are fetched so
    callers know whether more exist. A message appears once, as stored now."""

    room_id: uuid.UUID
    limit: int
    after: tuple[datetime, uuid.UUID] | None = None


def feed_position(record: MessageRecord) -> tuple[datetime, uuid.UUID]:
    """Where a message's current version sits in the change feed's order."""
    return record.updated_at, record.id
