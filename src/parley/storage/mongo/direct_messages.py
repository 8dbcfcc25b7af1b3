"""MongoDB adapter for DMs (collection `direct_messages`) and for the queue of
DM changes PostgreSQL still has to receive (collection `pg_replay_queue`).

A queue entry is keyed by the message id as a string and written *before* the
DM document, so a process that dies between the two writes leaves either an
entry whose document never appeared (dropped by replay) or an entry for a
document PostgreSQL may lack (replayed). Entries are cleared with keyed
deletes on that small collection once PostgreSQL confirms, so the hot path
never updates the (large) DM collection after writing it.

    pg_replay_queue  {_id: "<message id>", conversationId, version (updatedAt),
                      digest (of the whole version), markedAt, missed?,
                      claimUntil?}

An entry names the exact version it marks (`version` and `digest`, the
anti-entropy row digest): two versions can share an `updatedAt`, and
confirming one must not clear the marker of the other.

Every function takes the database handle and is run through
`MongoDatabase.run(<operation name>, ...)`, which adds the deadline and error
translation.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from parley.storage.fingerprint import row_digest
from parley.storage.mongo import lease as replay_lease
from parley.storage.mongo.bulk import bulk_write_chunked
from parley.storage.mongo.clock import ServerClock, server_time
from parley.storage.mongo.database import MongoDocument, durable
from parley.storage.mongo.lookup import find_by_ids
from parley.storage.mongo.schema import DIRECT_MESSAGES, PG_REPLAY_QUEUE, key, uuid_of
from parley.storage.records import ChangeQuery, MessageRecord, PageQuery, version_key

log = structlog.get_logger("parley.storage.mongo")
DUPLICATE_KEY = 11000
# Every find asks for its whole answer in one batch, so no server-side cursor
# stays open between getMores. (FerretDB v1 holds a backend connection per open
# cursor, and cursors of a client that dies are never closed: enough of them
# exhaust its pool and it stops answering.) Batches stay small: pages are at
# most 101 documents and replay batches at most PARLEY_REPLAY_BATCH.

# A write marks its entry afresh: replay no longer holds it back (`settle_claim`).
NOT_HELD_BACK = {"$unset": {"claimUntil": ""}}
# Versions confirmed per command (`confirm`).
CONFIRM_CHUNK = 500
T = TypeVar("T")


def to_document(record: MessageRecord) -> MongoDocument:
    return {
        "_id": key(record.id),
        "conversationId": key(record.room_id),
        "authorId": key(record.author_id),
        "content": record.content,
        "fileUrl": record.file_url,
        "deleted": record.deleted,
        "nonce": record.nonce,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
    }


def from_document(doc: MongoDocument) -> MessageRecord:
    return MessageRecord(
        id=uuid_of(doc["_id"]),
        room_id=uuid_of(doc["conversationId"]),
        author_id=uuid_of(doc["authorId"]),
        content=doc["content"],
        file_url=doc.get("fileUrl"),
        deleted=bool(doc.get("deleted", False)),
        nonce=doc["nonce"],
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
    )


def _entry_update(record: MessageRecord, *, missed: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "conversationId": key(record.room_id),
        "version": record.updated_at,
        "digest": _digest(record),
    }
    if missed:
        fields["missed"] = True
    # The server's clock, as `claim_pending` compares it with the server's now:
    # the writer's and the replayer's clocks never meet.
    return {"$set": fields, "$currentDate": {"markedAt": True}, **NOT_HELD_BACK}


def _digest(record: MessageRecord) -> str:
    return row_digest(
        str(record.id), record.updated_at, record.deleted, record.content, record.file_url
    )


async def _queue_for_postgres(
    db: AsyncDatabase[MongoDocument], record: MessageRecord, *, missed: bool = False
) -> None:
    """Mark that PostgreSQL may lack this version. A replay pass that read an
    older version leaves this entry queued: it marks another digest now."""
    await db[PG_REPLAY_QUEUE].update_one(
        {"_id": key(record.id)}, _entry_update(record, missed=missed), upsert=True
    )


async def insert_many(
    db: AsyncDatabase[MongoDocument],
    records: Sequence[MessageRecord],
    missed: Collection[uuid.UUID] = frozenset(),
    *,
    clock: ServerClock,
) -> list[bool]:
    """Insert new DMs, their queue entries first; per record whether it was
    inserted (False: its author already used its nonce in the conversation).
    The entries of `missed` are marked missed at once (PostgreSQL is known to
    refuse them), as `mark_missed` would after the write, one command later."""
    await _mark_new(db, records, missed, clock)
    rejected = await _insert_new(db, records)
    nonce_used = {r.record.id for r in rejected if r.stored is None}
    if nonce_used:  # those documents will never exist: no entry may wait for them
        await db[PG_REPLAY_QUEUE].delete_many({"_id": {"$in": [key(i) for i in nonce_used]}})
    return [r.id not in nonce_used for r in records]


async def _mark_new(
    db: AsyncDatabase[MongoDocument],
    records: Sequence[MessageRecord],
    missed: Collection[uuid.UUID],
    clock: ServerClock,
) -> None:
    """The queue entries of new DMs, inserted with `markedAt` on the server's
    clock as `clock` reads it (an upsert taking the server's time costs a
    lookup per entry). An entry that exists already comes from an earlier
    attempt at the same write: it is marked again as any change's is."""
    marked_at = await clock.now(db)
    entries = [_new_entry(r, marked_at, missed=r.id in missed) for r in records]
    try:
        await db[PG_REPLAY_QUEUE].insert_many(entries, ordered=False)
    except BulkWriteError as exc:
        again = [records[e["index"]] for e in _only_duplicate_keys(exc)]
        remark: list[Any] = [
            UpdateOne({"_id": key(r.id)}, _entry_update(r, missed=r.id in missed), upsert=True)
            for r in again
        ]
        await bulk_write_chunked(db[PG_REPLAY_QUEUE], remark)


