"""The replay worker: delivers to each store what it missed, from the durable
queue kept in the store that has it.

    PostgreSQL ─ mongo_replay_queue rows ─▶ MongoDB   (DMs, conversation and
                                                        profile mirror)
    MongoDB ─ pg_replay_queue entries ─▶ PostgreSQL  (DMs)

Work is leased, not locked for the duration: PostgreSQL rows with
`FOR UPDATE SKIP LOCKED` plus a `not_before` lease, MongoDB documents with a
per-entry conditional claim. Several instances may replay at once; a crashed
worker's lease simply expires. Every write is last-writer-wins by `updatedAt`
(or an idempotent upsert for mirror documents), so replaying twice, or in any
order, never resurrects an old version.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import structlog

from parley.replication.backlog import Backlog
from parley.replication.duplicates import resolve_nonce_duplicate
from parley.resilience import MONGODB, POSTGRESQL, Metrics, StoreGuard
from parley.storage.errors import StorageConflict, StorageError
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo import mirror
from parley.storage.postgres import direct_messages as pg_dm
from parley.storage.postgres import mirror as pg_mirror
from parley.storage.postgres import replay_queue
from parley.storage.records import MessageRecord

log = structlog.get_logger("parley.replay")

# Insurance markers younger than this belong to a request still settling them.
GRACE_SECONDS = 5.0
# How long a claimed batch is this worker's before another may take it.
LEASE_SECONDS = 5.0
# Replay moves batches, not single rows: its calls get longer deadlines than a
# request's (and, being background work, a slow one does not trip a breaker).
CLAIM_DEADLINE = 5.0
WRITE_DEADLINE = 10.0


@dataclass
class ForMongo:
    """What one claimed batch of PostgreSQL queue rows must write to MongoDB."""

    queue_rows: list[int]
    messages: list[MessageRecord] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)


async def _claim_for_mongo(session: Any, limit: int) -> ForMongo:
    entries = await replay_queue.claim_due(session, limit, GRACE_SECONDS, LEASE_SECONDS)
    ids = {
        kind: [e.entity_id for e in entries if e.kind == kind]
        for kind in (replay_queue.MESSAGE, replay_queue.CONVERSATION, replay_queue.PROFILE)
    }
    batch = ForMongo([e.id for e in entries])
    batch.messages = await pg_dm.messages_by_ids(session, ids[replay_queue.MESSAGE])
    batch.conversations = [
        mirror.conversation_document(cid, pair, created)
        for cid, pair, created in await pg_mirror.conversations_by_ids(
            session, ids[replay_queue.CONVERSATION]
        )
    ]
    batch.profiles = [
        mirror.profile_document(*row)
        for row in await pg_mirror.profiles_by_ids(session, ids[replay_queue.PROFILE])
    ]
    return batch


async def _write_to_mongo(db: Any, batch: ForMongo) -> list[MessageRecord]:
    collisions = await mongo_dm.upsert_many_newer(db, batch.messages)
    await mirror.upsert_conversations(db, batch.conversations)
    await mirror.upsert_profiles(db, batch.profiles)
    return collisions


class ReplayWorker:
    def __init__(
        self,
        mongo: StoreGuard[Any],
        postgres: StoreGuard[Any],
        backlog: Backlog,
        metrics: Metrics,
        *,
        interval: float = 0.5,
        batch_size: int = 500,
    ) -> None:
        self.mongo = mongo
        self.postgres = postgres
        self.backlog = backlog
        self.metrics = metrics
        self.interval = interval
        self.batch_size = batch_size
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """Run a pass now (a store recovered, or a write was missed)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                busy = await self.run_once()
            except StorageError as exc:
                log.info("replay_pass_interrupted", error=str(exc))
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                self._wake.clear()

    async def run_once(self) -> bool:
        """One pass in each direction; True when a full batch suggests more work."""
        if not (self.mongo.available and self.postgres.available):
            return False
        to_mongo = await self.replay_to_mongo()
        to_postgres = await self.replay_to_postgres()
        await self.refresh_backlog()
        return max(to_mongo, to_postgres) >= self.batch_size

    async def refresh_backlog(self) -> None:
        await self.refresh_mongo_backlog()
        await self.refresh_postgres_backlog()

    async def refresh_mongo_backlog(self) -> None:
        """Which conversations MongoDB lacks changes for, from PostgreSQL's queue."""
        conversations = await self.postgres.run(
            "REPLAY_BACKLOG_CONVERSATIONS", replay_queue.conversations_with_missed
        )
        self.backlog.replace(MONGODB, conversations)
        self.metrics.set_gauge("parley_replay_backlog_conversations", len(conversations))

    async def refresh_postgres_backlog(self) -> None:
        """Which conversations PostgreSQL lacks changes for, from MongoDB's queue."""
        conversations = await self.mongo.run(
            "REPLAY_BACKLOG_CONVERSATIONS_PG", mongo_dm.conversations_with_missed
        )
        self.backlog.replace(POSTGRESQL, conversations)
        self.metrics.set_gauge("parley_replay_backlog_conversations_postgresql", len(conversations))

    async def replay_to_mongo(self) -> int:
        batch: ForMongo = await self.postgres.run(
            "REPLAY_CLAIM_FOR_MONGO",
            lambda s: _claim_for_mongo(s, self.batch_size),
            deadline=CLAIM_DEADLINE,
        )
        if not batch.queue_rows:
            return 0
        try:
            collisions = await self.mongo.run(
                "REPLAY_WRITE_MONGO",
                lambda db: _write_to_mongo(db, batch),
                deadline=WRITE_DEADLINE,
            )
            for record in collisions:
                await resolve_nonce_duplicate(record, self.mongo, self.postgres)
        except StorageError:
            await self.postgres.run(
                "REPLAY_RELEASE", lambda s: replay_queue.release(s, batch.queue_rows)
            )
            raise
        await self.postgres.run(
            "REPLAY_CONFIRM_MONGO", lambda s: replay_queue.confirm(s, batch.queue_rows)
        )
        self.metrics.count("replayed", "mongodb", "REPLAY_WRITE_MONGO", len(batch.queue_rows))
        log.info("replayed_to_mongodb", rows=len(batch.queue_rows), messages=len(batch.messages))
        return len(batch.queue_rows)

    async def replay_to_postgres(self) -> int:
        token = secrets.token_hex(8)
        records, entry_ids = await self.mongo.run(
            "REPLAY_CLAIM_FOR_POSTGRES",
            lambda db: mongo_dm.claim_pending(
                db,
                token,
                timedelta(seconds=LEASE_SECONDS),
                timedelta(seconds=GRACE_SECONDS),
                self.batch_size,
            ),
            deadline=CLAIM_DEADLINE,
        )
        if not entry_ids:
            return 0
        try:
            await self.postgres.run(
                "REPLAY_WRITE_POSTGRES",
                lambda s: pg_dm.upsert_many_newer(s, records),
                deadline=WRITE_DEADLINE,
            )
        except StorageConflict:
            await self._write_one_by_one(records)
        await self.mongo.run(
            "REPLAY_RELEASE_MONGO", lambda db: mongo_dm.release_claimed(db, token, entry_ids)
        )
        self.metrics.count("replayed", "postgresql", "REPLAY_WRITE_POSTGRES", len(records))
        log.info("replayed_to_postgresql", messages=len(records))
        return len(records)

    async def _write_one_by_one(self, records: list[MessageRecord]) -> None:
        """A batch hit a nonce collision: write the rest, resolve the collisions."""
        for record in records:
            try:
                await self.postgres.run(
                    "REPLAY_WRITE_POSTGRES_ONE", partial(pg_dm.upsert_many_newer, records=[record])
                )
            except StorageConflict:
                await resolve_nonce_duplicate(record, self.mongo, self.postgres)
