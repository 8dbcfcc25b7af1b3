"""Rate limits while a database is down (issue 15). PostgreSQL holds the shared
counts: while it is frozen or killed each instance decides from its own counts,
so the limit still holds here and DMs still send (from MongoDB); when it
returns the shared counts are used again. While MongoDB is down nothing about
the limits changes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from parley.app import create_app
from parley.devstack import DevStack
from parley.security.ratelimit import LOCAL_GAUGE, Limit, Rule
from parley.settings import Settings
from parley.state import AppState
from tests.fault.dm_scenario import Scenario
from tests.fault.test_dm_faults import FAULTS
from tests.support import ensure_running, eventually

pytestmark = pytest.mark.fault


@pytest.fixture
async def limited(migrated: Settings, app: FastAPI) -> AsyncIterator[FastAPI]:
    """Three sends a minute per account, on the database `app` cleaned."""
    del app
    application = create_app(migrated.model_copy(update={"send_limit_account": "3/minute"}))
    async with application.router.lifespan_context(application):
        yield application


async def local_only(http: httpx.AsyncClient) -> bool:
    metrics = (await http.get("/api/metrics")).text
    return f"{LOCAL_GAUGE} 1" in metrics.splitlines()


async def bob_sends(s: Scenario, content: str) -> int:
    body = {"content": content}
    return (await s.client.post(s.url(s.dm), json=body, headers=s.bob.headers)).status_code


@pytest.mark.parametrize("fault", ["postgres_frozen", "postgres_killed", "mongo_frozen"])
async def test_send_limits_hold_and_dms_send_while_a_store_is_down(
    fault: str, limited: FastAPI, stack: DevStack
) -> None:
    breaks, repairs, survivor = FAULTS[fault]
    state: AppState = limited.state.parley
    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as http:
        s = await Scenario.create(http, state)
        assert (await s.send_dm("before")).status_code == 201  # counted in PostgreSQL too
        breaks(stack)
        try:
            for i in range(2):
                during = await s.send_dm(f"during {i}")
                assert during.status_code == 201, during.text
                assert during.headers["X-Data-Source"] == survivor
            refused = await s.send_dm("one too many")
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"] == "TooManyRequests"
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            # Bob has his own three, counted here alone while PostgreSQL is down.
            assert [await bob_sends(s, f"bob {i}") for i in range(4)] == [201, 201, 201, 429]
            assert await local_only(http) == (survivor == "mongodb")
        finally:
            repairs(stack)
            ensure_running(stack)

        limiter = state.throttle.limiter
        probe = [Limit(Rule("probe", 1000, 60), "probe")]

        async def shared_again() -> bool:
            await limiter.peek(probe)
            return limiter.shared_available

        await eventually(shared_again, timeout=20, interval=0.1)
        assert not await local_only(http)
        # Ada's sends made while the store was down count on this instance.
        assert (await s.send_dm("still too many")).status_code == 429
        assert len(s.acknowledged) == 3
