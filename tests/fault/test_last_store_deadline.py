"""The last store standing gets longer before a DM request gives up on it.

While PostgreSQL is out (frozen, its breaker open), MongoDB answers DMs alone:
a call to it that misses the ordinary deadline has no store to fall back to,
so it would be a 503. Such calls get `PARLEY_LAST_STORE_DEADLINE` instead, and a
MongoDB stall longer than `PARLEY_DB_DEADLINE` but shorter than that costs the
send time, not an error."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from parley.devstack import DevStack
from parley.state import AppState
from tests.fault.dm_scenario import Scenario

pytestmark = pytest.mark.fault

# Longer than PARLEY_DB_DEADLINE (0.5 s) by a second, so the insert meets the
# stall however long the steps before it take on a slow machine; under the
# drivers' 2 s backstop (PyMongo's monitor would clear the pool); well inside
# the test's own last-store deadline, leaving 1.5 s to answer after the thaw.
STALL_SECONDS = 1.5
LAST_STORE_DEADLINE = 3.0


async def test_a_send_outlasts_a_stall_of_the_last_store_standing(
    client: httpx.AsyncClient, state: AppState, stack: DevStack
) -> None:
    s = await Scenario.create(client, state)
    assert (await s.send_dm("before")).status_code == 201  # caches warm
    state.replication.dm_mongo.last_store_deadline = LAST_STORE_DEADLINE

    stack.postgres.process.freeze()
    try:
        state.replication.postgres_breaker.trip("PostgreSQL frozen by the test")
        stack.mongo.process.freeze()
        thaw = asyncio.get_running_loop().call_later(STALL_SECONDS, stack.mongo.process.thaw)
        try:
            response = await s.send_dm("through the stall")
        finally:
            thaw.cancel()
            stack.mongo.process.thaw()
    finally:
        stack.postgres.process.thaw()

    assert response.status_code == 201, response.text
    assert response.headers["X-Data-Source"] == "mongodb"
    await s.assert_converged()
