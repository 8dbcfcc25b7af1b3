"""A send racing replay of its own write (issue 12, hole 5): replay may copy a
DM to the other store before the send's own write reaches it (the writer is
slow, or its clock is behind the replayer's). The send then meets its own id
under its nonce. That is not a retry: the answer is 201 and both stores keep
the message. (Before, the send took its own copy for a nonce twin, deleted it
from the store it had just written, and answered as a retry.)"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from parley.community.profiles.service import change_profile
from parley.devstack.stack import DevStack
from parley.ids import new_id
from parley.replication import replay as replay_module
from parley.replication.batching import BatchSize
from parley.replication.replay import _claim_for_mongo
from parley.state import AppState
from parley.storage.errors import StorageError
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo.clock import ServerClock, server_time
from parley.storage.mongo.schema import (
    DIRECT_MESSAGES,
    PG_REPLAY_QUEUE,
    PROFILES,
    REPLAY_LEASES,
    key,
)
from parley.storage.postgres import direct_messages as pg_dm
from parley.storage.postgres import replay_queue
from parley.storage.postgres.models import ReplayEntry
from parley.storage.records import MessageRecord, now_ms
from tests.dm_support import markers_left, mongo_messages, postgres_messages
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
        await mongo_dm.insert_many(state.mongo.db, [record], clock=ServerClock())

    written = await state.replication.direct_messages.send(record, client_nonce=True)

    assert written.created
    assert written.record.id == record.id
    assert record.id in await mongo_messages(state, record.room_id)
    assert record.id in await postgres_messages(state, record.room_id)


async def test_a_queue_entry_waits_for_an_insert_that_lands_late(state: AppState) -> None:
    """Hole 7: a DM insert into MongoDB that timed out may still land. Its
    queue entry, marked missed, must wait for it rather than be dropped the
    first time replay finds no document, or PostgreSQL never gets the DM."""
    await state.replication.supervisor.stop()  # this test drives replay itself
    record = await _record(state)
    db = state.mongo.db
    await mongo_dm.mark_missed(db, record)  # the entry, written before the insert

    await state.replication.replay.replay_to_postgres()  # finds no document yet
    await mongo_dm.insert_many(db, [record], clock=ServerClock())  # the late insert lands
    await state.replication.replay.replay_to_postgres()

    assert record.id in await postgres_messages(state, record.room_id)
    assert await db[PG_REPLAY_QUEUE].count_documents({}) == 0


async def test_a_claim_without_an_answer_is_released_on_the_next_pass(state: AppState) -> None:
    """A replay claim that times out may still commit (PostgreSQL froze as it
    committed): its rows are then leased to a worker that does not know it.
    Before, they waited out the whole lease (20 s) before anyone replayed them;
    now the worker releases its unanswered claims by token on its next pass."""
    await state.replication.supervisor.stop()  # this test drives replay itself
    replay = state.replication.replay
    record = await _record(state)
    async with state.postgres.sessionmaker.begin() as session:
        await pg_dm.upsert_many_newer(session, [record])
        await replay_queue.queue_missed(session, record)

    state.replication.postgres_breaker.trip("the claim gets no answer")
    with pytest.raises(StorageError):
        await replay.replay_to_mongo()
    state.replication.postgres_breaker._close()
    store, token = replay.unsettled[-1]  # earlier ones: passes the supervisor's stop cancelled
    assert store == "postgresql"
    async with state.postgres.sessionmaker.begin() as session:  # it committed after all
        claimed = await replay_queue.claim_due(session, 10, 0.0, 600.0, token)
    assert record.id in [entry.entity_id for entry in claimed]

    await replay.run_once()

    assert replay.unsettled == []
    assert record.id in await mongo_messages(state, record.room_id)
    async with state.postgres.sessionmaker.begin() as session:
        assert await replay_queue.claim_due(session, 10, 0.0, 1.0, "check") == []


async def _rename(state: AppState, profile_id: uuid.UUID, name: str) -> None:
    async with state.postgres.sessionmaker.begin() as session:
        await change_profile(session, profile_id, {"name": name}, state.replication.directory)


async def _mirrored_name(state: AppState, profile_id: uuid.UUID) -> object:
    doc = await state.mongo.db[PROFILES].find_one({"_id": key(profile_id)})
    return doc and doc["name"]


async def test_a_late_delivery_of_an_older_name_does_not_stay_in_the_mirror(
    state: AppState,
) -> None:
    """Hole 7: two renames delivered by two workers whose writes cross. The
    mirror is replaced whole, so the older delivery, landing last, left the
    older name in MongoDB for good. The delivery that lands stale now finds the
    profile changed since it read it and queues it again."""
    await state.replication.supervisor.stop()  # this test drives replay itself
    replay = state.replication.replay
    ada = await make_person(state, "Ada")
    while await replay.replay_to_mongo():
        pass
    await _rename(state, ada.id, "Older")
    slow = await state.postgres.run(
        "TEST_CLAIM", lambda s: _claim_for_mongo(s, 100, secrets.token_hex(8))
    )  # a worker that read "Older" and is slow to write it
    await _rename(state, ada.id, "Newer")
    await replay.replay_to_mongo()  # another worker delivers "Newer" first
    assert await _mirrored_name(state, ada.id) == "Newer"

    await replay._deliver_to_mongo(slow)  # "Older" lands last
    assert await _mirrored_name(state, ada.id) == "Older"
    await replay.replay_to_mongo()

    assert await _mirrored_name(state, ada.id) == "Newer"


async def test_settling_a_claim_drops_what_postgresql_now_holds_and_keeps_what_may_come(
    state: AppState,
) -> None:
    """Settling a claim drops the entries marking exactly the version replay
    wrote. An entry a newer write marked since the claim stays queued; so does
    one whose version replay did not find (no document, or the document holds
    a version from the other store's replay: the entry's could be a delete,
    which outranks it), until it is older than the orphan age. A postponed
    entry is held back, and the lease is given up."""
    await state.replication.supervisor.stop()  # this test drives the queue itself
    db = state.mongo.db
    delivered, rewritten, superseded, held = [await _record(state) for _ in range(4)]
    await mongo_dm.insert_many(db, [delivered, rewritten, superseded, held], clock=ServerClock())
    await mongo_dm.upsert_newer(db, superseded.edited("via replay"), pending=False)
    young, old = await _record(state), await _record(state)
    for entry in (young, old):
        await mongo_dm.mark_missed(db, entry)  # entries whose inserts never landed
    claim = await mongo_dm.claim_pending(
        db, "release-test", timedelta(seconds=60), timedelta(0), 10
    )
    assert len(claim.entry_ids) == 6 and len(claim.records) == 4
    await mongo_dm.mark_missed(db, rewritten.edited("newer"))  # a write since the claim

    await mongo_dm.settle_claim(db, claim, postponed={key(held.id)}, orphan_age=timedelta(hours=1))

    left = {doc["_id"]: doc async for doc in db[PG_REPLAY_QUEUE].find({})}
    assert set(left) == {key(r.id) for r in (rewritten, superseded, held, young, old)}
    assert left[key(held.id)]["claimUntil"] > await server_time(db)
    assert await db[REPLAY_LEASES].count_documents({}) == 0
    again = await mongo_dm.claim_pending(db, "next", timedelta(seconds=60), timedelta(0), 10)
    expected = (rewritten, superseded, young, old)
    assert sorted(again.entry_ids) == sorted(key(r.id) for r in expected)
    await mongo_dm.settle_claim(db, again, orphan_age=timedelta(0))
    assert [doc["_id"] async for doc in db[PG_REPLAY_QUEUE].find({})] == [key(held.id)]


async def test_one_worker_at_a_time_holds_the_replay_lease(
    state: AppState, stack: DevStack
) -> None:
    """Workers claiming at once: one takes the due entries under the lease
    and, once it releases them as delivered, none is left and the lease is
    free. On MongoDB no other worker gets it (the upsert checks its filter as
    it writes); FerretDB v1 does not recheck, so two may both take it, which
    costs a second, harmless delivery. A holder that never releases (a
    crashed worker) keeps the others out until its lease ends."""
    await state.replication.supervisor.stop()  # this test drives the queue itself
    db = state.mongo.db
    entries = [await _record(state) for _ in range(40)]
    await mongo_dm.insert_many(db, entries, clock=ServerClock())
    for entry in entries:
        await mongo_dm.mark_missed(db, entry)
    lease, grace = timedelta(seconds=60), timedelta(0)

    claims = await asyncio.gather(
        *(mongo_dm.claim_pending(db, f"worker-{n}", lease, grace, 40) for n in range(4))
    )

    holders = [claim for claim in claims if claim.entry_ids]
    assert holders and (stack.mongo.kind != "mongod" or len(holders) == 1)
    for claim in holders:
        assert set(claim.entry_ids) == {key(entry.id) for entry in entries}
    for claim in claims:
        await mongo_dm.settle_claim(db, claim, orphan_age=timedelta(hours=1))
    assert await db[PG_REPLAY_QUEUE].count_documents({}) == 0
    assert await db[REPLAY_LEASES].count_documents({}) == 0

    await mongo_dm.mark_missed(db, entries[0].edited("again"))
    crashed = await mongo_dm.claim_pending(db, "crashed", timedelta(seconds=1), grace, 40)
    assert crashed.entry_ids
    assert not (await mongo_dm.claim_pending(db, "next", lease, grace, 40)).entry_ids
    await asyncio.sleep(1.2)  # the lease is on the server's clock
    assert (await mongo_dm.claim_pending(db, "next", lease, grace, 40)).entry_ids


async def test_a_replayed_version_that_meets_a_newer_one_landing_first_loses_quietly(
    state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replay to MongoDB reads the stored version, finds it older, and
    replaces it conditionally; a newer version landing in between makes the
    replace's upsert meet a duplicate key. That is the version order working:
    the newer version stays and the call succeeds. (FerretDB v1 answered the
    bulk form of that replace without the counts PyMongo merges, so the
    replay worker crashed with a KeyError and its batch waited out the lease.)"""
    db = state.mongo.db
    stored = await _record(state)
    await mongo_dm.insert_many(db, [stored], clock=ServerClock())
    replayed, newest = stored.edited("replayed"), stored.edited("replayed").edited("newest")
    insert_new = mongo_dm._insert_new

    async def then_a_newer_write_lands(*args: Any, **kwargs: Any) -> Any:
        rejected = await insert_new(*args, **kwargs)
        assert await mongo_dm.upsert_newer(db, newest, pending=False)
        return rejected

    monkeypatch.setattr(mongo_dm, "_insert_new", then_a_newer_write_lands)

    assert (await mongo_dm.upsert_many_newer(db, [replayed])).collided == []

    kept = await mongo_dm.get(db, stored.id)
    assert kept is not None and kept.content == "newest"


