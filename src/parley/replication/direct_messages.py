"""DMs on two stores: the coordination the message service is built on.

    send          both stores concurrently (sync_to_both_databases); 201 once one
                  has it durably; the other gets it from the replay queue
    save_version  edits and deletes, same path, conditional on the version order
                  (`storage.records.version_key`); a version that lost is
                  reported as lost, never as accepted
    page / get    MongoDB, PostgreSQL when MongoDB is unavailable
    changes       (with_mongo_fallback); both merged while the conversation
                  has a MongoDB replay backlog, so nothing acknowledged is hidden

New DMs are written with group commit (`Coalescer`): sends that arrive while
a store is busy with earlier ones share its next write, so under load each
store gets one call per batch, not per message; every send still gets its own
per-store verdict.

A nonce makes a send idempotent across stores and failovers: a retry that
finds the nonce in one store returns the original message and undoes any
fresh copy it just wrote to the other store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from parley.replication.backlog import Backlog
from parley.replication.confirmer import Confirmer
from parley.resilience import (
    MONGODB,
    POSTGRESQL,
    Coalescer,
    DualWrite,
    MongoOperation,
    PostgresOperation,
    Sourced,
    StillWriting,
    StoreGuard,
    sync_to_both_databases,
    with_mongo_fallback,
)
from parley.storage.deadline import detach
from parley.storage.errors import StorageConflict, StorageError, StorageUnavailable
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo.clock import ServerClock
from parley.storage.postgres import direct_messages as pg_dm
from parley.storage.postgres import messages as pg_messages
from parley.storage.postgres import replay_queue
from parley.storage.records import (
    ChangeQuery,
    MessageRecord,
    PageQuery,
    feed_position,
    newest,
    version_key,
)

BOTH = f"{MONGODB},{POSTGRESQL}"
# A new DM for one store's group commit, and whether the other store's breaker
# refused it before the send began (its queue entry is then written missed).
NewDM = tuple[MessageRecord, bool]


@dataclass(frozen=True)
class Saved:
    """What an edit or delete left stored. `won`: this request's write made
    its version the stored one (announce it). Otherwise `record` is the
    version stored now (None when it could not be read) and `lost` says it is
    a different one from ours: ours was superseded and neither store keeps it."""

    record: MessageRecord | None
    won: bool
    stores: list[str]
    lost: bool = False


@dataclass(frozen=True)
class Written:
    """A DM as stored, whether this request created it, and which stores
    durably accepted the write before the response."""

    record: MessageRecord
    created: bool
    stores: list[str]


class DirectMessages:
    def __init__(
        self,
        mongo: StoreGuard[Any],
        postgres: StoreGuard[Any],
        backlog: Backlog,
        confirmer: Confirmer,
        mongo_clock: ServerClock,
        *,
        hedge_after: float | None = None,
        write_grace: float | None = None,
    ) -> None:
        self.mongo = mongo
        self.postgres = postgres
        self.backlog = backlog
        self.confirmer = confirmer
        self.mongo_clock = mongo_clock
        self.hedge_after = hedge_after
        self.write_grace = write_grace
        self._mongo_inserts = Coalescer[NewDM, bool](self._insert_batch_in_mongo)
        self._postgres_inserts = Coalescer[NewDM, int | None](self._insert_batch_in_postgres)

    # -- writes -------------------------------------------------------------------

    async def send(self, record: MessageRecord, *, client_nonce: bool) -> Written:
        """Store a new DM. With a client nonce the answer waits for both stores'
        verdict (bounded by deadlines and breakers), because a retry must find
        the original wherever it is; without one it may answer after one store
        plus the write grace.

        A send that finds one store's breaker refusing writes its queue entry
        in the other store already marked missed, rather than marking it with
        a command of its own after the refusal: while a store is down the
        other carries every send alone, and that command was a third of its
        work per send."""
        mongo_refusing, postgres_refusing = not self.mongo.available, not self.postgres.available
        write = await self._write_both(
            "ROOM_MESSAGES_POST_DM",
            partial(self._insert_in_mongo, new=(record, postgres_refusing)),
            partial(self._insert_in_postgres, new=(record, mongo_refusing)),
            record,
            grace=None if client_nonce else self.write_grace,
            missed_marked_in=(postgres_refusing, mongo_refusing),
        )
        nonce_used_in_mongo = isinstance(write.mongo_error, StorageConflict)
        nonce_used_in_postgres = write.postgres_ok and write.postgres is None
        if nonce_used_in_mongo or nonce_used_in_postgres:
            return await self._resolve_retry(record, write, nonce_used_in_mongo)
        return Written(record, True, write.stores)

    async def find_sent(self, record: MessageRecord) -> MessageRecord | None:
        """The message already sent with `record`'s nonce, asking both stores:
        either may be the only one holding it. StorageUnavailable when either
        cannot answer, since it might be that one."""
        in_mongo, in_postgres = await asyncio.gather(
            self._by_nonce_in_mongo(record), self._by_nonce_in_postgres(record),
            return_exceptions=True,
        )  # fmt: skip
        found = [r for r in (in_mongo, in_postgres) if isinstance(r, MessageRecord)]
        for outcome in (in_mongo, in_postgres):
            if isinstance(outcome, BaseException) and not found:
                raise outcome
        return min(found, key=lambda r: r.id) if found else None

    async def _by_nonce_in_mongo(self, record: MessageRecord) -> MessageRecord | None:
        lookup = (record.room_id, record.author_id, record.nonce)
        found: MessageRecord | None = await self.mongo.run(
            "DM_GET_BY_NONCE", lambda db: mongo_dm.get_by_nonce(db, *lookup)
        )
        return found

    async def _by_nonce_in_postgres(self, record: MessageRecord) -> MessageRecord | None:
        lookup = (record.room_id, record.author_id, record.nonce)
        found: MessageRecord | None = await self.postgres.run(
            "DM_GET_BY_NONCE",
            lambda s: pg_messages.get_by_nonce(s, pg_messages.DIRECT_MESSAGES, *lookup),
        )
        return found

    async def _insert_in_mongo(self, _: Any, new: NewDM) -> None:
        if not await self._mongo_inserts.submit(new):
            raise StorageConflict("nonce already used", store=MONGODB, operation="send")

    async def _insert_in_postgres(self, _: Any, new: NewDM) -> int | None:
        """The queue row id of the new DM; None when its nonce was already used."""
        return await self._postgres_inserts.submit(new)

    # A batch runs on the store's runner (deadline, error translation), not its
    # guard: each send's own `guard.run` around `submit` already checks and
    # feeds the breaker and the metrics. Its deadline is the guard's, so the
    # last store standing gets longer for a batch too.
    async def _insert_batch_in_mongo(self, batch: Sequence[NewDM]) -> list[bool]:
        records, missed = _split(batch)
        insert = partial(
            mongo_dm.insert_many, records=records, missed=missed, clock=self.mongo_clock
        )
        inserted: list[bool] = await self.mongo.runner.run(
            "DM_INSERT_BATCH", insert, deadline=self.mongo.call_deadline()
        )
        return inserted

    async def _insert_batch_in_postgres(self, batch: Sequence[NewDM]) -> list[int | None]:
        records, missed = _split(batch)
        queue_rows: dict[uuid.UUID, int] = await self.postgres.runner.run(
            "DM_INSERT_BATCH",
            partial(pg_dm.insert_new_many, records=records, missed=missed),
            deadline=self.postgres.call_deadline(),
        )
        return [queue_rows.get(record.id) for record in records]

    async def save_version(self, record: MessageRecord) -> Saved:
        """Store an edit or delete in both stores, and say whether it won.

        Each store writes it only if what it holds is earlier in the version
        order. The answer waits for both stores' verdicts (bounded by their
        deadlines and breakers), because one store refusing it as already
        superseded means it lost everywhere: that store's later version is
        queued for the other by its own marker. A lost version is then
        compared with what is stored now (both stores, merged): the same
        version, stored by an identical concurrent request, is not a loss."""
        write = await self._write_both(
            "ROOM_MESSAGES_PATCH_DM",
            partial(mongo_dm.upsert_newer, record=record),
            partial(pg_dm.upsert_newer, record=record),
            record,
            grace=None,
        )
        mongo_lost = write.mongo_ok and write.mongo is False
        postgres_lost = write.postgres_ok and write.postgres is None
        if not (mongo_lost or postgres_lost):
            if not write.stores:  # refused on a constraint (both unavailable raised)
                raise _conflict_of(write)
            return Saved(record, True, write.stores)
        where = {"room_id": record.room_id, "message_id": record.id}
        current = await self._merged(
            partial(_one_from_mongo, **where),
            partial(_one_from_postgres, **where),
            "ROOM_MESSAGE_GET_DM",
            set(),
        )
        if not current.value:
            return Saved(None, False, [], lost=True)
        stored, holders = current.value[0], current.source.split(",")
        lost = version_key(stored) != version_key(record)
        return Saved(stored, False, holders, lost=lost)

    async def _write_both(
        self,
        name: str,
        mongo_write: MongoOperation[Any],
        postgres_write: PostgresOperation[int | None],
        record: MessageRecord,
        grace: float | None,
        missed_marked_in: tuple[bool, bool] = (False, False),
    ) -> DualWrite[Any, int | None]:
        """One DM change to both stores. If the answer goes out before both have
        answered, reads of the conversation merge both stores until the write
        settles (read-your-writes; see `Backlog.hold`). `missed_marked_in`
        (MongoDB, PostgreSQL): the write to that store already marks its queue
        entry missed, so a miss of the other store needs no mark of its own."""
        held: str | None = None
        marked_in_mongo, marked_in_postgres = missed_marked_in

        async def settled(write: DualWrite[Any, int | None]) -> None:
            if held is not None:
                self.backlog.release(record.room_id, held)
            # Markers are cleared only when both stores wrote this version: if
            # one refused it as superseded, its marker stays, so replay copies
            # its later version to the store that took ours.
            if write.mongo_ok and write.mongo is not False and write.postgres is not None:
                self.confirmer.confirmed(write.postgres, record)

        write = await sync_to_both_databases(
            mongo_write,
            postgres_write,
            name,
            mongo=self.mongo,
            postgres=self.postgres,
            queue_for_mongo=partial(
                self._queue_for_mongo, record=record, marked=marked_in_postgres
            ),
            queue_for_postgres=partial(
                self._queue_for_postgres, record=record, marked=marked_in_mongo
            ),
            on_settled=settled,
            straggler_grace=grace,
        )
        straggler = MONGODB if isinstance(write.mongo_error, StillWriting) else None
        if isinstance(write.postgres_error, StillWriting):
            straggler = POSTGRESQL
        if straggler is not None:
            # No await between the answer and this line, so the straggler has
            # not settled yet and `settled` will see `held`.
            self.backlog.hold(record.room_id, straggler)
            held = straggler
        return write

    async def _queue_for_mongo(
        self, write: DualWrite[Any, int | None], record: MessageRecord, marked: bool = False
    ) -> None:
        """MongoDB missed this change: mark PostgreSQL's queue row missed,
        unless PostgreSQL's write already did (`marked`)."""
        self.backlog.add(record.room_id, MONGODB)
        if write.postgres is not None and not marked:
            await self.postgres.run(
                "DM_QUEUE_FOR_MONGO", partial(replay_queue.mark_missed, queue_row_id=write.postgres)
            )
            self.backlog.add(record.room_id, MONGODB)  # refreshes asked from now on see the mark

    async def _queue_for_postgres(
        self, write: DualWrite[Any, Any], record: MessageRecord, marked: bool = False
    ) -> None:
        """PostgreSQL missed this change: mark MongoDB's entry missed, unless
        MongoDB's write already did (`marked`)."""
        if not write.mongo_ok:  # MongoDB refused it too (a used nonce): nothing to replay
            return
        self.backlog.add(record.room_id, POSTGRESQL)
        if not marked:
            mark = partial(mongo_dm.mark_missed, record=record)
            await self.mongo.run("DM_QUEUE_FOR_POSTGRES", mark)
        self.backlog.add(record.room_id, POSTGRESQL)  # refreshes asked from now on see the mark

    async def _resolve_retry(
        self, attempt: MessageRecord, write: DualWrite[Any, int | None], found_in_mongo: bool
    ) -> Written:
        """A nonce retry: answer with the original and make both stores hold it
        (and only it).

        The original is the earliest send (UUIDv7 order), as in replay's
        `resolve_nonce_duplicate`. Two sends with one nonce that run at the same
        time can each reach a different store first; both then find the other,
        and this rule makes them agree on which one stays, so neither removes
        the copy the other keeps. (The later one may already be gone when we
        look: the other request removed it.)"""
        if found_in_mongo:
            original = await self._by_nonce_in_mongo(attempt)
            if _is_ours(original, attempt):
                return Written(attempt, True, [MONGODB, POSTGRESQL])
            if _is_later(original, attempt) and write.postgres is not None:
                return await self._keep_earlier_send(attempt, write)
            if write.postgres is not None:  # PostgreSQL took our fresh copy: undo it
                await self.postgres.run(
                    "DM_UNDO_DUPLICATE", partial(pg_dm.delete_message, message_id=attempt.id)
                )
            if original is not None and write.postgres_ok:
                await self.mongo.run(
                    "DM_QUEUE_FOR_POSTGRES", partial(mongo_dm.mark_missed, record=original)
                )
        else:
            original = await self._by_nonce_in_postgres(attempt)
            if _is_ours(original, attempt):
                return Written(attempt, True, [MONGODB, POSTGRESQL])
            if _is_later(original, attempt) and write.mongo_ok:
                return await self._keep_earlier_send(attempt, write)
            if write.mongo_ok:  # MongoDB took our fresh copy: undo it
                await self.mongo.run(
                    "DM_UNDO_DUPLICATE", partial(mongo_dm.delete, message_id=attempt.id)
                )
                if original is not None:
                    await self.postgres.run(
                        "DM_QUEUE_FOR_MONGO", partial(replay_queue.queue_missed, record=original)
                    )
                    self.backlog.add(original.room_id, MONGODB)
        if original is None:
            raise StorageConflict(
                "nonce reused but original not found", store=BOTH, operation="send"
            )
        return Written(original, False, _holders(write))

    async def _keep_earlier_send(
        self, attempt: MessageRecord, write: DualWrite[Any, int | None]
    ) -> Written:
        """A later send with our nonce got into one store first. Ours is the
        original: that send's request removes its copy, and replay brings ours
        to the store that still lacks it (resolving the pair if it meets it)."""
        if write.mongo_ok:
            await self._queue_for_postgres(write, attempt)
            return Written(attempt, True, [MONGODB])
        await self._queue_for_mongo(write, attempt)
        return Written(attempt, True, [POSTGRESQL])

    # -- reads --------------------------------------------------------------------

    async def page(self, query: PageQuery) -> Sourced[list[MessageRecord]]:
        if behind := self.backlog.behind(query.room_id):
            merged = await self._merged(
                partial(mongo_dm.page, query=query),
                partial(pg_messages.page, table=pg_messages.DIRECT_MESSAGES, query=query),
                "ROOM_MESSAGES_GET_DM",
                behind,
            )
            ordered = sorted(merged.value, key=lambda r: r.id, reverse=not query.ascending)
            return Sourced(ordered[: query.limit + 1], merged.source)
        return await with_mongo_fallback(
            partial(mongo_dm.page, query=query),
            partial(pg_messages.page, table=pg_messages.DIRECT_MESSAGES, query=query),
            "ROOM_MESSAGES_GET_DM",
            mongo=self.mongo,
            postgres=self.postgres,
            hedge_after=self.hedge_after,
        )

    async def changes(self, query: ChangeQuery) -> Sourced[list[MessageRecord]]:
        """The change feed's read: versions after `query.after`, oldest first,
        from the same stores, fallback and merge as `page`."""
        mongo_read = partial(mongo_dm.changes, query=query)
        postgres_read = partial(pg_messages.changes, table=pg_messages.DIRECT_MESSAGES, query=query)
        if behind := self.backlog.behind(query.room_id):
            merged = await self._merged(mongo_read, postgres_read, "ROOM_CHANGES_GET_DM", behind)
            ordered = sorted(merged.value, key=feed_position)
            return Sourced(ordered[: query.limit + 1], merged.source)
        return await with_mongo_fallback(
            mongo_read,
            postgres_read,
            "ROOM_CHANGES_GET_DM",
            mongo=self.mongo,
            postgres=self.postgres,
            hedge_after=self.hedge_after,
        )

    async def get(self, room_id: uuid.UUID, message_id: uuid.UUID) -> Sourced[MessageRecord | None]:
        from_mongo = partial(_one_from_mongo, room_id=room_id, message_id=message_id)
        from_postgres = partial(_one_from_postgres, room_id=room_id, message_id=message_id)

        if behind := self.backlog.behind(room_id):
            merged = await self._merged(from_mongo, from_postgres, "ROOM_MESSAGE_GET_DM", behind)
            return Sourced(merged.value[0] if merged.value else None, merged.source)
        found = await with_mongo_fallback(
            from_mongo,
            from_postgres,
            "ROOM_MESSAGE_GET_DM",
            mongo=self.mongo,
            postgres=self.postgres,
            hedge_after=self.hedge_after,
        )
        return Sourced(found.value[0] if found.value else None, found.source)

    async def _merged(
        self, mongo_read: Any, postgres_read: Any, name: str, behind: set[str]
    ) -> Sourced[list[MessageRecord]]:
        """Both stores' answers, merged by id with the newest version winning.

        A store that may lack acknowledged changes (`behind`) only adds to the
        answer: the others are awaited, a store behind gets the hedge delay
        more. When every store is behind (each missed a change, or this
        instance's view of the backlogs is stale), only the union of both is
        complete, so both are awaited. Without the answers it needs, the read
        could hide acknowledged changes: StorageUnavailable, never a partial
        page (before, with both behind, one store's answer was returned alone).
        A store whose peer is behind is the only one that can complete the
        read: it is asked even while its breaker is open for slowness alone
        (`StoreGuard.run`'s `sole`). Before, after PostgreSQL restarted at 167
        DMs/s, MongoDB busy with replay opened for slowness and every read of a
        conversation PostgreSQL was still catching up on answered 503."""
        reads = {
            MONGODB: asyncio.ensure_future(
                self.mongo.run(name, mongo_read, sole=POSTGRESQL in behind)
            ),
            POSTGRESQL: asyncio.ensure_future(
                self.postgres.run(name, postgres_read, sole=MONGODB in behind)
            ),
        }
        trusted = [store for store in reads if store not in behind]
        await asyncio.wait([reads[store] for store in trusted or reads])
        laggards = [task for task in reads.values() if not task.done()]
        if laggards:
            await asyncio.wait(laggards, timeout=self.hedge_after)
        answers: dict[str, list[MessageRecord]] = {}
        for store, task in reads.items():
            if not task.done():
                detach(task)
            elif task.exception() is None:
                answers[store] = task.result()
            elif not isinstance(task.exception(), StorageError):
                raise task.exception()  # type: ignore[misc]
        complete = any(s in answers for s in trusted) if trusted else answers.keys() == reads.keys()
        if not complete:
            raise StorageUnavailable(
                f"{name}: only a store that lacks changes to this conversation answered",
                store=",".join(sorted(behind)),
                operation=name,
            )
        by_id: dict[uuid.UUID, MessageRecord] = {}
        for record in (r for records in answers.values() for r in records):
            known = by_id.get(record.id)
            by_id[record.id] = newest(known, record) if known else record
        sources = [store for store in (MONGODB, POSTGRESQL) if store in answers]
        return Sourced(list(by_id.values()), ",".join(sources))