def _new_entry(record: MessageRecord, marked_at: datetime, *, missed: bool) -> MongoDocument:
    update = _entry_update(record, missed=missed)
    return {"_id": key(record.id), **update["$set"], "markedAt": marked_at}


def _older_filter(record: MessageRecord) -> dict[str, Any]:
    """Matches a stored version of `record`'s message that the version order
    (`storage.records.version_key`) puts before `record`: the same order as
    `newest`, stated as a filter (strings compare by UTF-8 bytes, as `newest`
    compares code points; a missing `deleted` is false, a missing `fileUrl` none)."""
    at, content, file_url = record.updated_at, record.content, record.file_url
    deleted: Any = True if record.deleted else {"$ne": True}
    branches: list[dict[str, Any]] = [{"deleted": {"$ne": True}}] if record.deleted else []
    branches.append({"deleted": deleted, "updatedAt": {"$lt": at}})
    branches.append({"deleted": deleted, "updatedAt": at, "content": {"$lt": content}})
    if file_url is not None:
        same = {"deleted": deleted, "updatedAt": at, "content": content}
        branches.append({**same, "fileUrl": None})
        branches.append({**same, "fileUrl": {"$lt": file_url}})
    return {"_id": key(record.id), "$or": branches}


async def upsert_newer(
    db: AsyncDatabase[MongoDocument], record: MessageRecord, *, pending: bool = True
) -> bool:
    """Write this version unless the stored one is the same or later in the
    version order. Returns False when it is (this version lost)."""
    if pending:
        await _queue_for_postgres(db, record)
    try:
        await db[DIRECT_MESSAGES].replace_one(
            _older_filter(record), to_document(record), upsert=True
        )
    except DuplicateKeyError:
        if pending:
            await _repoint_after_losing(db, record)
        return False
    return True


async def _repoint_after_losing(db: AsyncDatabase[MongoDocument], lost: MessageRecord) -> None:
    """`_mark_what_is_stored`, best effort: the write lost whatever happens
    here, and saying otherwise would turn a lost edit into a failed store.
    Left undone (MongoDB failed or ran out of time meanwhile), the entry keeps
    naming the lost version: anti-entropy's case."""
    try:
        await _mark_what_is_stored(db, lost)
    except PyMongoError as exc:
        log.warning("replay_entry_not_repointed", message_id=str(lost.id), error=repr(exc))


