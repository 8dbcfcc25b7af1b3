"""A send racing replay of its own write (issue 12, hole 5): replay may copy a
DM to the other store before the send's own write reaches it (the writer is
slow, or its clock is behind the replayer's). The send then meets its own id
under its nonce. That is not a retry: the answer is 201 and both stores keep
the message. (Before, the send took its own copy for a nonce twin, deleted it
from the store it had just written, and answered as a retry.)"""

from __future__ import annotations

import pytest

from parley.ids import new_id
from parley.state import AppState
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.postgres import direct_messages as pg_dm
from parley.storage.records import MessageRecord, now_ms
from tests.dm_support import mongo_messages, postgres_messages
from tests.factories import make_dm, make_person


async def _record(state: AppState) -> MessageRecord:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    now = now_ms()
    return MessageRecord(new_id(), dm, ada.id, "hello", None, False, "n-1", now, now)


@pytest.mark.parametrize("copied_to", ["postgresql", "mongodb"])
async def test_a_send_that_meets_its_own_replayed_copy_is_not_a_retry(
    state: AppState, copied_to: str
) -> None:
    record = await _record(state)
    if copied_to == "postgresql":
        async with state.postgres.sessionmaker.begin() as session:
            await pg_dm.upsert_many_newer(session, [record])
    else:
        await mongo_dm.insert_many(state.mongo.db, [record])

    written = await state.replication.direct_messages.send(record, client_nonce=True)

    assert written.created
    assert written.record.id == record.id
    assert record.id in await mongo_messages(state, record.room_id)
    assert record.id in await postgres_messages(state, record.room_id)
