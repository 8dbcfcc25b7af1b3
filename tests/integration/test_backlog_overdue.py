"""Reads must merge a conversation whose write one store may have missed even
when nobody could mark the miss. Seen in the consistency checker's 30-minute
run: a send reached MongoDB, PostgreSQL was killed under it, and MongoDB was
killed before the send could mark PostgreSQL's miss. The send was answered
(MongoDB held it), but only its insurance entry, left unconfirmed, recorded
that PostgreSQL lacked it. Once PostgreSQL was back, the backlog refresh
forgot the miss, and reads answered from PostgreSQL alone missed the message
until replay copied it. An insurance entry the confirmer has not cleared in
time now counts as a miss."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from parley.ids import new_id
from parley.replication.replay import OVERDUE_SECONDS
from parley.resilience import MONGODB, POSTGRESQL
from parley.state import AppState
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo.clock import ServerClock
from parley.storage.postgres import direct_messages as pg_dm
from parley.storage.postgres import replay_queue
from parley.storage.records import MessageRecord, now_ms
from tests.factories import make_dm, make_person


async def _record(state: AppState) -> MessageRecord:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    now = now_ms()
    return MessageRecord(new_id(), dm, ada.id, "hello", None, False, "n-1", now, now)


async def test_an_unconfirmed_write_counts_as_missed_once_overdue(state: AppState) -> None:
    await state.replication.supervisor.stop()  # no confirmer, no replay: the entries stay
    replay, backlog = state.replication.replay, state.replication.backlog
    in_mongo, in_postgres = await _record(state), await _record(state)
    # insurance for PostgreSQL
    await mongo_dm.insert_many(state.mongo.db, [in_mongo], clock=ServerClock())
    async with state.postgres.sessionmaker.begin() as session:
        await pg_dm.insert_new_many(session, [in_postgres])  # insurance for MongoDB

    # Writes still settling (their entries are younger than a minute) are not misses.
    assert await mongo_dm.conversations_with_missed(state.mongo.db, timedelta(minutes=1)) == set()
    async with state.postgres.sessionmaker.begin() as session:
        assert await replay_queue.conversations_with_missed(session, 60.0) == set()

    await asyncio.sleep(OVERDUE_SECONDS + 0.2)
    await replay.refresh_backlog()
    assert POSTGRESQL in backlog.behind(in_mongo.room_id)
    assert MONGODB in backlog.behind(in_postgres.room_id)


async def test_an_overdue_marker_the_confirmer_still_holds_is_no_miss(state: AppState) -> None:
    """Seen under load at 167 DMs/s: a FerretDB too busy to confirm markers in
    time made conversations PostgreSQL fully had count as behind, and their
    reads were answered 503 while MongoDB's breaker was open. A confirmation
    that failed is now tried again, and the markers it holds mark versions both
    stores have. A later version's marker is still a miss."""
    await state.replication.supervisor.stop()  # this test drives the confirmer itself
    replication = state.replication
    confirmer, backlog = replication.confirmer, replication.backlog
    both, only_in_mongo = await _record(state), await _record(state)
    await mongo_dm.insert_many(state.mongo.db, [both, only_in_mongo], clock=ServerClock())
    async with state.postgres.sessionmaker.begin() as session:
        rows = await pg_dm.insert_new_many(session, [both])

    replication.mongo_breaker.trip("MongoDB is too busy to confirm")
    confirmer.confirmed(rows[both.id], both)
    await confirmer.flush()  # PostgreSQL's row is cleared, MongoDB's marker is not
    assert confirmer.settled_mongo_markers() == {mongo_dm.marker_of(both)}
    await replication.mongo_breaker.recover()

    await asyncio.sleep(OVERDUE_SECONDS + 0.2)
    await replication.replay.refresh_postgres_backlog()
    assert POSTGRESQL not in backlog.behind(both.room_id)
    assert POSTGRESQL in backlog.behind(only_in_mongo.room_id)

    edited = replace(both, content="edited", updated_at=both.updated_at + timedelta(seconds=1))
    assert await mongo_dm.upsert_newer(state.mongo.db, edited)  # PostgreSQL lacks this one
    await asyncio.sleep(OVERDUE_SECONDS + 0.2)
    await replication.replay.refresh_postgres_backlog()
    assert POSTGRESQL in backlog.behind(both.room_id)

    await confirmer.flush()  # the retry clears nothing of the later version
    assert confirmer.settled_mongo_markers() == set()
    await replication.replay.refresh_postgres_backlog()
    assert POSTGRESQL in backlog.behind(both.room_id)


async def test_an_overdue_queue_row_the_confirmer_still_holds_is_no_miss(state: AppState) -> None:
    await state.replication.supervisor.stop()  # this test drives the confirmer itself
    replication = state.replication
    confirmer, backlog = replication.confirmer, replication.backlog
    both, only_in_postgres = await _record(state), await _record(state)
    await mongo_dm.insert_many(state.mongo.db, [both], clock=ServerClock())
    async with state.postgres.sessionmaker.begin() as session:
        rows = await pg_dm.insert_new_many(session, [both, only_in_postgres])

    replication.postgres_breaker.trip("PostgreSQL is too busy to confirm")
    confirmer.confirmed(rows[both.id], both)
    await confirmer.flush()  # MongoDB's marker is cleared, PostgreSQL's row is not
    assert confirmer.settled_queue_rows() == {rows[both.id]}
    await replication.postgres_breaker.recover()

    await asyncio.sleep(OVERDUE_SECONDS + 0.2)
    await replication.replay.refresh_mongo_backlog()
    assert MONGODB not in backlog.behind(both.room_id)
    assert MONGODB in backlog.behind(only_in_postgres.room_id)

    await confirmer.flush()
    assert confirmer.settled_queue_rows() == set()
    await replication.replay.refresh_mongo_backlog()
    assert MONGODB not in backlog.behind(both.room_id)  # its row is gone