async def _mark_what_is_stored(db: AsyncDatabase[MongoDocument], lost: MessageRecord) -> None:
    """A write that lost had marked the entry with its own version first, so
    the entry no longer named the version MongoDB holds: confirming the lost
    version (in both stores from an earlier write) would then drop the marker
    of a newer one PostgreSQL may lack. Point the entry back at the stored
    version, marked missed as its PostgreSQL write is not known; only if the
    entry still names the lost version (or is gone), so a marker a later
    write set in between stays."""
    stored = await get(db, lost.id)
    if stored is None or _digest(stored) == _digest(lost):
        return
    with contextlib.suppress(DuplicateKeyError):  # the entry names a later write's version
        await db[PG_REPLAY_QUEUE].update_one(
            {"_id": key(lost.id), "digest": _digest(lost)},
            _entry_update(stored, missed=True),
            upsert=True,
        )


async def get(db: AsyncDatabase[MongoDocument], message_id: uuid.UUID) -> MessageRecord | None:
    doc = await db[DIRECT_MESSAGES].find_one({"_id": key(message_id)})
    return from_document(doc) if doc else None


async def get_by_nonce(
    db: AsyncDatabase[MongoDocument], room_id: uuid.UUID, author_id: uuid.UUID, nonce: str
) -> MessageRecord | None:
    doc = await db[DIRECT_MESSAGES].find_one(
        {"conversationId": key(room_id), "authorId": key(author_id), "nonce": nonce}
    )
    return from_document(doc) if doc else None


async def page(db: AsyncDatabase[MongoDocument], query: PageQuery) -> list[MessageRecord]:
    condition: dict[str, Any] = {"conversationId": key(query.room_id)}
    if query.after is not None:
        condition["_id"] = {"$gt": key(query.after)}
    elif query.before is not None:
        condition["_id"] = {"$lt": key(query.before)}
    order = ASCENDING if query.ascending else DESCENDING
    size = query.limit + 1
    cursor = db[DIRECT_MESSAGES].find(condition).sort("_id", order).limit(size).batch_size(size)
    return [from_document(doc) async for doc in cursor]


async def changes(db: AsyncDatabase[MongoDocument], query: ChangeQuery) -> list[MessageRecord]:
    """The change feed: DMs by version `(updatedAt, _id)` after `query.after`,
    oldest first, on the `conversation_changes` index. The range is on
    `updatedAt` alone (`$gte`), so both MongoDB and FerretDB bound the scan by
    it; the few documents of that very millisecond at or before the cursor's
    id are filtered out after."""
    condition: dict[str, Any] = {"conversationId": key(query.room_id)}
    if query.after is not None:
        at, after_id = query.after
        condition["updatedAt"] = {"$gte": at}
        condition["$nor"] = [{"updatedAt": at, "_id": {"$lte": key(after_id)}}]
    size = query.limit + 1
    cursor = (
        db[DIRECT_MESSAGES]
        .find(condition)
        .sort([("updatedAt", ASCENDING), ("_id", ASCENDING)])
        .limit(size)
        .batch_size(size)
    )
    return [from_document(doc) async for doc in cursor]


async def mark_missed(db: AsyncDatabase[MongoDocument], record: MessageRecord) -> None:
    """PostgreSQL missed this version: replay it now."""
    await _queue_for_postgres(db, record, missed=True)


def marker_of(record: MessageRecord) -> tuple[str, str]:
    """The queue entry that marks exactly this version: its `_id` and `digest`."""
    return key(record.id), _digest(record)


