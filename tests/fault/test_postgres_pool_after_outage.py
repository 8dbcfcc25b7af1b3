"""PostgreSQL's pool is full again before the store takes traffic after an
outage. A restart leaves every pooled connection dead; the pool notices at the
first error and replaces each one when it is next checked out, so the first
requests back each opened a connection on their own time (in the failover
benchmark, sends answered in 0.3-0.7 s all at once after every recovery)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event

from parley.devstack import DevStack
from parley.state import AppState
from tests.support import eventually

pytestmark = pytest.mark.fault


async def test_the_pool_is_reopened_before_postgresql_serves_again(
    state: AppState, stack: DevStack
) -> None:
    pool_size, breaker = state.settings.pg_pool_size, state.replication.postgres_breaker

    async def pool_open() -> bool:
        return bool(state.postgres.engine.pool.checkedin() == pool_size)  # type: ignore[attr-defined]

    async def closed() -> bool:
        return breaker.state == "closed"

    await eventually(pool_open)  # the start-up warm-up
    stack.postgres.process.kill()
    breaker.trip("PostgreSQL killed by the test")
    stack.postgres.process.start()
    await eventually(closed, timeout=30.0)
    await eventually(pool_open)  # pings that gave up on time may still be connecting
    opened: list[object] = []
    event.listen(state.postgres.engine.sync_engine, "connect", lambda *_: opened.append(1))

    await asyncio.gather(*(state.postgres.ping(5.0) for _ in range(pool_size)))

    assert opened == []
