"""A replay pass copies to each store side by side: a batch held up one way
does not hold up the batch the other way. One after the other, after a
PostgreSQL thaw under load, the first batch to PostgreSQL waited 2.2 s for the
one to MongoDB."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from parley.ids import new_id
from parley.replication import replay as replay_module
from parley.state import AppState
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo.clock import ServerClock
from parley.storage.postgres import direct_messages as pg_dm
from parley.storage.postgres import replay_queue
from parley.storage.records import MessageRecord, now_ms
from tests.dm_support import mongo_messages, postgres_messages
from tests.factories import make_dm, make_person
from tests.support import eventually

# What holds up each direction: the claim from PostgreSQL's queue (towards
# MongoDB) waits for the queue's lock; the write to PostgreSQL waits for the
# messages' lock, which still lets the other direction read them.
HOLD_UP = {
    "to MongoDB": "LOCK TABLE mongo_replay_queue IN ACCESS EXCLUSIVE MODE",
    "to PostgreSQL": "LOCK TABLE direct_messages IN EXCLUSIVE MODE",
}


async def _record(state: AppState, content: str) -> MessageRecord:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    now = now_ms()
    return MessageRecord(new_id(), dm, ada.id, content, None, False, f"n-{content}", now, now)


@pytest.mark.parametrize("held_up", list(HOLD_UP))
async def test_a_batch_held_up_one_way_does_not_hold_up_the_other(
    state: AppState, monkeypatch: pytest.MonkeyPatch, held_up: str
) -> None:
    await state.replication.supervisor.stop()  # this test drives replay itself
    replay = state.replication.replay
    await replay.run_once()  # releases the claims of passes the stop cancelled
    # The held-up call waits for the lock, not for its deadline.
    monkeypatch.setattr(replay_module, "CLAIM_DEADLINE", 60.0)
    monkeypatch.setattr(replay_module, "WRITE_DEADLINE", 60.0)
    for_mongo = await _record(state, "MongoDB missed this")
    async with state.postgres.sessionmaker.begin() as session:
        await pg_dm.upsert_many_newer(session, [for_mongo])
        await replay_queue.queue_missed(session, for_mongo)
    for_postgres = await _record(state, "PostgreSQL missed this")
    await mongo_dm.insert_many(state.mongo.db, [for_postgres], clock=ServerClock())
    await mongo_dm.mark_missed(state.mongo.db, for_postgres)
    free = for_mongo if held_up == "to PostgreSQL" else for_postgres

    async def the_free_direction_delivered() -> bool:
        if free is for_mongo:
            return free.id in await mongo_messages(state, free.room_id)
        return free.id in await postgres_messages(state, free.room_id)

    async with state.postgres.engine.connect() as blocker:
        await blocker.execute(text(HOLD_UP[held_up]))
        one_pass = asyncio.create_task(replay.run_once())
        await eventually(the_free_direction_delivered, timeout=20.0)
        assert not one_pass.done()
        await blocker.rollback()
    await one_pass

    assert for_mongo.id in await mongo_messages(state, for_mongo.room_id)
    assert for_postgres.id in await postgres_messages(state, for_postgres.room_id)