async def conversations_with_missed(
    db: AsyncDatabase[MongoDocument],
    overdue: timedelta,
    settled: Collection[tuple[str, str]] = frozenset(),
) -> set[uuid.UUID]:
    """Conversations PostgreSQL may lack changes for (reads merge them): entries
    marked missed, and insurance entries no confirmation cleared within
    `overdue` (the write to PostgreSQL may have failed with its mark, as when
    MongoDB went down just after the document was written). An insurance entry
    in `settled` (`marker_of` a version PostgreSQL is known to have accepted,
    its confirmation still on its way) is no miss."""
    cutoff = await server_time(db) - overdue
    due = {"$or": [{"missed": True}, {"markedAt": {"$lt": cutoff}}]}
    # Not `distinct`: FerretDB v1 refuses it with the maxTimeMS every call carries.
    found = db[PG_REPLAY_QUEUE].find(due, {"conversationId": 1, "digest": 1, "missed": 1})
    return {
        uuid_of(doc["conversationId"])
        async for doc in found
        if doc.get("missed") or (doc["_id"], doc.get("digest")) not in settled
    }


async def delete(db: AsyncDatabase[MongoDocument], message_id: uuid.UUID) -> None:
    """Remove a document this request inserted but must not keep (a nonce retry
    that lost to an earlier send), and its queue entry; never used for
    user-visible deletes."""
    await db[DIRECT_MESSAGES].delete_one({"_id": key(message_id)})
    await db[PG_REPLAY_QUEUE].delete_one({"_id": key(message_id)})


async def confirm(db: AsyncDatabase[MongoDocument], versions: Sequence[MessageRecord]) -> None:
    """PostgreSQL durably has these versions: drop their queue entries, unless
    the message changed since (then the entry marks another version, which
    stays queued, even one with the same `updatedAt`: the digest covers the
    whole version).

    One `delete_many` per CONFIRM_CHUNK versions (`_exactly`): atomic per
    entry as a keyed delete is, and a real MongoDB finds the entries by `_id`.
    FerretDB v1 runs a bulk of keyed deletes one statement at a time (about
    1.7 ms each on a busy 2-CPU machine, the most of its work per send) but
    this as one scan of the queue, which holds little more than the changes
    awaiting confirmation."""
    await _drop_exactly(db[PG_REPLAY_QUEUE], versions)


async def settle_markers(
    db: AsyncDatabase[MongoDocument], versions: Sequence[MessageRecord]
) -> None:
    """Both stores hold exactly these versions (replay read them in
    PostgreSQL and MongoDB now stores them: `Upserted.stored`): drop the queue
    entries that mark exactly them. Not for a version MongoDB refused as older:
    a write that lost marks the entry with its own version before it loses
    (and until `_mark_what_is_stored` points it back), so that entry also
    stands for MongoDB's newer one. One query finds which
    are marked, so a batch none of whose versions is (the usual case) costs no
    delete; MongoDB finds them by `_id`, FerretDB v1 scans the queue for `$in`
    (cheap unless PostgreSQL is behind too)."""
    if not versions:
        return
    wanted = {marker_of(version): version for version in versions}
    ids = sorted({entry_id for entry_id, _ in wanted})
    entries = db[PG_REPLAY_QUEUE].find({"_id": {"$in": ids}}, {"digest": 1})
    found = entries.batch_size(len(ids) + 1)
    marked = [wanted[m] async for doc in found if (m := (doc["_id"], doc.get("digest"))) in wanted]
    await confirm(db, marked)


@dataclass(frozen=True)
class Claim:
    """What one replay pass took on from the queue, under lease `token`: the
    current DM documents its entries point at, and the entry ids."""

    token: str
    at: datetime  # the server's time when taken
    until: datetime  # when the lease ends, on the server's clock
    records: list[MessageRecord]
    entry_ids: list[str]


