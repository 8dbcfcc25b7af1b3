"""PostgreSQL reads for anti-entropy: conversations in id order, each
conversation's fingerprint computed in SQL, row digests page by page, the
DMs still queued for MongoDB, and the mirror's sources in id order. Repair
writes nothing here: it goes through the replay queues.

The row digest is the SQL twin of `storage.fingerprint.row_digest`; the two
must produce the same text for the same version.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.fingerprint import ChunkSum
from parley.storage.postgres.messages import DIRECT_MESSAGES
from parley.storage.postgres.models import Conversation, Profile, ReplayEntry
from parley.storage.postgres.replay_queue import MESSAGE

_table = DIRECT_MESSAGES.table

# The row digest is the SQL twin of `fingerprint.row_digest` (NO_FILE is "-");
# it appears literally in both statements below.
_CHUNK_SUMS = text("""
SELECT conversation_id, count(*),
       coalesce(sum(('x' || substr(d, 1, 16))::bit(64)::bigint), 0),
       coalesce(sum(('x' || substr(d, 17, 16))::bit(64)::bigint), 0)
FROM (SELECT conversation_id,
             md5(id::text || '|' || floor(extract(epoch FROM updated_at) * 1000)::bigint
                 || '|' || CASE WHEN deleted THEN 't' ELSE 'f' END || '|' || md5(content)
                 || '|' || coalesce(md5(file_url), '-')) AS d
      FROM direct_messages
      WHERE conversation_id = ANY(:ids)
        AND (CAST(:since AS timestamptz) IS NULL OR updated_at >= :since)) AS rows
GROUP BY conversation_id
""").bindparams(bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True))))

_ROW_DIGESTS = text("""
SELECT id, md5(id::text || '|' || floor(extract(epoch FROM updated_at) * 1000)::bigint
               || '|' || CASE WHEN deleted THEN 't' ELSE 'f' END || '|' || md5(content)
               || '|' || coalesce(md5(file_url), '-'))
FROM direct_messages
WHERE conversation_id = :conversation
  AND (CAST(:after AS uuid) IS NULL OR id > :after)
  AND (CAST(:since AS timestamptz) IS NULL OR updated_at >= :since)
ORDER BY id LIMIT :limit
""")


async def count_conversations(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Conversation))).scalar_one())


async def conversations_after(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """The next `limit` DM conversation ids in id order: the walk's chunks."""
    statement = select(Conversation.id).order_by(Conversation.id).limit(limit)
    if after is not None:
        statement = statement.where(Conversation.id > after)
    return list((await session.execute(statement)).scalars())


async def chunk_sums(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID], since: datetime | None
) -> dict[uuid.UUID, ChunkSum]:
    """Each conversation's fingerprint, aggregated in the database (one row per
    conversation crosses the wire, not one per message)."""
    rows = await session.execute(_CHUNK_SUMS, {"ids": list(conversation_ids), "since": since})
    return {row[0]: ChunkSum(int(row[1]), int(row[2]), int(row[3])) for row in rows}


async def row_digests(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    after: uuid.UUID | None,
    limit: int,
    since: datetime | None,
) -> list[tuple[uuid.UUID, str]]:
    """(id, row digest) of the next `limit` messages of a conversation after `after`."""
    params = {"conversation": conversation_id, "after": after, "since": since, "limit": limit}
    return [(row[0], row[1]) for row in await session.execute(_ROW_DIGESTS, params)]


async def queued_message_ids(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """DMs with a change still queued for MongoDB: in flight, not divergent."""
    queue = ReplayEntry.__table__
    rows = await session.execute(
        select(queue.c.entity_id).where(
            queue.c.kind == MESSAGE, queue.c.conversation_id.in_(list(conversation_ids))
        )
    )
    return {row[0] for row in rows}


async def profiles_after(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, Any]]:
    """(id, (name, image URL)) of profiles in id order: what the mirror must hold."""
    statement = select(Profile.id, Profile.name, Profile.image_url).order_by(Profile.id)
    if after is not None:
        statement = statement.where(Profile.id > after)
    rows = await session.execute(statement.limit(limit))
    return [(row[0], (row[1], row[2])) for row in rows]


async def conversation_pairs_after(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, Any]]:
    """(id, (profile one, profile two)) of DM conversations in id order."""
    statement = select(
        Conversation.id, Conversation.profile_one_id, Conversation.profile_two_id
    ).order_by(Conversation.id)
    if after is not None:
        statement = statement.where(Conversation.id > after)
    rows = await session.execute(statement.limit(limit))
    return [(row[0], tuple(sorted((row[1], row[2])))) for row in rows]


async def queued_mirror_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Profiles and conversations whose mirror change is still queued."""
    queue = ReplayEntry.__table__
    rows = await session.execute(
        select(queue.c.entity_id).where(queue.c.kind != MESSAGE, queue.c.entity_id.in_(list(ids)))
    )
    return {row[0] for row in rows}
