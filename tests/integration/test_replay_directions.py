"""A replay pass copies to each store side by side: a copy to MongoDB held up
(its claim waits on a busy PostgreSQL) does not hold up the copy to
PostgreSQL. One after the other, after a PostgreSQL thaw under load, the first
batch to PostgreSQL waited 2.2 s for the one to MongoDB."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text

from parley.ids import new_id
from parley.state import AppState
from parley.storage.errors import StorageTimeout
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo.clock import ServerClock
from parley.storage.postgres import direct_messages as pg_dm
from parley.storage.postgres import replay_queue
from parley.storage.records import MessageRecord, now_ms
from tests.dm_support import mongo_messages, postgres_messages
from tests.factories import make_dm, make_person
from tests.support import eventually


async def _record(state: AppState, content: str) -> MessageRecord:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    now = now_ms()
    return MessageRecord(new_id(), dm, ada.id, content, None, False, f"n-{content}", now, now)


async def test_the_copy_to_postgresql_does_not_wait_for_the_copy_to_mongodb(
    state: AppState,
) -> None:
    await state.replication.supervisor.stop()  # this test drives replay itself
    replay = state.replication.replay
    await replay.run_once()  # releases the claims of passes the stop cancelled
    for_mongo = await _record(state, "MongoDB missed this")
    async with state.postgres.sessionmaker.begin() as session:
        await pg_dm.upsert_many_newer(session, [for_mongo])
        await replay_queue.queue_missed(session, for_mongo)
    for_postgres = await _record(state, "PostgreSQL missed this")
    await mongo_dm.insert_many(state.mongo.db, [for_postgres], clock=ServerClock())
    await mongo_dm.mark_missed(state.mongo.db, for_postgres)

    async def in_postgres() -> bool:
        return for_postgres.id in await postgres_messages(state, for_postgres.room_id)

    async with state.postgres.engine.connect() as blocker:
        # The claim from PostgreSQL's queue waits for this lock.
        await blocker.execute(text("LOCK TABLE mongo_replay_queue IN ACCESS EXCLUSIVE MODE"))
        one_pass = asyncio.create_task(replay.run_once())
        await eventually(in_postgres, timeout=3.0)
        assert not one_pass.done()
        await blocker.rollback()
    with contextlib.suppress(StorageTimeout):  # the claim's 5 s may run out on a slow machine
        await one_pass
    await replay.run_once()  # whatever that pass left

    assert for_mongo.id in await mongo_messages(state, for_mongo.room_id)
