"""`parley migrate`: PostgreSQL migrations, MongoDB collections and indexes, ids
stored as text in MongoDB (documents from before are converted), and the
backfill of the MongoDB mirror from PostgreSQL. Idempotent."""

from __future__ import annotations

from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.mongo.database import MongoDatabase
from parley.storage.mongo.mirror import (
    conversation_document,
    profile_document,
    upsert_conversations,
    upsert_profiles,
)
from parley.storage.mongo.schema import ensure_schema, keys_as_text
from parley.storage.postgres.database import PostgresDatabase
from parley.storage.postgres.migrate import upgrade_postgres
from parley.storage.postgres.models import Conversation, Profile

BATCH = 1000


async def migrate_all(postgres: PostgresDatabase, mongo: MongoDatabase) -> None:
    await upgrade_postgres(postgres.engine)
    await mongo.run("MIGRATE_MONGO_SCHEMA", ensure_schema, deadline=60)
    await mongo.run("MIGRATE_MONGO_KEYS_AS_TEXT", keys_as_text, deadline=3600)
    await backfill_mirror(postgres, mongo)


async def backfill_mirror(postgres: PostgresDatabase, mongo: MongoDatabase) -> None:
    async with postgres.sessionmaker() as session:
        await _backfill_profiles(session, mongo)
        await _backfill_conversations(session, mongo)


async def _backfill_profiles(session: AsyncSession, mongo: MongoDatabase) -> None:
    query = select(Profile.id, Profile.name, Profile.image_url, Profile.updated_at)
    result = await session.stream(query.execution_options(yield_per=BATCH))
    async for rows in result.partitions(BATCH):
        docs = [profile_document(*row) for row in rows]
        await mongo.run(
            "MIGRATE_BACKFILL_PROFILES", partial(upsert_profiles, docs=docs), deadline=60
        )


async def _backfill_conversations(session: AsyncSession, mongo: MongoDatabase) -> None:
    query = select(
        Conversation.id,
        Conversation.profile_one_id,
        Conversation.profile_two_id,
        Conversation.created_at,
    )
    result = await session.stream(query.execution_options(yield_per=BATCH))
    async for rows in result.partitions(BATCH):
        docs = [conversation_document(cid, (a, b), created) for cid, a, b, created in rows]
        await mongo.run(
            "MIGRATE_BACKFILL_CONVERSATIONS",
            partial(upsert_conversations, docs=docs),
            deadline=60,
        )
