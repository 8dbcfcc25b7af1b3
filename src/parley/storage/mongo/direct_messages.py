"""MongoDB adapter for DMs (collection `direct_messages`).

Besides the message fields each document may carry replay markers, set in the
same single-document write as the change (MongoDB has no multi-document
transactions here, so the marker must live in the document):

    pgPending   PostgreSQL may not have this version yet (crash insurance)
    pgMissed    PostgreSQL is known to have missed it
    claimToken, claimUntil   a replay worker's lease on the document

Every function takes the database handle and is run through
`MongoDatabase.run(<operation name>, ...)`, which adds the deadline and error
translation.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from parley.storage.mongo.database import MongoDocument
from parley.storage.mongo.schema import DIRECT_MESSAGES
from parley.storage.records import MessageRecord, PageQuery

DUPLICATE_KEY = 11000
MARKERS = ("pgPending", "pgMissed", "claimToken", "claimUntil")


def to_document(record: MessageRecord) -> MongoDocument:
    return {
        "_id": record.id,
        "conversationId": record.room_id,
        "authorId": record.author_id,
        "content": record.content,
        "fileUrl": record.file_url,
        "deleted": record.deleted,
        "nonce": record.nonce,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
    }


def from_document(doc: MongoDocument) -> MessageRecord:
    return MessageRecord(
        id=doc["_id"],
        room_id=doc["conversationId"],
        author_id=doc["authorId"],
        content=doc["content"],
        file_url=doc.get("fileUrl"),
        deleted=bool(doc.get("deleted", False)),
        nonce=doc["nonce"],
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
    )


def _pending(record: MessageRecord, *, missed: bool = False) -> MongoDocument:
    doc = to_document(record)
    doc["pgPending"] = True
    if missed:
        doc["pgMissed"] = True
    return doc


async def insert(db: AsyncDatabase[MongoDocument], record: MessageRecord) -> None:
    """Insert a new DM; a nonce already used by this author here raises a conflict."""
    await db[DIRECT_MESSAGES].insert_one(_pending(record))


async def upsert_newer(
    db: AsyncDatabase[MongoDocument], record: MessageRecord, *, pending: bool = True
) -> bool:
    """Write this version unless the stored one is as new or newer (last writer
    wins). Returns False when a newer version was already stored."""
    doc = _pending(record) if pending else to_document(record)
    try:
        await db[DIRECT_MESSAGES].replace_one(
            {"_id": record.id, "updatedAt": {"$lt": record.updated_at}}, doc, upsert=True
        )
    except DuplicateKeyError:
        return False
    return True


async def get(db: AsyncDatabase[MongoDocument], message_id: uuid.UUID) -> MessageRecord | None:
    doc = await db[DIRECT_MESSAGES].find_one({"_id": message_id})
    return from_document(doc) if doc else None


async def get_by_nonce(
    db: AsyncDatabase[MongoDocument], room_id: uuid.UUID, author_id: uuid.UUID, nonce: str
) -> MessageRecord | None:
    doc = await db[DIRECT_MESSAGES].find_one(
        {"conversationId": room_id, "authorId": author_id, "nonce": nonce}
    )
    return from_document(doc) if doc else None


async def page(db: AsyncDatabase[MongoDocument], query: PageQuery) -> list[MessageRecord]:
    condition: dict[str, Any] = {"conversationId": query.room_id}
    if query.after is not None:
        condition["_id"] = {"$gt": query.after}
    elif query.before is not None:
        condition["_id"] = {"$lt": query.before}
    order = ASCENDING if query.ascending else DESCENDING
    cursor = db[DIRECT_MESSAGES].find(condition).sort("_id", order).limit(query.limit + 1)
    return [from_document(doc) async for doc in cursor]


async def mark_missed(db: AsyncDatabase[MongoDocument], record: MessageRecord) -> None:
    """PostgreSQL missed this version: keep it queued for replay."""
    await db[DIRECT_MESSAGES].update_one(
        {"_id": record.id, "updatedAt": record.updated_at},
        {"$set": {"pgPending": True, "pgMissed": True}, "$unset": {"claimToken": ""}},
    )


async def delete(db: AsyncDatabase[MongoDocument], message_id: uuid.UUID) -> None:
    """Remove a document this request inserted but must not keep (a nonce retry
    that lost to an earlier send); never used for user-visible deletes."""
    await db[DIRECT_MESSAGES].delete_one({"_id": message_id})


async def confirm(
    db: AsyncDatabase[MongoDocument], versions: Sequence[tuple[uuid.UUID, datetime]]
) -> None:
    """PostgreSQL durably has these versions: clear their markers, unless the
    document changed since (then its newer version stays queued)."""
    if not versions:
        return
    unset = {name: "" for name in MARKERS}
    requests: list[Any] = [
        UpdateOne({"_id": message_id, "updatedAt": updated_at}, {"$unset": unset})
        for message_id, updated_at in versions
    ]
    await db[DIRECT_MESSAGES].bulk_write(requests, ordered=False)


async def claim_pending(
    db: AsyncDatabase[MongoDocument],
    token: str,
    now: datetime,
    lease_until: datetime,
    older_than: datetime,
    limit: int,
) -> list[MessageRecord]:
    """Lease up to `limit` documents PostgreSQL still needs. Each document's
    claim is an atomic conditional update, so concurrent workers never share
    one. Insurance markers younger than `older_than` are left to their writer."""
    free = {"$or": [{"claimUntil": {"$exists": False}}, {"claimUntil": {"$lt": now}}]}
    due = {"$or": [{"pgMissed": True}, {"updatedAt": {"$lt": older_than}}]}
    condition = {"pgPending": True, "$and": [free, due]}
    candidates = db[DIRECT_MESSAGES].find(condition, {"_id": 1}).limit(limit)
    ids = [doc["_id"] async for doc in candidates]
    if not ids:
        return []
    await db[DIRECT_MESSAGES].update_many(
        {"_id": {"$in": ids}, "pgPending": True, "$and": [free]},
        {"$set": {"claimToken": token, "claimUntil": lease_until}},
    )
    claimed = db[DIRECT_MESSAGES].find({"_id": {"$in": ids}, "claimToken": token})
    return [from_document(doc) async for doc in claimed]


async def release_claimed(
    db: AsyncDatabase[MongoDocument], token: str, ids: Sequence[uuid.UUID]
) -> None:
    """Replay delivered these: clear markers of documents still under our claim
    (a write since the claim removed the token, so its version stays queued)."""
    unset = {name: "" for name in MARKERS}
    await db[DIRECT_MESSAGES].update_many(
        {"_id": {"$in": list(ids)}, "claimToken": token}, {"$unset": unset}
    )


async def upsert_many_newer(
    db: AsyncDatabase[MongoDocument], records: Sequence[MessageRecord]
) -> list[MessageRecord]:
    """Replay from PostgreSQL: write each version unless a newer one is stored.
    Documents MongoDB lacks entirely go in one bulk insert (the common case
    after an outage); the rest are conditional replaces.

    Returns the records that collided with a *different* message on the
    (conversation, author, nonce) index, for the caller to resolve."""
    if not records:
        return []
    ids = [record.id for record in records]
    stored = {
        doc["_id"]: doc["updatedAt"]
        async for doc in db[DIRECT_MESSAGES].find({"_id": {"$in": ids}}, {"updatedAt": 1})
    }
    missing = [r for r in records if r.id not in stored]
    older = [r for r in records if r.id in stored and stored[r.id] < r.updated_at]
    requests: list[Any] = [InsertOne(to_document(r)) for r in missing] + [
        ReplaceOne({"_id": r.id, "updatedAt": {"$lt": r.updated_at}}, to_document(r), upsert=True)
        for r in older
    ]
    if not requests:
        return []
    try:
        await db[DIRECT_MESSAGES].bulk_write(requests, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        # A duplicate _id means "a newer version is already here": the rule
        # working. A failed insert whose _id is still absent hit the nonce index.
        failed = [missing[e["index"]] for e in errors if e["index"] < len(missing)]
        present = {
            doc["_id"]
            async for doc in db[DIRECT_MESSAGES].find(
                {"_id": {"$in": [r.id for r in failed]}}, {"_id": 1}
            )
        }
        return [r for r in failed if r.id not in present]
    return []


async def pending_count(db: AsyncDatabase[MongoDocument]) -> int:
    return await db[DIRECT_MESSAGES].count_documents({"pgPending": True})
