"""PostgreSQL adapter for messages in every room kind.

`MessageTable` binds one of the three message tables (channel, group, direct)
to its room column, so paging, lookups and inserts are written once. DM-only
writes (with their replay-queue rows in the same statement) live in
`direct_messages.py`. All functions take the session of a transaction opened by
`PostgresDatabase.run(<operation name>, ...)`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.models import (
    ChannelMessage,
    DirectMessage,
    GroupMessage,
    Member,
    Profile,
)
from parley.storage.records import Author, ChangeQuery, MessageRecord, PageQuery


@dataclass(frozen=True)
class MessageTable:
    table: Table
    room_column: str

    @property
    def room(self) -> Column[Any]:
        return self.table.c[self.room_column]

    def to_record(self, row: Any) -> MessageRecord:
        m = row._mapping
        return MessageRecord(
            id=m["id"],
            room_id=m[self.room_column],
            author_id=m["author_id"],
            content=m["content"],
            file_url=m["file_url"],
            deleted=m["deleted"],
            nonce=m["nonce"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )

    def values(self, record: MessageRecord) -> dict[str, Any]:
        return {
            "id": record.id,
            self.room_column: record.room_id,
            "author_id": record.author_id,
            "content": record.content,
            "file_url": record.file_url,
            "deleted": record.deleted,
            "nonce": record.nonce,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        }


CHANNEL_MESSAGES = MessageTable(ChannelMessage.__table__, "channel_id")  # type: ignore[arg-type]
GROUP_MESSAGES = MessageTable(GroupMessage.__table__, "group_id")  # type: ignore[arg-type]
DIRECT_MESSAGES = MessageTable(DirectMessage.__table__, "conversation_id")  # type: ignore[arg-type]


async def get(
    session: AsyncSession, table: MessageTable, room_id: uuid.UUID, message_id: uuid.UUID
) -> MessageRecord | None:
    row = (
        await session.execute(
            select(table.table).where(table.table.c.id == message_id, table.room == room_id)
        )
    ).first()
    return table.to_record(row) if row else None


async def get_by_nonce(
    session: AsyncSession, table: MessageTable, room_id: uuid.UUID, author_id: uuid.UUID, nonce: str
) -> MessageRecord | None:
    row = (
        await session.execute(
            select(table.table).where(
                table.room == room_id,
                table.table.c.author_id == author_id,
                table.table.c.nonce == nonce,
            )
        )
    ).first()
    return table.to_record(row) if row else None


async def page(session: AsyncSession, table: MessageTable, query: PageQuery) -> list[MessageRecord]:
    id_column = table.table.c.id
    statement = select(table.table).where(table.room == query.room_id)
    if query.after is not None:
        statement = statement.where(id_column > query.after).order_by(id_column.asc())
    else:
        if query.before is not None:
            statement = statement.where(id_column < query.before)
        statement = statement.order_by(id_column.desc())
    rows = (await session.execute(statement.limit(query.limit + 1))).all()
    return [table.to_record(row) for row in rows]


async def changes(
    session: AsyncSession, table: MessageTable, query: ChangeQuery
) -> list[MessageRecord]:
    """The change feed: messages by version `(updated_at, id)` after
    `query.after`, oldest first; one range scan of the (room, updated_at, id)
    index (migration 0005), so a page costs what it returns."""
    columns = table.table.c
    statement = select(table.table).where(table.room == query.room_id)
    if query.after is not None:
        statement = statement.where(tuple_(columns.updated_at, columns.id) > tuple_(*query.after))
    statement = statement.order_by(columns.updated_at.asc(), columns.id.asc())
    rows = (await session.execute(statement.limit(query.limit + 1))).all()
    return [table.to_record(row) for row in rows]


async def insert_new(
    session: AsyncSession, table: MessageTable, record: MessageRecord, extra: dict[str, Any]
) -> bool:
    """Insert unless this author already used the nonce in the room; False then."""
    statement = (
        pg_insert(table.table)
        .values(**table.values(record), **extra)
        .on_conflict_do_nothing(index_elements=[table.room_column, "author_id", "nonce"])
        .returning(table.table.c.id)
    )
    return (await session.execute(statement)).first() is not None


async def save_version(session: AsyncSession, table: MessageTable, record: MessageRecord) -> None:
    """Store an edit or delete of an existing message (PostgreSQL-only rooms)."""
    await session.execute(
        update(table.table)
        .where(table.table.c.id == record.id)
        .values(
            content=record.content,
            file_url=record.file_url,
            deleted=record.deleted,
            updated_at=record.updated_at,
        )
    )


async def authors(
    session: AsyncSession, profile_ids: Iterable[uuid.UUID], server_id: uuid.UUID | None
) -> dict[uuid.UUID, Author]:
    """The authors of channel or group messages; in a channel (`server_id`) with
    their current membership and role in its server."""
    ids = list(set(profile_ids))
    if not ids:
        return {}
    if server_id is None:
        rows = await session.execute(
            select(Profile.id, Profile.name, Profile.image_url).where(Profile.id.in_(ids))
        )
        return {row[0]: Author(row[0], row[1], row[2]) for row in rows}
    statement = (
        select(Profile.id, Profile.name, Profile.image_url, Member.id, Member.role)
        .outerjoin(Member, (Member.profile_id == Profile.id) & (Member.server_id == server_id))
        .where(Profile.id.in_(ids))
    )
    members = await session.execute(statement)
    return {row[0]: Author(row[0], row[1], row[2], row[3], row[4]) for row in members}
