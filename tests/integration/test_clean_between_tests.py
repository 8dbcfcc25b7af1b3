"""The per-test clean-up must not let one test's leftovers act on the next one's
rows. Long-lived app processes (the realtime fault tests' `cluster`) outlive a
test: their replay worker may claim queue rows before `_clean` and confirm
(delete) them by id after the next test wrote its own. Ids must therefore never
repeat across clean-ups, as they never repeat in production."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.ids import new_id
from parley.settings import Settings
from parley.storage.postgres import replay_queue
from parley.storage.postgres.database import PostgresDatabase
from parley.storage.postgres.models import ReplayEntry
from parley.storage.postgres.replay_queue import queue_profile_mirror
from tests.conftest import _clean


async def test_a_stale_replay_confirm_cannot_delete_the_next_tests_queue_rows(
    migrated: Settings,
) -> None:
    postgres = PostgresDatabase.from_settings(migrated)
    try:
        await _clean(migrated)
        # A worker of a process that outlives the test claims the test's rows ...
        await postgres.run("TEST_QUEUE", lambda s: queue_profile_mirror(s, new_id()))
        stale = await postgres.run(
            "TEST_CLAIM", lambda s: replay_queue.claim_due(s, 500, 5.0, 5.0, "stale")
        )
        assert stale
        # ... the next test starts on a clean database and queues its mirror ...
        await _clean(migrated)
        fresh = new_id()
        await postgres.run("TEST_QUEUE", lambda s: queue_profile_mirror(s, fresh))
        # ... and the stale worker confirms what it delivered before the clean-up.
        await postgres.run("TEST_CONFIRM", lambda s: replay_queue.confirm(s, [e.id for e in stale]))

        async def queued(session: AsyncSession) -> int:
            count = select(func.count()).where(ReplayEntry.entity_id == fresh)
            return int((await session.execute(count)).scalar_one())

        assert await postgres.run("TEST_COUNT", queued) == 1, "the fresh row was deleted"
    finally:
        await postgres.dispose()
