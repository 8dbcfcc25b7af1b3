"""The replay worker: delivers to each store what it missed, from the durable
queue kept in the store that has it.

    PostgreSQL ─ mongo_replay_queue rows ─▶ MongoDB   (DMs, conversation and
                                                        profile mirror)
    MongoDB ─ pg_replay_queue entries ─▶ PostgreSQL  (DMs)

Work is leased, not locked for the duration: PostgreSQL rows with
`FOR UPDATE SKIP LOCKED` plus a `not_before` lease; MongoDB's queue as a whole,
one worker at a time, by one lease document (`storage.mongo.lease`). Several
instances may replay at once; a crashed worker's lease simply expires. Every DM write is conditional
on the version order (`storage.records.version_key`: a delete over any edit,
then `updatedAt`, then content and file URL), the same in both stores, so
replaying twice, or in any order, never resurrects an old version and never
leaves the stores on different versions. Mirror documents are replaced
whole; a profile changed since its delivery read it is queued again once that
delivery has written (`_confirm_for_mongo`), so the mirror ends on the newest
version whatever order two deliveries land in.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import structlog

from parley.replication.backlog import Backlog
from parley.replication.batching import BatchSize
from parley.replication.confirmer import Confirmer
from parley.replication.duplicates import resolve_nonce_duplicate
from parley.resilience import MONGODB, POSTGRESQL, Metrics, StoreGuard
from parley.storage.errors import StorageConflict, StorageError, StorageTimeout
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo import mirror
from parley.storage.mongo.schema import key
from parley.storage.postgres import direct_messages as pg_dm
from parley.storage.postgres import mirror as pg_mirror
from parley.storage.postgres import replay_queue
from parley.storage.postgres.mirror import ProfileRow
from parley.storage.records import MessageRecord

log = structlog.get_logger("parley.replay")

# Insurance markers younger than this belong to a request still settling them.
GRACE_SECONDS = 5.0
# An insurance marker the confirmer (every 0.1 s) has not cleared this long
# after its write, and does not hold as settled: the other store may lack the
# write, so reads merge both.
OVERDUE_SECONDS = 0.5
# Replay moves batches, not single rows: its calls get longer deadlines than a
# request's (and, being background work, a slow one does not trip a breaker).
CLAIM_DEADLINE = 5.0
WRITE_DEADLINE = 10.0
# A MongoDB queue entry whose DM document has not appeared (or not become the
# version it marks) this long after it was marked belongs to a write that
# failed for good (a send both stores refused, or an instance killed between
# the two): it is dropped. A request's write has a 0.5 s deadline, on the
# server too; a document held up longer (a server frozen mid-insert) is left
# to anti-entropy.
ORPHAN_SECONDS = 15.0
# Time for what follows the write under the same claim: confirming or
# releasing the batch, resolving the odd nonce collision. Each settling call
# gets SETTLE_DEADLINE, not a request's 0.5 s: releasing a batch of MongoDB
# entries is a command or three, and one that ran past 0.5 s on a busy FerretDB
# left its batch delivered but claimed, to be delivered again after every lease
# (a PostgreSQL thaw under load never converged).
SETTLE_MARGIN = 5.0
SETTLE_DEADLINE = 2.0
# How long a claimed batch is this worker's before another may take it. It
# outlasts everything done under one claim (claim, write, settle), so a slow
# but live worker never sees its batch taken and delivered a second time; a
# worker that fails releases its batch at once, so only a crashed worker's
# batch waits the whole lease. (Were the rare one-by-one fallback to outlast
# it, double delivery would still be harmless: every write is conditional.)
LEASE_SECONDS = CLAIM_DEADLINE + WRITE_DEADLINE + SETTLE_MARGIN


@dataclass
class ForMongo:
    """What one claimed batch of PostgreSQL queue rows must write to MongoDB."""

    queue_rows: list[int]
    messages: list[MessageRecord] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    profile_rows: list[ProfileRow] = field(default_factory=list)

    @property
    def profiles(self) -> list[dict[str, Any]]:
        """The mirror documents of `profile_rows`."""
        return [mirror.profile_document(*row) for row in self.profile_rows]


async def _claim_for_mongo(session: Any, limit: int, token: str) -> ForMongo:
    entries = await replay_queue.claim_due(session, limit, GRACE_SECONDS, LEASE_SECONDS, token)
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
    batch.profile_rows = await pg_mirror.profiles_by_ids(session, ids[replay_queue.PROFILE])
    return batch


async def _confirm_for_mongo(session: Any, batch: ForMongo) -> None:
    """Clear the batch's queue rows. A profile changed since the batch read it
    is queued again: another worker may have delivered the newer version
    before this batch's older copy replaced it in the mirror (the mirror is
    replaced whole), and this delivery, checked after its write, is the one
    that can tell."""
    await replay_queue.confirm(session, batch.queue_rows)
    if not batch.profile_rows:
        return
    written = set(batch.profile_rows)
    current = await pg_mirror.profiles_by_ids(session, [row[0] for row in batch.profile_rows])
    for row in current:
        if row not in written:
            await replay_queue.queue_profile_mirror(session, row[0])


async def _write_to_mongo(db: Any, batch: ForMongo) -> list[MessageRecord]:
    upserted = await mongo_dm.upsert_many_newer(db, batch.messages)
    # A send's write that MongoDB received but ran only after the send gave up
    # (a frozen server executes what was queued on its sockets when it thaws)
    # leaves an insurance marker saying PostgreSQL may lack the version, with
    # or without its document (the insert after the marker is never sent).
    # Where MongoDB now holds the very version this batch read in PostgreSQL,
    # both stores have it: its marker is settled now rather than by replay
    # after the grace period (a thaw took 5.3-5.7 s to converge at 40/s).
    await mongo_dm.settle_markers(db, upserted.stored)
    await mirror.upsert_conversations(db, batch.conversations)
    await mirror.upsert_profiles(db, batch.profiles)
    return upserted.collided


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
        confirmer: Confirmer | None = None,
    ) -> None:
        self.mongo = mongo
        self.postgres = postgres
        self.backlog = backlog
        self.metrics = metrics
        self.interval = interval
        # Markers of versions both stores accepted, their confirmation on its
        # way: no miss, whatever their age (see `confirmer`).
        self.confirmer = confirmer
        # Each direction's batch adapts to its stores' speed (`batching`).
        self.to_mongo_batch = BatchSize(batch_size)
        self.to_postgres_batch = BatchSize(batch_size)
        self._wake = asyncio.Event()
        # Passes that failed after claiming, or while claiming without an
        # answer (a claim committed as the store froze), for whatever reason
        # (a bug too: the supervisor restarts `run` on this same worker): the
        # entries may be leased to us still. They are released by token once
        # the store answers, or they would wait out the whole lease (a batch
        # written to MongoDB whose confirmation met a killed PostgreSQL waited
        # 20 s).
        self.unsettled: list[tuple[str, str]] = []

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
        await self._release_unsettled_claims()
        sizes = (self.to_mongo_batch.current, self.to_postgres_batch.current)
        to_mongo, to_postgres = await self._both_directions()
        await self.refresh_backlog()
        return to_mongo >= sizes[0] or to_postgres >= sizes[1]

    async def _both_directions(self) -> tuple[int, int]:
        """Replay to each store side by side: every DM write is conditional on
        the version order, so the two need no order, and one after the other a
        slow batch one way delayed the batch the other way. Both passes end
        before an error is raised (`_error_to_raise`)."""
        to_mongo, to_postgres = await asyncio.gather(
            self.replay_to_mongo(), self.replay_to_postgres(), return_exceptions=True
        )
        if isinstance(to_mongo, BaseException) or isinstance(to_postgres, BaseException):
            raise _error_to_raise([to_mongo, to_postgres])
        return to_mongo, to_postgres

    async def _release_unsettled_claims(self) -> None:
        while self.unsettled:
            store, token = self.unsettled[0]
            if store == POSTGRESQL:
                await self.postgres.run(
                    "REPLAY_RELEASE_CLAIM",
                    partial(replay_queue.release_claim, token=token),
                    deadline=SETTLE_DEADLINE,
                )
            else:
                await self.mongo.run(
                    "REPLAY_RELEASE_CLAIM_MONGO",
                    partial(mongo_dm.give_up_lease, token=token),
                    deadline=SETTLE_DEADLINE,
                )
            self.unsettled.pop(0)

    async def refresh_backlog(self) -> None:
        await self.refresh_mongo_backlog()
        await self.refresh_postgres_backlog()

    async def keep_backlog_fresh(self) -> None:
        """Read each store's backlog every interval, whichever store is down:
        passes skip that while a store is unavailable, and a backlog not read
        for long counts as behind everywhere (`Backlog`). A view a pass read
        within the interval is not read again: while replay drains a backlog,
        reading it is a scan of the queue (every entry of it on FerretDB v1)."""
        refreshers = {
            MONGODB: self.refresh_mongo_backlog,
            POSTGRESQL: self.refresh_postgres_backlog,
        }
        while True:
            stale = self.backlog.unchecked_since(self.backlog.now() - self.interval)
            # Side by side: a frozen store delays only the view it holds.
            refreshes = (refreshers[store]() for store in sorted(stale))
            outcomes = await asyncio.gather(*refreshes, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException) and not isinstance(outcome, StorageError):
                    raise outcome
            await asyncio.sleep(self.interval)

    async def refresh_mongo_backlog(self) -> None:
        """Which conversations MongoDB lacks changes for, from PostgreSQL's queue."""
        asked_at = self.backlog.now()
        settled = self.confirmer.settled_queue_rows() if self.confirmer else set()
        try:
            conversations = await self.postgres.run(
                "REPLAY_BACKLOG_CONVERSATIONS",
                partial(
                    replay_queue.conversations_with_missed,
                    overdue_seconds=OVERDUE_SECONDS,
                    settled=settled,
                ),
            )
        finally:
            self.backlog.checked(MONGODB)
        self.backlog.replace(MONGODB, conversations, asked_at)
        self.metrics.set_gauge("parley_replay_backlog_conversations", len(conversations))

    async def refresh_postgres_backlog(self) -> None:
        """Which conversations PostgreSQL lacks changes for, from MongoDB's queue."""
        asked_at = self.backlog.now()
        settled = self.confirmer.settled_mongo_markers() if self.confirmer else set()
        try:
            conversations = await self.mongo.run(
                "REPLAY_BACKLOG_CONVERSATIONS_PG",
                partial(
                    mongo_dm.conversations_with_missed,
                    overdue=timedelta(seconds=OVERDUE_SECONDS),
                    settled=settled,
                ),
            )
        finally:
            self.backlog.checked(POSTGRESQL)
        self.backlog.replace(POSTGRESQL, conversations, asked_at)
        self.metrics.set_gauge("parley_replay_backlog_conversations_postgresql", len(conversations))

    async def replay_to_mongo(self) -> int:
        """One batch from PostgreSQL's queue to MongoDB; the entries it took on."""
        return await self._one_pass(POSTGRESQL, self.to_mongo_batch, self._replay_to_mongo)

    async def _one_pass(
        self, queue_store: str, size: BatchSize, deliver: Callable[[str, int], Awaitable[int]]
    ) -> int:
        """Run `deliver` under a fresh claim token with the direction's batch
        size; a failed pass leaves its token to be released by the next one."""
        token, limit = secrets.token_hex(8), size.current
        started = time.monotonic()
        try:
            taken = await deliver(token, limit)
        except BaseException as exc:  # a store's error, a bug, a cancellation
            self.unsettled.append((queue_store, token))
            if isinstance(exc, StorageTimeout):
                size.ran_past_deadline()
            raise
        else:
            size.finished(time.monotonic() - started, full=taken >= limit)
        finally:
            self.metrics.set_gauge(f"parley_replay_batch_from_{queue_store}", size.current)
        return taken

    async def _replay_to_mongo(self, token: str, limit: int) -> int:
        batch: ForMongo = await self.postgres.run(
            "REPLAY_CLAIM_FOR_MONGO",
            lambda s: _claim_for_mongo(s, limit, token),
            deadline=CLAIM_DEADLINE,
        )
        if not batch.queue_rows:
            return 0
        await self._deliver_to_mongo(batch)
        return len(batch.queue_rows)

    async def _deliver_to_mongo(self, batch: ForMongo) -> None:
        """Write a claimed batch to MongoDB, then clear (or release) its rows."""
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
                "REPLAY_RELEASE",
                lambda s: replay_queue.release(s, batch.queue_rows),
                deadline=SETTLE_DEADLINE,
            )
            raise
        await self.postgres.run(
            "REPLAY_CONFIRM_MONGO",
            lambda s: _confirm_for_mongo(s, batch),
            deadline=SETTLE_DEADLINE,
        )
        self.metrics.count("replayed", "mongodb", "REPLAY_WRITE_MONGO", len(batch.queue_rows))
        log.info("replayed_to_mongodb", rows=len(batch.queue_rows), messages=len(batch.messages))

    async def replay_to_postgres(self) -> int:
        """One batch from MongoDB's queue to PostgreSQL; the DMs it found for
        the entries it claimed."""
        return await self._one_pass(MONGODB, self.to_postgres_batch, self._replay_to_postgres)

    async def _replay_to_postgres(self, token: str, limit: int) -> int:
        claim: mongo_dm.Claim = await self.mongo.run(
            "REPLAY_CLAIM_FOR_POSTGRES",
            lambda db: mongo_dm.claim_pending(
                db,
                token,
                timedelta(seconds=LEASE_SECONDS),
                timedelta(seconds=GRACE_SECONDS),
                limit,
            ),
            deadline=CLAIM_DEADLINE,
        )
        if not claim.entry_ids:
            return 0
        records = claim.records
        postponed: set[str] = set()
        try:
            await self.postgres.run(
                "REPLAY_WRITE_POSTGRES",
                lambda s: pg_dm.upsert_many_newer(s, records),
                deadline=WRITE_DEADLINE,
            )
        except StorageConflict:
            postponed = await self._write_one_by_one(records)
        except StorageError:
            await self.mongo.run(
                "REPLAY_RELEASE_MONGO",
                lambda db: mongo_dm.give_up_lease(db, token),
                deadline=SETTLE_DEADLINE,
            )
            raise
        await self.mongo.run(
            "REPLAY_RELEASE_MONGO",
            lambda db: mongo_dm.settle_claim(
                db, claim, postponed=postponed, orphan_age=timedelta(seconds=ORPHAN_SECONDS)
            ),
            deadline=SETTLE_DEADLINE,
        )
        written = len(records) - len(postponed)
        self.metrics.count("replayed", "postgresql", "REPLAY_WRITE_POSTGRES", written)
        log.info("replayed_to_postgresql", messages=written, postponed=len(postponed))
        return len(records)

    async def _write_one_by_one(self, records: list[MessageRecord]) -> set[str]:
        """A batch hit a conflict: write each record alone, so one bad record
        cannot hold back the others. A nonce collision (unique) is resolved; a
        record PostgreSQL refuses otherwise (a foreign key to a conversation it
        does not have) is postponed: its entry is held back for as long as a
        lease lasts, then retried. Returns the postponed entry ids."""
        postponed: set[str] = set()
        for record in records:
            try:
                await self._write_one(record)
            except StorageConflict as conflict:
                postponed.add(key(record.id))
                self.metrics.count("postponed", "postgresql", "REPLAY_WRITE_POSTGRES_ONE")
                log.warning(
                    "replay_postponed",
                    id=str(record.id),
                    conversation=str(record.room_id),
                    kind=conflict.kind,
                    constraint=conflict.constraint,
                    error=str(conflict),
                )
        return postponed

    async def _write_one(self, record: MessageRecord) -> None:
        try:
            await self.postgres.run(
                "REPLAY_WRITE_POSTGRES_ONE", partial(pg_dm.upsert_many_newer, records=[record])
            )
        except StorageConflict as conflict:
            if conflict.kind != "unique":
                raise
            await resolve_nonce_duplicate(record, self.mongo, self.postgres)


def _error_to_raise(outcomes: list[int | BaseException]) -> BaseException:
    """The error of two passes that `run` gets: one that is not a storage
    error if there is one (a bug must reach the supervisor, not hide among
    interrupted passes). The other is logged here."""
    errors = sorted(
        (outcome for outcome in outcomes if isinstance(outcome, BaseException)),
        key=lambda error: isinstance(error, StorageError),
    )
    for other in errors[1:]:
        if isinstance(other, StorageError):
            log.info("replay_pass_interrupted", error=str(other))
        else:
            log.error("replay_pass_failed", exc_info=other)
    return errors[0]