async def claim_pending(
    db: AsyncDatabase[MongoDocument],
    token: str,
    lease: timedelta,
    grace: timedelta,
    limit: int,
) -> Claim:
    """Up to `limit` due queue entries and their DMs, under the replay lease
    (`storage.mongo.lease`): nothing while another worker holds it.

    Entries marked less than `grace` ago that are not known missed are left to
    their writer, and entries held back (`settle_claim`'s `postponed`) wait
    for their `claimUntil`. The queue holds only what is unconfirmed, so its
    filters cost little even where the server reads the whole queue for them
    (FerretDB v1 does). Marks and leases are on the server's clock, so app
    clocks may disagree. The documents are read with read concern `majority`:
    a version MongoDB may still roll back is never copied to PostgreSQL."""
    now = await server_time(db)
    nothing = Claim(token, now, now + lease, [], [])
    free = {"$or": [{"claimUntil": {"$exists": False}}, {"claimUntil": {"$lt": now}}]}
    due = {"$or": [{"missed": True}, {"markedAt": {"$lt": now - grace}}]}
    candidates = db[PG_REPLAY_QUEUE].find({"$and": [free, due]}, {"_id": 1}).limit(limit)
    entry_ids = [doc["_id"] async for doc in candidates.batch_size(limit)]
    if not entry_ids:
        return nothing
    if not await replay_lease.take(db, replay_lease.TO_POSTGRESQL, token, now, lease):
        return nothing  # another worker is on it
    # Read concern majority: replay copies only what a failover cannot roll back.
    found = await find_by_ids(durable(db[DIRECT_MESSAGES]), entry_ids)
    return Claim(token, now, now + lease, [from_document(d) for d in found.values()], entry_ids)


async def settle_claim(
    db: AsyncDatabase[MongoDocument],
    claim: Claim,
    *,
    postponed: Collection[str] = frozenset(),
    orphan_age: timedelta,
) -> None:
    """Settle a claim whose records replay wrote to PostgreSQL, except
    `postponed` (refused: `ReplayWorker._write_one_by_one`), and give up its
    lease.

    A written record's entry goes if it marks exactly that version; an entry
    marked again since, for a version still on its way, stays. An entry whose
    version replay did not find (no document, or the document holds another
    version) goes once it is `orphan_age` old, when no write can still be on
    its way; until then each pass delivers the document again, which changes
    nothing. (Not sooner for an older version: a delete outranks every edit
    whatever their times, and the entry does not say whether it marks one.)
    Postponed entries are held back for as long as a lease lasts.

    Each step is one command per CONFIRM_CHUNK entries, never one per entry
    (FerretDB v1 runs a bulk of keyed writes one statement at a time)."""
    documents = {key(r.id): r for r in claim.records}
    queue = db[PG_REPLAY_QUEUE]
    written = [r for entry, r in documents.items() if entry not in postponed]
    dropped = await _drop_exactly(queue, written)
    rest = [entry for entry in claim.entry_ids if entry not in postponed]
    if dropped < len(rest):
        await _drop_outdated(queue, rest, claim.at - orphan_age)
    held = [r for entry, r in documents.items() if entry in postponed]
    hold_back = {"$set": {"claimUntil": claim.until}}
    for chunk in _chunks(held):
        await queue.update_many(_exactly(chunk), hold_back)
    await give_up_lease(db, claim.token)


async def _drop_outdated(
    queue: AsyncCollection[MongoDocument], entry_ids: Sequence[str], orphaned: datetime
) -> None:
    """Of the entries left after a pass, drop those marked before `orphaned`,
    each only if not marked again since this read: their version is not the
    one replay found (the document is missing, older, or newer from the other
    store's replay), and no write of it can still be on its way. Rare: the
    usual entry marks the version replay wrote."""
    left = queue.find({"_id": {"$in": list(entry_ids)}}, {"digest": 1, "markedAt": 1})
    outdated = [
        {"_id": doc["_id"], "digest": doc.get("digest"), "markedAt": doc["markedAt"]}
        async for doc in left.batch_size(len(entry_ids) + 1)
        if doc["markedAt"] < orphaned
    ]
    for chunk in _chunks(outdated):
        await queue.delete_many({"$or": list(chunk)})


def _exactly(versions: Sequence[MessageRecord]) -> dict[str, Any]:
    """The queue entries that mark exactly these versions. A digest covers the
    message id, so a matching digest pairs an entry with its own version:
    MongoDB finds the entries by `_id`, and FerretDB v1 matches two `$in`s of
    strings about three times as fast as an `$or` of (`_id`, digest) pairs."""
    ids, digests = [key(r.id) for r in versions], [_digest(r) for r in versions]
    return {"_id": {"$in": ids}, "digest": {"$in": digests}}


