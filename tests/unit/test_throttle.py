"""The sign-in rules over a fake clock: failed logins for an account first slow
down (a short window), then lock it (a long one); a locked account's attempts
count nothing, and the lock lifts once its window has passed."""

from __future__ import annotations

import pytest

from parley.errors import TooManyRequests
from parley.resilience import Metrics
from parley.security.ratelimit import RateLimiter
from parley.security.throttle import Throttle
from parley.settings import Settings
from tests.unit.test_ratelimit import Clock, FakeShared

EMAIL = "ada@example.com"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def throttle(clock: Clock) -> Throttle:
    settings = Settings.model_construct(
        login_limit_account_ip="100/minute",
        login_slowdown_account="2/minute",
        login_limit_account="4/hour",
        login_limit_ip="100/minute",
        register_limit_ip="10/hour",
        ws_connect_limit_ip="60/minute",
        ws_connect_limit_account="30/minute",
        send_limit_account="120/minute",
        send_limit_ip="600/minute",
        edit_limit_account="60/minute",
        edit_limit_ip="300/minute",
    )
    return Throttle(settings, RateLimiter(FakeShared(), Metrics(), clock=clock))


async def fail(throttle: Throttle, ip: str) -> None:
    await throttle.before_login(EMAIL, ip)
    await throttle.login_failed(EMAIL, ip)


async def refused_for(throttle: Throttle) -> int:
    with pytest.raises(TooManyRequests) as refused:
        await throttle.before_login(EMAIL, "10.9.9.9")
    return refused.value.retry_after


async def test_failures_slow_down_then_lock(throttle: Throttle, clock: Clock) -> None:
    await fail(throttle, "10.0.0.1")
    await fail(throttle, "10.0.0.2")
    assert 1 <= await refused_for(throttle) <= 60  # slowed down
    clock.now += 60
    await fail(throttle, "10.0.0.3")
    await fail(throttle, "10.0.0.4")
    locked = await refused_for(throttle)
    assert 60 < locked <= 3600  # locked: the first failure leaves the hour
    clock.now += 60
    for _ in range(10):  # attempts while locked count nothing
        assert await refused_for(throttle) == locked - 60
    clock.now += locked - 60
    await throttle.before_login(EMAIL, "10.9.9.9")  # the window passed: unlocked


async def test_a_password_change_lifts_the_lock(throttle: Throttle, clock: Clock) -> None:
    for i in range(2):
        await fail(throttle, f"10.0.1.{i}")
    clock.now += 60
    for i in range(2):
        await fail(throttle, f"10.0.2.{i}")
    assert await refused_for(throttle) > 60
    await throttle.password_changed(EMAIL)
    await throttle.before_login(EMAIL, "10.9.9.9")
