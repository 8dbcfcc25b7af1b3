"""Replay makes way for users (issue 10): while users' calls to a store are
slow, the worker rests after each pass to keep to its duty; with quick calls
it runs flat out. Real stores,
a real replay loop, and real slow user calls (`pg_sleep` through the
PostgreSQL guard)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from parley.ids import new_id
from parley.replication.batching import BatchSize
from parley.replication.replay import YIELD_LATENCY, ReplayWorker
from parley.state import AppState
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo.clock import ServerClock
from parley.storage.records import MessageRecord, now_ms
from tests.dm_support import markers_left, postgres_messages
from tests.factories import make_dm, make_person
from tests.support import eventually

MISSED = 12
SLOW_CALL = 3 * YIELD_LATENCY


async def missed_in_postgres(state: AppState) -> list[MessageRecord]:
    """DMs MongoDB holds and PostgreSQL lacks, their entries due at once."""
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    records = []
    for n in range(MISSED):
        now = now_ms()
        records.append(
            MessageRecord(new_id(), dm, ada.id, f"m{n}", None, False, f"n-{n}", now, now)
        )
    await mongo_dm.insert_many(state.mongo.db, records, clock=ServerClock())
    for record in records:
        await mongo_dm.mark_missed(state.mongo.db, record)
    return records


@contextlib.asynccontextmanager
async def user_calls(state: AppState, seconds: float) -> AsyncIterator[None]:
    """User calls to PostgreSQL, one after another, each taking `seconds`,
    going on until the block ends; it starts once replay sees them."""

    async def call(session: AsyncSession) -> None:
        await session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})

    stop = asyncio.Event()

    async def keep_calling() -> None:
        while not stop.is_set():  # not cancelled mid-call: its connection stays whole
            await state.replication.dm_postgres.run("TEST_USER_CALL", call)
            await asyncio.sleep(0.01)

    async def replay_sees_them() -> bool:
        latency = state.replication.postgres.latency.seconds
        return latency > 0 and state.replication.replay.making_way() == (seconds >= YIELD_LATENCY)

    task = asyncio.create_task(keep_calling())
    try:
        await eventually(replay_sees_them)
        yield
    finally:
        stop.set()
        await task


async def replay_all(
    state: AppState, replay: ReplayWorker, records: list[MessageRecord]
) -> list[tuple[float, float, int]]:
    """Run the replay loop until PostgreSQL has every record; each pass to
    PostgreSQL that took entries on, as (start, end, entries)."""
    passes: list[tuple[float, float, int]] = []
    one_pass = replay.replay_to_postgres

    async def timed_pass() -> int:
        started = time.monotonic()
        taken = await one_pass()
        if taken:
            passes.append((started, time.monotonic(), taken))
        return taken

    replay.replay_to_postgres = timed_pass  # type: ignore[method-assign]
    task = asyncio.create_task(replay.run())
    try:

        async def delivered() -> bool:
            stored = await postgres_messages(state, records[0].room_id)
            return all(r.id in stored for r in records) and await markers_left(state) == (0, 0)

        await eventually(delivered, timeout=30.0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return passes


@pytest.fixture
async def replay(state: AppState) -> ReplayWorker:
    await state.replication.supervisor.stop()  # these tests drive replay themselves
    worker = state.replication.replay
    worker.duty = 0.5
    worker.to_postgres_batch = BatchSize(4, floor=1)
    return worker


async def test_while_user_calls_are_slow_replay_rests_as_long_as_it_works(
    state: AppState, replay: ReplayWorker
) -> None:
    records = await missed_in_postgres(state)
    async with user_calls(state, SLOW_CALL):
        passes = await replay_all(state, replay, records)

    assert [taken for _, _, taken in passes] == [4, 4, 4]  # the batch keeps its size
    for (start, end, _), (next_start, _, _) in itertools.pairwise(passes):
        assert next_start - end >= end - start  # duty 0.5: a rest at least as long as the pass


async def test_with_quick_user_calls_replay_runs_flat_out(
    state: AppState, replay: ReplayWorker
) -> None:
    records = await missed_in_postgres(state)
    async with user_calls(state, 0.0):
        assert not replay.making_way()
        passes = await replay_all(state, replay, records)

    assert [taken for _, _, taken in passes] == [4, 4, 4]
    assert "parley_replay_rest_seconds 0" in state.replication.metrics.render()