def _is_ours(found: MessageRecord | None, attempt: MessageRecord) -> bool:
    """The "original" is this very send, already copied by replay (which does
    not wait for the writer when clocks disagree or the writer is slow): not a
    retry, and nothing to undo."""
    return found is not None and found.id == attempt.id


async def _one_from_mongo(
    db: Any, room_id: uuid.UUID, message_id: uuid.UUID
) -> list[MessageRecord]:
    found = await mongo_dm.get(db, message_id)
    return [found] if found and found.room_id == room_id else []


async def _one_from_postgres(
    session: Any, room_id: uuid.UUID, message_id: uuid.UUID
) -> list[MessageRecord]:
    found = await pg_messages.get(session, pg_messages.DIRECT_MESSAGES, room_id, message_id)
    return [found] if found else []


def _conflict_of(write: DualWrite[Any, int | None]) -> StorageConflict:
    errors = (write.mongo_error, write.postgres_error)
    return next(e for e in errors if isinstance(e, StorageConflict))


def _is_later(found: MessageRecord | None, attempt: MessageRecord) -> bool:
    return found is None or found.id > attempt.id


def _holders(write: DualWrite[Any, int | None]) -> list[str]:
    """For a nonce retry: the stores that already durably hold the original."""
    holders = [MONGODB] if isinstance(write.mongo_error, StorageConflict) else []
    if write.postgres_ok and write.postgres is None:
        holders.append(POSTGRESQL)
    return holders


def _split(batch: Sequence[NewDM]) -> tuple[list[MessageRecord], set[uuid.UUID]]:
    """A group commit's records, and the ids whose other store refused them."""
    return [record for record, _ in batch], {record.id for record, refused in batch if refused}
