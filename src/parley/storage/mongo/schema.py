"""MongoDB collections and indexes, and the mirror documents DMs need while
PostgreSQL is down. Only features a real MongoDB 6/7 and FerretDB v1 share:
plain and unique compound indexes, no partial/TTL indexes, no transactions.

    direct_messages   {_id, conversationId, authorId, content, fileUrl, deleted,
                       createdAt, updatedAt, nonce}
    pg_replay_queue   {_id: "<message id>", conversationId, version, markedAt,
                       missed?, claimUntil?}   (DM changes PostgreSQL lacks)
    replay_leases     {_id: "<direction>", holder, until}   (`lease`)
    dm_conversations  {_id, profileIds: [a, b], createdAt}   (mirror)
    profiles          {_id, name, imageUrl, updatedAt}        (mirror)

Every id is stored as its canonical text (`key`: lower-case, hyphenated), as the
original design stores `conversationId`: UUIDv7 text sorts like the UUID, so
`_id` order is still time order, and equality on a string is what every
MongoDB-wire server answers from an index (FerretDB v1 pushes no filter on a
BSON UUID down to its backend). `parley migrate` converts documents written
with BSON UUIDs (`keys_as_text`).
"""

from __future__ import annotations

import uuid
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from parley.storage.mongo.database import MongoDocument

DIRECT_MESSAGES = "direct_messages"
CONVERSATIONS = "dm_conversations"
PROFILES = "profiles"
PG_REPLAY_QUEUE = "pg_replay_queue"
REPLAY_LEASES = "replay_leases"


def key(value: uuid.UUID) -> str:
    """An id as MongoDB holds it."""
    return str(value)


def uuid_of(value: Any) -> uuid.UUID:
    """An id read back from MongoDB (text; a BSON UUID before `keys_as_text`)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


INDEXES: dict[str, list[IndexModel]] = {
    DIRECT_MESSAGES: [
        IndexModel(
            [("conversationId", ASCENDING), ("_id", DESCENDING)], name="conversation_newest"
        ),
        IndexModel(
            [("conversationId", ASCENDING), ("authorId", ASCENDING), ("nonce", ASCENDING)],
            name="conversation_author_nonce",
            unique=True,
        ),
        # The change feed (`direct_messages.changes`): versions in order.
        IndexModel(
            [("conversationId", ASCENDING), ("updatedAt", ASCENDING), ("_id", ASCENDING)],
            name="conversation_changes",
        ),
    ],
    PG_REPLAY_QUEUE: [IndexModel([("claimUntil", ASCENDING)], name="claim_until")],
    CONVERSATIONS: [IndexModel([("profileIds", ASCENDING)], name="profile_ids")],
    PROFILES: [],
    REPLAY_LEASES: [],
}


async def ensure_schema(db: AsyncDatabase[MongoDocument]) -> None:
    """Create the collections and indexes; running it again changes nothing."""
    existing = set(await db.list_collection_names())
    for name, indexes in INDEXES.items():
        if name not in existing:
            await db.create_collection(name)
        present = set(await db[name].index_information())
        missing = [index for index in indexes if index.document["name"] not in present]
        if missing:
            await db[name].create_indexes(missing)


# Fields holding ids, per collection, besides `_id`.
ID_FIELDS = {
    DIRECT_MESSAGES: ("conversationId", "authorId"),
    CONVERSATIONS: ("profileIds",),
    PROFILES: (),
}
CONVERT_BATCH = 500
DUPLICATE_KEY = 11000


def _as_text(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return key(value)
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    return value


async def keys_as_text(db: AsyncDatabase[MongoDocument]) -> int:
    """Rewrite documents whose ids are BSON UUIDs with text ids; returns how many.

    An `_id` cannot change in place, so each document is inserted anew and the
    old one deleted. Safe to interrupt and run again: a copy inserted before an
    interruption is a duplicate key the next run skips before deleting."""
    converted = 0
    for collection, fields in ID_FIELDS.items():
        while True:
            cursor = db[collection].find({"_id": {"$type": "binData"}}).limit(CONVERT_BATCH)
            old = [doc async for doc in cursor.batch_size(CONVERT_BATCH)]
            if not old:
                break
            new = [
                {**doc, "_id": key(doc["_id"]), **{f: _as_text(doc[f]) for f in fields if f in doc}}
                for doc in old
            ]
            try:
                await db[collection].insert_many(new, ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                    raise
            await db[collection].delete_many({"_id": {"$in": [doc["_id"] for doc in old]}})
            converted += len(old)
    return converted
