"""/api/health against real servers that are killed (-9), frozen (SIGSTOP),
thawed and restarted. Each case also checks the endpoint answers within a second."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from parley.devstack import DevStack
from parley.resilience import check_database_health
from parley.state import AppState
from tests.support import eventually

pytestmark = pytest.mark.fault


async def _health(client: httpx.AsyncClient) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    response = await client.get("/api/health")
    return response.status_code, response.json(), time.monotonic() - started


async def test_healthy_shape(client: httpx.AsyncClient) -> None:
    status, body, elapsed = await _health(client)
    assert status == 200
    assert body["status"] == "healthy"
    assert body["message"] == "All databases operational"
    databases = body["databases"]
    assert isinstance(databases, dict)
    assert databases["mongodb"] is True and databases["postgresql"] is True
    assert str(databases["timestamp"]).endswith("Z")
    assert elapsed < 1


FAULTS: dict[str, Callable[[DevStack], None]] = {
    "mongo_killed": lambda s: s.mongo.process.kill(),
    "mongo_frozen": lambda s: s.mongo.process.freeze(),
    "postgres_killed": lambda s: s.postgres.process.kill(),
    "postgres_frozen": lambda s: s.postgres.process.freeze(),
}
EXPECTED_DOWN = {
    "mongo_killed": "mongodb",
    "mongo_frozen": "mongodb",
    "postgres_killed": "postgresql",
    "postgres_frozen": "postgresql",
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_one_database_down_is_degraded_then_recovers(
    fault: str, client: httpx.AsyncClient, stack: DevStack
) -> None:
    # Warm both pools first so a freeze hits established connections too.
    assert (await _health(client))[0] == 200
    FAULTS[fault](stack)
    down = EXPECTED_DOWN[fault]
    status, body, elapsed = await _health(client)
    assert status == 200
    assert body["status"] == "degraded"
    databases = body["databases"]
    assert isinstance(databases, dict)
    assert databases[down] is False
    assert databases["mongodb" if down == "postgresql" else "postgresql"] is True
    assert ("MongoDB" if down == "mongodb" else "PostgreSQL") + " is down" in str(body["message"])
    assert elapsed < 1.0

    process = stack.mongo.process if down == "mongodb" else stack.postgres.process
    if process.frozen:
        process.thaw()
    else:
        process.start()

    async def healthy() -> bool:
        return (await _health(client))[1]["status"] == "healthy"

    await eventually(healthy, timeout=15)


async def test_both_down_is_unhealthy_503_then_recovers(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    stack.mongo.process.freeze()
    stack.postgres.process.kill()
    status, body, elapsed = await _health(client)
    assert status == 503
    assert body["status"] == "unhealthy"
    assert elapsed < 1.0
    stack.mongo.process.thaw()
    stack.postgres.process.start()

    async def healthy() -> bool:
        return (await _health(client))[0] == 200

    await eventually(healthy, timeout=15)


async def test_check_database_health_function(state: AppState, stack: DevStack) -> None:
    result = await check_database_health(state.mongo, state.postgres)
    assert set(result) == {"mongodb", "postgresql", "timestamp"}
    assert result["mongodb"] is True and result["postgresql"] is True
    stack.mongo.process.kill()
    started = time.monotonic()
    result = await check_database_health(state.mongo, state.postgres, deadline=0.3)
    assert time.monotonic() - started < 1
    assert result["mongodb"] is False and result["postgresql"] is True
    stack.mongo.process.start()


async def test_one_failed_health_probe_does_not_open_the_breaker_but_a_dead_store_does(
    client: httpx.AsyncClient, state: AppState, stack: DevStack
) -> None:
    breaker = state.replication.mongo_breaker
    for _ in range(breaker.policy.window):  # a window of answered calls
        assert (await _health(client))[1]["status"] == "healthy"
    stack.mongo.process.kill()
    assert (await _health(client))[1]["status"] == "degraded"
    assert not breaker.is_open  # one probe is one call in the breaker's window

    async def opened() -> bool:  # probes (and replay) keep failing: down
        assert (await _health(client))[1]["status"] == "degraded"
        return breaker.is_open

    await eventually(opened, timeout=10)
    stack.mongo.process.start()

    async def closed() -> bool:
        return not breaker.is_open

    await eventually(closed, timeout=15)


async def test_details_say_whether_realtime_hears_other_instances(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    async def realtime() -> dict[str, object]:
        details = (await _health(client))[1]["details"]
        assert isinstance(details, dict)
        status: dict[str, object] = details["realtime"]
        return status

    async def listening(expected: bool) -> bool:
        return (await realtime())["listening"] is expected

    await eventually(lambda: listening(True), timeout=15)
    reconnects = (await realtime())["reconnects"]
    assert isinstance(reconnects, int)
    stack.postgres.process.kill()
    await eventually(lambda: listening(False), timeout=15)
    stack.postgres.process.start()
    await eventually(lambda: listening(True), timeout=15)
    assert (await realtime())["reconnects"] == reconnects + 1
