"""PostgreSQL reads of what DMs need from PostgreSQL-owned data: the sources of
MongoDB's mirror (conversations and profiles by id) and the participant and
author lookups DMs make while PostgreSQL answers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.models import Conversation, Profile
from parley.storage.records import Author

Pair = tuple[uuid.UUID, uuid.UUID]


async def dm_participants(session: AsyncSession, conversation_id: uuid.UUID) -> Pair | None:
    row = (
        await session.execute(
            select(Conversation.profile_one_id, Conversation.profile_two_id).where(
                Conversation.id == conversation_id
            )
        )
    ).first()
    return (row[0], row[1]) if row else None


async def authors(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Author]:
    rows = await session.execute(
        select(Profile.id, Profile.name, Profile.image_url).where(Profile.id.in_(list(ids)))
    )
    return {row[0]: Author(row[0], row[1], row[2]) for row in rows}


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


# (id, name, image URL, updated at): what the MongoDB mirror of a profile holds.
ProfileRow = tuple[uuid.UUID, str, str | None, datetime]


async def profiles_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[ProfileRow]:
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