async def _drop_exactly(
    queue: AsyncCollection[MongoDocument], versions: Sequence[MessageRecord]
) -> int:
    """Delete the entries marking exactly these versions; how many there were."""
    dropped = 0
    for chunk in _chunks(versions):
        dropped += (await queue.delete_many(_exactly(chunk))).deleted_count
    return dropped


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """CONFIRM_CHUNK items at a time: one command each."""
    for start in range(0, len(items), CONFIRM_CHUNK):
        yield items[start : start + CONFIRM_CHUNK]


async def give_up_lease(db: AsyncDatabase[MongoDocument], token: str) -> None:
    """Give up the replay lease `token` holds (delivery failed, or the pass
    is over), so the entries are due again now instead of after the lease."""
    await replay_lease.give_up(db, replay_lease.TO_POSTGRESQL, token)


@dataclass(frozen=True)
class Upserted:
    """What `upsert_many_newer` left: records that collided with a *different*
    message on the (conversation, author, nonce) index, for the caller to
    resolve, and records whose very version MongoDB now holds (inserted,
    already there, or replacing an older one)."""

    collided: list[MessageRecord]
    stored: list[MessageRecord]


async def upsert_many_newer(
    db: AsyncDatabase[MongoDocument], records: Sequence[MessageRecord]
) -> Upserted:
    """Replay from PostgreSQL: write each version unless the stored one is the
    same or later in the version order.
    All go in one bulk insert first (the common case after an outage: MongoDB
    lacks them); those already stored become conditional replaces, one at a
    time: when a newer version lands in between, the replace's upsert meets a
    duplicate key, and FerretDB v1 answers that inside a bulk update without
    the counts PyMongo merges (a KeyError, not a BulkWriteError), while a single
    `replace_one` reports it as MongoDB does."""
    if not records:
        return Upserted([], [])
    rejected = await _insert_new(db, records)
    refused = {r.record.id for r in rejected}
    stored = [r for r in records if r.id not in refused]
    stored += [r.record for r in rejected if await _holds_after_replace(db, r)]
    return Upserted([r.record for r in rejected if r.stored is None], stored)


async def _holds_after_replace(db: AsyncDatabase[MongoDocument], rejected: Rejected) -> bool:
    """Whether MongoDB holds the refused record's very version once an older
    stored one is conditionally replaced (one at a time; a newer version
    already there keeps its place: the rule working)."""
    stored, record = rejected.stored, rejected.record
    if stored is None:  # collided on the nonce index with another message
        return False
    if version_key(record) == version_key(stored):
        return True
    return record.newer_than(stored) and await upsert_newer(db, record, pending=False)


@dataclass(frozen=True)
class Rejected:
    """A record the insert refused: `stored` is the document under its id, or
    None when its id is free (it collided on the nonce index instead)."""

    record: MessageRecord
    stored: MessageRecord | None


async def _insert_new(
    db: AsyncDatabase[MongoDocument], records: Sequence[MessageRecord]
) -> list[Rejected]:
    """One unordered bulk insert; the records it refused on a duplicate key,
    each with what is stored under its id."""
    if not records:
        return []
    try:
        await db[DIRECT_MESSAGES].insert_many([to_document(r) for r in records], ordered=False)
    except BulkWriteError as exc:
        failed = [records[e["index"]] for e in _only_duplicate_keys(exc)]
    else:
        return []
    stored = await find_by_ids(db[DIRECT_MESSAGES], [key(r.id) for r in failed])
    return [
        Rejected(r, from_document(stored[key(r.id)]) if key(r.id) in stored else None)
        for r in failed
    ]


def _only_duplicate_keys(exc: BulkWriteError) -> list[dict[str, Any]]:
    """The duplicate-key write errors of a bulk write that failed only by those;
    anything else, a write concern error included, is re-raised (the store
    failed: `errors.py` makes it `StorageUnavailable`)."""
    errors: list[dict[str, Any]] = exc.details.get("writeErrors", [])
    if exc.details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
        raise exc
    return errors
