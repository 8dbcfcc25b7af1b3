"""MongoDB reads for anti-entropy: a conversation's fingerprint (its documents
streamed and hashed in Python: no MongoDB-wire server computes an md5), row
digests page by page, DMs still queued for PostgreSQL, and the mirror in id
order. Repair writes nothing here: it goes through the replay queues.

Every read filters on `conversationId` equality (or reads the small
`pg_replay_queue` and mirror collections): the filter both MongoDB and
FerretDB v1 answer from an index.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from parley.storage.fingerprint import ChunkSum, row_digest
from parley.storage.mongo.database import MongoDocument
from parley.storage.mongo.direct_messages import from_document
from parley.storage.mongo.schema import (
    CONVERSATIONS,
    DIRECT_MESSAGES,
    PG_REPLAY_QUEUE,
    PROFILES,
    key,
    uuid_of,
)
from parley.storage.records import MessageRecord

FIELDS = {"_id": 1, "updatedAt": 1, "deleted": 1, "content": 1, "fileUrl": 1}
STREAM_BATCH = 1000


def _digest(doc: MongoDocument) -> str:
    return row_digest(
        key(uuid_of(doc["_id"])),
        doc["updatedAt"],
        bool(doc.get("deleted", False)),
        doc["content"],
        doc.get("fileUrl"),
    )


def _condition(conversation_id: uuid.UUID, since: datetime | None) -> dict[str, Any]:
    condition: dict[str, Any] = {"conversationId": key(conversation_id)}
    if since is not None:
        condition["updatedAt"] = {"$gte": since}
    return condition


async def chunk_sum(
    db: AsyncDatabase[MongoDocument], conversation_id: uuid.UUID, since: datetime | None
) -> ChunkSum:
    """A conversation's fingerprint, streamed in batches (memory stays one
    batch however long the conversation); the cursor is read to its end."""
    total = ChunkSum()
    cursor = db[DIRECT_MESSAGES].find(_condition(conversation_id, since), FIELDS)
    async for doc in cursor.batch_size(STREAM_BATCH):
        total.add(_digest(doc))
    return total


async def row_digests(
    db: AsyncDatabase[MongoDocument],
    conversation_id: uuid.UUID,
    after: uuid.UUID | None,
    limit: int,
    since: datetime | None,
) -> list[tuple[uuid.UUID, str]]:
    """(id, row digest) of the next `limit` messages after `after`, by id
    (text ids sort like the UUIDs)."""
    condition = _condition(conversation_id, since)
    if after is not None:
        condition["_id"] = {"$gt": key(after)}
    cursor = db[DIRECT_MESSAGES].find(condition, FIELDS).sort("_id", ASCENDING).limit(limit)
    return [(uuid_of(doc["_id"]), _digest(doc)) async for doc in cursor.batch_size(limit + 1)]


async def messages_in(
    db: AsyncDatabase[MongoDocument], conversation_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[MessageRecord]:
    """These messages of one conversation, whatever their `updatedAt`."""
    if not ids:
        return []
    condition = {"conversationId": key(conversation_id), "_id": {"$in": [key(i) for i in ids]}}
    cursor = db[DIRECT_MESSAGES].find(condition).batch_size(len(ids) + 1)
    return [from_document(doc) async for doc in cursor]


async def queued_message_ids(
    db: AsyncDatabase[MongoDocument], conversation_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """DMs with a change still queued for PostgreSQL: in flight, not divergent."""
    condition = {"conversationId": {"$in": [key(c) for c in conversation_ids]}}
    cursor = db[PG_REPLAY_QUEUE].find(condition, {"_id": 1}).batch_size(STREAM_BATCH)
    return {uuid_of(doc["_id"]) async for doc in cursor}


async def _mirror_after(
    db: AsyncDatabase[MongoDocument], collection: str, after: uuid.UUID | None, limit: int
) -> list[MongoDocument]:
    condition = {} if after is None else {"_id": {"$gt": key(after)}}
    cursor = db[collection].find(condition).sort("_id", ASCENDING).limit(limit)
    return [doc async for doc in cursor.batch_size(limit + 1)]


async def profiles_after(
    db: AsyncDatabase[MongoDocument], after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, Any]]:
    """(id, (name, image URL)) of mirrored profiles in id order."""
    docs = await _mirror_after(db, PROFILES, after, limit)
    return [(uuid_of(d["_id"]), (d.get("name"), d.get("imageUrl"))) for d in docs]


async def conversation_pairs_after(
    db: AsyncDatabase[MongoDocument], after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, Any]]:
    """(id, (profile one, profile two)) of mirrored DM conversations in id order."""
    docs = await _mirror_after(db, CONVERSATIONS, after, limit)
    return [
        (uuid_of(d["_id"]), tuple(sorted(uuid_of(p) for p in d.get("profileIds", []))))
        for d in docs
    ]
