"""The MongoDB mirror of what a DM needs from PostgreSQL: conversation
participants and the author's name and image. Written by the replay worker from
PostgreSQL's queue (`replay_queue.queue_*_mirror`), backfilled by `parley
migrate`, and read while PostgreSQL is unavailable."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from parley.storage.mongo.bulk import bulk_write_chunked
from parley.storage.mongo.database import MongoDocument
from parley.storage.mongo.schema import CONVERSATIONS, PROFILES, key, uuid_of
from parley.storage.records import Author


def profile_document(
    profile_id: uuid.UUID, name: str, image_url: str | None, updated_at: datetime
) -> MongoDocument:
    return {"_id": key(profile_id), "name": name, "imageUrl": image_url, "updatedAt": updated_at}


def conversation_document(
    conversation_id: uuid.UUID, profile_ids: Sequence[uuid.UUID], created_at: datetime
) -> MongoDocument:
    return {
        "_id": key(conversation_id),
        "profileIds": [key(p) for p in sorted(profile_ids)],
        "createdAt": created_at,
    }


async def upsert_documents(
    db: AsyncDatabase[MongoDocument], collection: str, documents: Sequence[MongoDocument]
) -> None:
    """Idempotent replace-or-insert by `_id`."""
    if not documents:
        return
    requests: list[Any] = [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in documents]
    await bulk_write_chunked(db[collection], requests)


async def upsert_profiles(db: AsyncDatabase[MongoDocument], docs: Sequence[MongoDocument]) -> None:
    await upsert_documents(db, PROFILES, docs)


async def upsert_conversations(
    db: AsyncDatabase[MongoDocument], docs: Sequence[MongoDocument]
) -> None:
    await upsert_documents(db, CONVERSATIONS, docs)


async def dm_participants(
    db: AsyncDatabase[MongoDocument], conversation_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID] | None:
    doc = await db[CONVERSATIONS].find_one({"_id": key(conversation_id)})
    return (uuid_of(doc["profileIds"][0]), uuid_of(doc["profileIds"][1])) if doc else None


async def authors(
    db: AsyncDatabase[MongoDocument], ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Author]:
    cursor = db[PROFILES].find({"_id": {"$in": [key(i) for i in ids]}}).batch_size(len(ids) + 1)
    found = [(uuid_of(d["_id"]), d) async for d in cursor]
    return {pid: Author(pid, d["name"], d.get("imageUrl")) for pid, d in found}
