"""Helpers for DM tests: reading both stores directly, field for field."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text

from parley.state import AppState
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo.schema import DIRECT_MESSAGES, PG_REPLAY_QUEUE, key
from parley.storage.postgres.messages import DIRECT_MESSAGES as PG_DIRECT_MESSAGES
from parley.storage.records import MessageRecord


async def mongo_messages(state: AppState, room_id: uuid.UUID) -> dict[uuid.UUID, MessageRecord]:
    cursor = state.mongo.db[DIRECT_MESSAGES].find({"conversationId": key(room_id)})
    records = [mongo_dm.from_document(doc) async for doc in cursor]
    return {record.id: record for record in records}


async def postgres_messages(state: AppState, room_id: uuid.UUID) -> dict[uuid.UUID, MessageRecord]:
    table = PG_DIRECT_MESSAGES
    async with state.postgres.sessionmaker() as session:
        rows = (await session.execute(select(table.table).where(table.room == room_id))).all()
    return {row.id: table.to_record(row) for row in rows}


async def stores_agree(state: AppState, room_id: uuid.UUID) -> bool:
    return await mongo_messages(state, room_id) == await postgres_messages(state, room_id)


async def markers_left(state: AppState) -> tuple[int, int]:
    """(PostgreSQL queue rows, MongoDB documents still marked pending)."""
    async with state.postgres.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT count(*) FROM mongo_replay_queue"))).scalar()
    pending = await state.mongo.db[PG_REPLAY_QUEUE].count_documents({})
    return int(rows or 0), pending