async def test_a_pass_that_fails_unexpectedly_releases_its_claim_on_the_next(
    state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass ended by something other than a storage error (a bug, a driver
    surprise) still leaves its claim to be released by token on the next pass,
    so the entries are delivered then, not after the 20-second lease."""
    await state.replication.supervisor.stop()  # this test drives replay itself
    replay = state.replication.replay
    record = await _record(state)
    await mongo_dm.mark_missed(state.mongo.db, record)
    await mongo_dm.insert_many(state.mongo.db, [record], clock=ServerClock())
    write = pg_dm.upsert_many_newer

    async def surprise(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("not a storage error")

    monkeypatch.setattr(pg_dm, "upsert_many_newer", surprise)
    with pytest.raises(RuntimeError):
        await replay.replay_to_postgres()
    monkeypatch.setattr(pg_dm, "upsert_many_newer", write)

    await replay.run_once()

    assert replay.unsettled == []
    assert record.id in await postgres_messages(state, record.room_id)


async def test_a_pass_past_its_deadline_halves_the_batch_and_quick_ones_restore_it(
    state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch too big for a busy store fails pass after pass: each direction's
    batch halves after a pass that ran past a deadline and doubles back after
    a quick full one, and `/api/metrics` shows its size."""
    await state.replication.supervisor.stop()  # this test drives replay itself
    replay = state.replication.replay
    replay.to_postgres_batch = BatchSize(4, floor=1, quick=60.0)  # every pass counts as quick
    missed = [await _record(state), await _record(state)]
    await mongo_dm.insert_many(state.mongo.db, missed, clock=ServerClock())
    for record in missed:
        await mongo_dm.mark_missed(state.mongo.db, record)  # due at once
    claim = mongo_dm.claim_pending

    async def slow_claim(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.3)
        return await claim(*args, **kwargs)

    monkeypatch.setattr(replay_module, "CLAIM_DEADLINE", 0.1)
    monkeypatch.setattr(mongo_dm, "claim_pending", slow_claim)
    with pytest.raises(StorageError):
        await replay.replay_to_postgres()
    assert replay.to_postgres_batch.current == 2
    assert replay.to_mongo_batch.current == replay.to_mongo_batch.ceiling
    assert "parley_replay_batch_from_mongodb 2" in state.replication.metrics.render()

    monkeypatch.undo()
    assert await replay.run_once()  # a full batch of 2: more may be waiting

    assert replay.to_postgres_batch.current == 4
    assert "parley_replay_batch_from_mongodb 4" in state.replication.metrics.render()
    for record in missed:
        assert record.id in await postgres_messages(state, record.room_id)


@pytest.mark.parametrize("landed", ["marker and document", "marker alone"])
async def test_replay_settles_the_marker_of_a_write_that_landed_after_its_send_gave_up(
    state: AppState, landed: str
) -> None:
    """A send whose MongoDB write timed out (a frozen server) is queued for
    MongoDB in PostgreSQL; when the server thaws it executes what was waiting
    on its socket: the marker, and the document too if its insert had been
    sent (it follows the marker's answer, so usually it had not). Replay
    delivers the version from PostgreSQL, which has it: the marker goes with
    the delivery, not five seconds later when replay to PostgreSQL may claim
    it (MongoDB thaws at 40/s converged in 5.3-5.7 s with the marker alone)."""
    await state.replication.supervisor.stop()  # this test drives replay itself
    record = await _record(state)
    async with state.postgres.sessionmaker.begin() as session:
        await pg_dm.upsert_many_newer(session, [record])
        await replay_queue.queue_missed(session, record)  # the send gave up on MongoDB
    # its write landed late
    await mongo_dm.insert_many(state.mongo.db, [record], clock=ServerClock())
    if landed == "marker alone":
        await state.mongo.db[DIRECT_MESSAGES].delete_one({"_id": key(record.id)})
    queue = state.mongo.db[PG_REPLAY_QUEUE]
    assert await queue.count_documents({"_id": key(record.id)}) == 1

    await state.replication.replay.replay_to_mongo()

    assert await queue.count_documents({"_id": key(record.id)}) == 0
    async with state.postgres.sessionmaker.begin() as session:
        assert await replay_queue.claim_due(session, 10, 0.0, 1.0, "check") == []


@pytest.mark.parametrize("refusing", ["postgresql", "mongodb"])
async def test_a_send_one_store_refuses_is_marked_missed_in_the_other_in_the_same_write(
    state: AppState, refusing: str
) -> None:
    """While a store is down the other carries every send alone; a send that
    finds a store's breaker open writes its queue entry in the other already
    marked missed, not with a command of its own afterwards (a third of the
    survivor's work per send). The entry is due for replay at once, as before."""
    await state.replication.supervisor.stop()  # this test drives replay itself
    replication = state.replication
    record = await _record(state)
    breaker = (
        replication.postgres_breaker if refusing == "postgresql" else replication.mongo_breaker
    )
    breaker.trip(f"{refusing} is down")

    written = await replication.direct_messages.send(record, client_nonce=True)

    assert refusing not in written.stores and len(written.stores) == 1
    assert await _marked_missed(state, record, refusing)
    mark_commands = [op for (_, _, op) in replication.metrics.operations if "QUEUE_FOR" in op]
    assert mark_commands == []
    assert replication.backlog.missing_in(refusing) == 1  # noted now, not a stale view

    await breaker.recover()
    await replication.replay.run_once()
    assert record.id in await mongo_messages(state, record.room_id)
    assert record.id in await postgres_messages(state, record.room_id)
    assert await markers_left(state) == (0, 0)


async def _marked_missed(state: AppState, record: MessageRecord, refusing: str) -> bool:
    if refusing == "postgresql":
        entry = await state.mongo.db[PG_REPLAY_QUEUE].find_one({"_id": key(record.id)})
        return entry is not None and entry["missed"] is True
    async with state.postgres.sessionmaker.begin() as session:
        rows = await session.execute(
            select(ReplayEntry.missed).where(ReplayEntry.entity_id == record.id)
        )
        return rows.scalars().all() == [True]


async def test_a_new_dms_entry_is_marked_on_the_servers_clock_and_an_earlier_attempts_again(
    state: AppState,
) -> None:
    """New DMs' queue entries are inserted with `markedAt` from the server's
    clock as the writer reads it; an entry an earlier attempt at the same write
    left (here held back by replay) is marked again instead: hold removed,
    mark renewed."""
    await state.replication.supervisor.stop()  # no confirmer, no replay: the entries stay
    first, again = await _record(state), await _record(state)
    queue = state.mongo.db[PG_REPLAY_QUEUE]
    await queue.insert_one(
        {
            "_id": key(again.id),
            "claimUntil": datetime(2100, 1, 1, tzinfo=UTC),
            "markedAt": datetime(2020, 1, 1, tzinfo=UTC),
        }
    )

    await mongo_dm.insert_many(state.mongo.db, [first, again], [again.id], clock=ServerClock())

    server_now = await server_time(state.mongo.db)
    entries = {doc["_id"]: doc async for doc in queue.find({})}
    for record in (first, again):
        entry = entries[key(record.id)]
        assert abs(entry["markedAt"] - server_now) < timedelta(seconds=2)
        assert (entry["_id"], entry["digest"]) == mongo_dm.marker_of(record)
        assert "claimUntil" not in entry
    assert entries[key(again.id)]["missed"] is True
    assert "missed" not in entries[key(first.id)]
