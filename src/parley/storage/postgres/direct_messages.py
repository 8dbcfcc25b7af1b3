"""PostgreSQL adapter for the DM copy (the queue itself is `replay_queue.py`).

Every DM change is written in one statement together with its
`mongo_replay_queue` row (crash insurance: if the process dies before MongoDB
is written, the row is still there). The row's id is returned so that the
caller can confirm exactly that change once MongoDB has it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
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
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.messages import DIRECT_MESSAGES
from parley.storage.postgres.models import ReplayEntry
from parley.storage.postgres.replay_queue import MESSAGE
from parley.storage.records import MessageRecord

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
# used in the conversation inserts nothing and gets no queue row. Rows of
# `:missed_ids` are written marked missed (MongoDB is known to refuse them).
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
INSERT INTO mongo_replay_queue (kind, entity_id, conversation_id, missed)
SELECT :kind, id, conversation_id, id = ANY(:missed_ids) FROM inserted
RETURNING entity_id, id
""").bindparams(
    *(bindparam(c, type_=ARRAY(_table.c[c].type)) for c in _COLUMNS),
    bindparam("kind", type_=String()),
    bindparam("missed_ids", type_=ARRAY(_table.c.id.type)),
)


async def insert_new_many(
    session: AsyncSession,
    records: Sequence[MessageRecord],
    missed: Collection[uuid.UUID] = frozenset(),
) -> dict[uuid.UUID, int]:
    """Insert new DMs with their queue rows in one statement; the queue row id
    of each one inserted (one whose nonce was already used is left out). The
    rows of `missed` are marked missed at once (MongoDB is known to refuse
    them), as `replay_queue.mark_missed` would after the write."""
    # Rows in nonce-index order, so that two batches racing for the same nonces
    # wait for each other instead of deadlocking.
    ordered = sorted(records, key=lambda r: (r.room_id, r.author_id, r.nonce))
    rows = [DIRECT_MESSAGES.values(r) for r in ordered]
    columns = {c: [row[c] for row in rows] for c in _COLUMNS}
    parameters = {**columns, "kind": MESSAGE, "missed_ids": list(missed)}
    inserted = await session.execute(_INSERT_NEW, parameters)
    return {entity: row_id for entity, row_id in inserted}


def _version_key(columns: Any) -> Any:
    """The version order (`storage.records.version_key`) over a row's columns:
    (deleted, updated_at, content, has a file, file URL), strings in byte
    order (`COLLATE "C"`, code-point order in UTF-8), false before true."""
    return tuple_(
        columns.deleted,
        columns.updated_at,
        columns.content.collate("C"),
        columns.file_url.is_not(None),
        func.coalesce(columns.file_url, "").collate("C"),
    )


def _newer_versions(records: Sequence[MessageRecord]) -> Any:
    """INSERT these versions; an existing row takes one only if the row is
    earlier in the version order (the same order as `records.newest`)."""
    upsert = pg_insert(_table).values([DIRECT_MESSAGES.values(r) for r in records])
    return upsert.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "content": upsert.excluded.content,
            "file_url": upsert.excluded.file_url,
            "deleted": upsert.excluded.deleted,
            "updated_at": upsert.excluded.updated_at,
        },
        where=_version_key(_table.c) < _version_key(upsert.excluded),
    )


async def upsert_newer(session: AsyncSession, record: MessageRecord) -> int | None:
    """Write this version unless the stored one is the same or later in the
    version order; returns the queue row id, or None when it is (this version lost)."""
    written = (
        _newer_versions([record]).returning(_table.c.id, _table.c.conversation_id).cte("written")
    )
    statement = _queue_row_for(written).returning(_queue.c.id)  # type: ignore[attr-defined]
    return (await session.execute(statement)).scalar()


async def upsert_many_newer(session: AsyncSession, records: Sequence[MessageRecord]) -> None:
    """Replay from MongoDB: write each version unless the stored one is the
    same or later in the version order."""
    if records:
        await session.execute(_newer_versions(records))


async def delete_message(session: AsyncSession, message_id: uuid.UUID) -> None:
    """Remove a row this request inserted but must not keep (a nonce retry that
    lost to an earlier send), with its queue rows; never a user-visible delete."""
    await session.execute(delete(_queue).where(_queue.c.entity_id == message_id))
    await session.execute(delete(_table).where(_table.c.id == message_id))


async def messages_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[MessageRecord]:
    if not ids:
        return []
    rows = (await session.execute(select(_table).where(_table.c.id.in_(list(ids))))).all()
    return [DIRECT_MESSAGES.to_record(row) for row in rows]
