"""PostgreSQL adapter for the DM copy and the replay queue towards MongoDB.

Every DM change is written in one statement together with its
`mongo_replay_queue` row (crash insurance: if the process dies before MongoDB
is written, the row is still there). The row's id is returned so that the
caller can confirm exactly that change once MongoDB has it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.messages import DIRECT_MESSAGES
from parley.storage.postgres.models import Conversation, Profile, ReplayEntry
from parley.storage.records import MessageRecord

MESSAGE = "message"
_table = DIRECT_MESSAGES.table
_queue: Table = ReplayEntry.__table__  # type: ignore[assignment]


def _queue_row_for(changed: object) -> object:
    """INSERT INTO the replay queue one row per row the CTE `changed` wrote."""
    return insert(_queue).from_select(
        ["kind", "entity_id", "conversation_id"],
        select(literal(MESSAGE), changed.c.id, changed.c.conversation_id),  # type: ignore[attr-defined]
    )


# The columns of a DM row as `DIRECT_MESSAGES.values` names them; each is one
# array parameter of the statement below, typed like its column.
_COLUMNS = (
    "id", "conversation_id", "author_id", "content", "file_url", "deleted", "nonce",
    "created_at", "updated_at",
)  # fmt: skip

# One statement shape for any number of new DMs (one array per column, not a
# VALUES row per DM), so the server prepares it once. A nonce its author already
# used in the conversation inserts nothing and gets no queue row.
_INSERT_NEW = text("""
WITH inserted AS (
    INSERT INTO direct_messages
        (id, conversation_id, author_id, content, file_url, deleted, nonce,
         created_at, updated_at)
    SELECT * FROM unnest(
        :id, :conversation_id, :author_id, :content, :file_url, :deleted, :nonce,
        :created_at, :updated_at)
    ON CONFLICT (conversation_id, author_id, nonce) DO NOTHING
    RETURNING id, conversation_id
)
INSERT INTO mongo_replay_queue (kind, entity_id, conversation_id)
SELECT :kind, id, conversation_id FROM inserted
RETURNING entity_id, id
""").bindparams(
    *(bindparam(c, type_=ARRAY(_table.c[c].type)) for c in _COLUMNS),
    bindparam("kind", type_=String()),
)


async def insert_new_many(
    session: AsyncSession, records: Sequence[MessageRecord]
) -> dict[uuid.UUID, int]:
    """Insert new DMs with their queue rows in one statement; the queue row id
    of each one inserted (one whose nonce was already used is left out)."""
    # Rows in nonce-index order, so that two batches racing for the same nonces
    # wait for each other instead of deadlocking.
    ordered = sorted(records, key=lambda r: (r.room_id, r.author_id, r.nonce))
    rows = [DIRECT_MESSAGES.values(r) for r in ordered]
    columns = {c: [row[c] for row in rows] for c in _COLUMNS}
    inserted = await session.execute(_INSERT_NEW, {**columns, "kind": MESSAGE})
    return {entity: row_id for entity, row_id in inserted}


def _newer_versions(records: Sequence[MessageRecord]) -> Any:
    """INSERT these versions; an existing row takes one only if it is older
    (last writer wins by updated_at)."""
    upsert = pg_insert(_table).values([DIRECT_MESSAGES.values(r) for r in records])
    return upsert.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "content": upsert.excluded.content,
            "file_url": upsert.excluded.file_url,
            "deleted": upsert.excluded.deleted,
            "updated_at": upsert.excluded.updated_at,
        },
        where=_table.c.updated_at < upsert.excluded.updated_at,
    )


async def upsert_newer(session: AsyncSession, record: MessageRecord) -> int | None:
    """Write this version unless the stored one is as new or newer; returns the
    queue row id, or None when a newer version was already stored."""
    written = (
        _newer_versions([record]).returning(_table.c.id, _table.c.conversation_id).cte("written")
    )
    statement = _queue_row_for(written).returning(_queue.c.id)  # type: ignore[attr-defined]
    return (await session.execute(statement)).scalar()


async def upsert_many_newer(session: AsyncSession, records: Sequence[MessageRecord]) -> None:
    """Replay from MongoDB: write each version unless a newer one is stored."""
    if records:
        await session.execute(_newer_versions(records))


async def mark_missed(session: AsyncSession, queue_row_id: int) -> None:
    """MongoDB missed this change: replay it now, and merge reads meanwhile."""
    await session.execute(
        update(_queue).where(_queue.c.id == queue_row_id).values(missed=True, not_before=func.now())
    )


async def queue_missed(session: AsyncSession, record: MessageRecord) -> None:
    """Queue a message MongoDB is missing (found during a nonce retry)."""
    await session.execute(
        insert(_queue).values(
            kind=MESSAGE, entity_id=record.id, conversation_id=record.room_id, missed=True
        )
    )


async def confirm(session: AsyncSession, queue_row_ids: Sequence[int]) -> None:
    """MongoDB has these changes: drop their queue rows."""
    if queue_row_ids:
        await session.execute(delete(_queue).where(_queue.c.id.in_(list(queue_row_ids))))


async def delete_message(session: AsyncSession, message_id: uuid.UUID) -> None:
    """Remove a row this request inserted but must not keep (a nonce retry that
    lost to an earlier send), with its queue rows; never a user-visible delete."""
    await session.execute(delete(_queue).where(_queue.c.entity_id == message_id))
    await session.execute(delete(_table).where(_table.c.id == message_id))


def _seconds_ago(seconds: float) -> object:
    return func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds)


@dataclass(frozen=True)
class QueueEntry:
    id: int
    kind: str
    entity_id: uuid.UUID
    missed: bool


async def claim_due(
    session: AsyncSession, limit: int, grace_seconds: float, lease_seconds: float
) -> list[QueueEntry]:
    """Lease up to `limit` due rows. `FOR UPDATE SKIP LOCKED` lets several
    instances claim concurrently without sharing a row; insurance rows younger
    than the grace period are left to the request that wrote them."""
    due = (
        select(_queue.c.id)
        .where(
            _queue.c.not_before <= func.now(),
            (_queue.c.missed.is_(True))
            | (
                _queue.c.created_at
                < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, grace_seconds)
            ),
        )
        .order_by(_queue.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(_queue)
        .where(_queue.c.id.in_(due))
        .values(
            not_before=_seconds_ago(-lease_seconds),
            attempts=_queue.c.attempts + 1,
        )
        .returning(_queue.c.id, _queue.c.kind, _queue.c.entity_id, _queue.c.missed)
    )
    rows = (await session.execute(statement)).all()
    return [QueueEntry(*row) for row in rows]


async def release(session: AsyncSession, queue_row_ids: Sequence[int]) -> None:
    """Delivery failed: make the rows due again now instead of after the lease."""
    if queue_row_ids:
        await session.execute(
            update(_queue).where(_queue.c.id.in_(list(queue_row_ids))).values(not_before=func.now())
        )


async def messages_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[MessageRecord]:
    if not ids:
        return []
    rows = (await session.execute(select(_table).where(_table.c.id.in_(list(ids))))).all()
    return [DIRECT_MESSAGES.to_record(row) for row in rows]


async def conversations_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, tuple[uuid.UUID, uuid.UUID], datetime]]:
    if not ids:
        return []
    rows = (
        await session.execute(
            select(
                Conversation.id,
                Conversation.profile_one_id,
                Conversation.profile_two_id,
                Conversation.created_at,
            ).where(Conversation.id.in_(list(ids)))
        )
    ).all()
    return [(row[0], (row[1], row[2]), row[3]) for row in rows]


async def profiles_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, str, str | None, datetime]]:
    if not ids:
        return []
    rows = (
        await session.execute(
            select(Profile.id, Profile.name, Profile.image_url, Profile.updated_at).where(
                Profile.id.in_(list(ids))
            )
        )
    ).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows]


async def conversations_with_missed(session: AsyncSession) -> set[uuid.UUID]:
    """Conversations MongoDB is known to lack changes for (reads merge them)."""
    rows = await session.execute(
        select(_queue.c.conversation_id)
        .where(_queue.c.missed.is_(True), _queue.c.kind == MESSAGE)
        .distinct()
    )
    return {row[0] for row in rows if row[0] is not None}
