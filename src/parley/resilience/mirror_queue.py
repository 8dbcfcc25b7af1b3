"""Queueing the MongoDB mirror of DM-relevant PostgreSQL changes.

A DM conversation's creation and a profile's name/image change are written to
PostgreSQL by the community services; in the *same transaction* they call one of
these functions, which adds a durable row to `mongo_replay_queue`. The replay
worker then upserts the mirror document into MongoDB (right away, or when
MongoDB returns), so DMs can be authorised and rendered while PostgreSQL is down.
"""

from __future__ import annotations

import uuid

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.direct_messages import MESSAGE as KIND_MESSAGE
from parley.storage.postgres.models import ReplayEntry

__all__ = [
    "KIND_CONVERSATION",
    "KIND_MESSAGE",
    "KIND_PROFILE",
    "queue_conversation_mirror",
    "queue_profile_mirror",
]

KIND_CONVERSATION = "conversation"
KIND_PROFILE = "profile"


async def queue_conversation_mirror(session: AsyncSession, conversation_id: uuid.UUID) -> None:
    await session.execute(
        insert(ReplayEntry).values(
            kind=KIND_CONVERSATION,
            entity_id=conversation_id,
            conversation_id=conversation_id,
            missed=True,  # nothing else writes the mirror: due at once
        )
    )


async def queue_profile_mirror(session: AsyncSession, profile_id: uuid.UUID) -> None:
    await session.execute(
        insert(ReplayEntry).values(kind=KIND_PROFILE, entity_id=profile_id, missed=True)
    )
