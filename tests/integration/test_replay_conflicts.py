"""Replay towards PostgreSQL goes on past a DM PostgreSQL refuses on a foreign
key (issue 12, item 7): the refused one stays queued, every other entry of the
batch is delivered and cleared."""

from __future__ import annotations

import uuid
from functools import partial

from parley.ids import new_id
from parley.state import AppState
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo.clock import ServerClock
from parley.storage.mongo.schema import PG_REPLAY_QUEUE, key
from parley.storage.records import MessageRecord, now_ms
from tests.dm_support import postgres_messages
from tests.factories import make_dm, make_person
from tests.support import eventually


def dm(room_id: uuid.UUID, author_id: uuid.UUID, content: str) -> MessageRecord:
    message_id, now = new_id(), now_ms()
    return MessageRecord(
        message_id, room_id, author_id, content, None, False, str(message_id), now, now
    )


async def in_mongo_only(state: AppState, records: list[MessageRecord]) -> None:
    """As if PostgreSQL was down when these were sent: MongoDB has them,
    their entries marked missed."""
    await state.mongo.run("T", partial(mongo_dm.insert_many, records=records, clock=ServerClock()))
    for record in records:
        await state.mongo.run("T", partial(mongo_dm.mark_missed, record=record))


async def test_a_foreign_key_conflict_does_not_stall_the_rest(state: AppState) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    # A DM of a conversation PostgreSQL does not have (restored from an older
    # backup, say): PostgreSQL refuses it on the conversation's foreign key.
    orphan = dm(new_id(), ada.id, "orphan")
    valid = [dm(room, ada.id, f"m{i}") for i in range(5)]
    await in_mongo_only(state, [orphan, *valid])

    async def delivered() -> bool:
        stored = await postgres_messages(state, room)
        entries = await state.mongo.db[PG_REPLAY_QUEUE].distinct("_id")
        return set(stored) == {r.id for r in valid} and entries == [key(orphan.id)]

    await eventually(delivered, timeout=15)
