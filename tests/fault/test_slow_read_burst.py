"""The wedge scenario of issue 10: many concurrent DM history reads that scan
(FerretDB does not push a BSON-UUID filter down, so each read scans the
collection) and run past their deadlines. Afterwards MongoDB must be back in
use, and health healthy, within 5 s of the burst ending."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from parley.ids import new_id
from parley.state import AppState
from parley.storage.mongo.schema import DIRECT_MESSAGES
from tests.factories import make_dm, make_person
from tests.support import eventually

pytestmark = pytest.mark.fault

MESSAGES = 5000
READERS = 16
BURST_SECONDS = 6.0


async def test_breaker_closes_and_health_is_healthy_soon_after_a_slow_read_burst(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    start = datetime.now(UTC) - timedelta(days=1)
    documents = [
        {
            "_id": new_id(),
            "conversationId": dm,
            "authorId": ada.id,
            "content": f"m{i}",
            "fileUrl": None,
            "deleted": False,
            "nonce": uuid.uuid4().hex,
            "createdAt": start + timedelta(milliseconds=i),
            "updatedAt": start + timedelta(milliseconds=i),
        }
        for i in range(MESSAGES)
    ]
    for i in range(0, MESSAGES, 1000):  # MongoDB only: reads hedge to an empty PostgreSQL
        await state.mongo.db[DIRECT_MESSAGES].insert_many(documents[i : i + 1000])

    stop = time.monotonic() + BURST_SECONDS
    statuses: list[int] = []

    async def reader() -> None:
        while time.monotonic() < stop:
            response = await client.get(
                f"/api/rooms/{dm}/messages", params={"limit": 50}, headers=ada.headers
            )
            statuses.append(response.status_code)

    await asyncio.gather(*(reader() for _ in range(READERS)))
    # Mostly answered (by either store). On a saturated 2-CPU machine both
    # breakers may open for a moment: calls also wait for the event loop.
    assert statuses.count(200) > len(statuses) / 2
    breaker = state.replication.mongo_breaker

    async def recovered() -> bool:
        health = (await client.get("/api/health")).json()
        return breaker.state == "closed" and health["status"] == "healthy"

    await eventually(recovered, timeout=5, interval=0.1)
