"""A MongoDB operation the app stopped waiting for is never cancelled by it,
however late it runs (issue 10's wedge, again): a cancellation landing in
PyMongo's pool bookkeeping, while an operation waited for the pool's lock
past four deadlines under a burst, leaked checkouts until every checkout
timed out and MongoDB's breaker never closed (`storage.deadline`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from parley.settings import Settings
from parley.storage.errors import StorageTimeout
from parley.storage.mongo.database import MongoDatabase

DEADLINE = 0.05


async def test_an_operation_far_past_its_deadline_runs_to_its_end(migrated: Settings) -> None:
    mongo = MongoDatabase.from_settings(migrated)
    ended = asyncio.Event()
    cancelled = asyncio.Event()

    async def late(db: Any) -> None:
        try:
            # Ten deadlines: past the old backstop of four.
            await asyncio.sleep(DEADLINE * 10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        ended.set()

    try:
        with pytest.raises(StorageTimeout):
            await mongo.run("T", late, deadline=DEADLINE)
        await asyncio.wait_for(ended.wait(), 5)
        assert not cancelled.is_set()
        assert await mongo.ping(2.0) >= 0
    finally:
        await mongo.close()
