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
from datetime import timedelta

from parley.ids import new_id
from parley.replication.replay import OVERDUE_SECONDS
from parley.resilience import MONGODB, POSTGRESQL
from parley.state import AppState
from parley.storage.mongo import direct_messages as mongo_dm
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
    await mongo_dm.insert_many(state.mongo.db, [in_mongo])  # insurance for PostgreSQL
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
