"""MongoDB collections and indexes, and the mirror documents DMs need while
PostgreSQL is down. Only features a real MongoDB 6/7 and FerretDB v1 share:
plain and unique compound indexes, no partial/TTL indexes, no transactions.

    direct_messages   {_id, conversationId, authorId, content, fileUrl, deleted,
                       createdAt, updatedAt, nonce}
    pg_replay_queue   {_id: "<message id>", conversationId, version, markedAt,
                       missed?, claimToken?, claimUntil?}   (DM changes PostgreSQL lacks)
    dm_conversations  {_id, profileIds: [a, b], createdAt}   (mirror)
    profiles          {_id, name, imageUrl, updatedAt}        (mirror)
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from parley.storage.mongo.database import MongoDocument

DIRECT_MESSAGES = "direct_messages"
CONVERSATIONS = "dm_conversations"
PROFILES = "profiles"
PG_REPLAY_QUEUE = "pg_replay_queue"

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
    ],
    PG_REPLAY_QUEUE: [IndexModel([("claimUntil", ASCENDING)], name="claim_until")],
    CONVERSATIONS: [IndexModel([("profileIds", ASCENDING)], name="profile_ids")],
    PROFILES: [],
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
