from __future__ import annotations

import asyncio

from parley.resilience import CircuitBreaker
from parley.storage.errors import StorageUnavailable

DOWN = StorageUnavailable("down", store="mongodb")


async def test_opens_after_threshold_consecutive_failures() -> None:
    breaker = CircuitBreaker("mongodb", lambda: asyncio.sleep(0), failure_threshold=3)
    breaker.record_failure(DOWN)
    breaker.record_failure(DOWN)
    breaker.record_success()  # resets the count
    breaker.record_failure(DOWN)
    breaker.record_failure(DOWN)
    assert breaker.allow()
    breaker.record_failure(DOWN)
    assert breaker.is_open and not breaker.allow()


async def test_probe_closes_it_after_running_recovery_hooks() -> None:
    answers = [DOWN, DOWN, None]
    order: list[str] = []

    async def probe() -> None:
        answer = answers.pop(0)
        order.append("probe")
        if answer:
            raise answer

    async def hook() -> None:
        order.append(f"hook while {breaker.state}")

    breaker = CircuitBreaker("postgresql", probe, failure_threshold=1, probe_interval=0.001)
    breaker.on_recovery(hook)
    loop = asyncio.create_task(breaker.run_probe_loop())
    breaker.record_failure(DOWN)
    for _ in range(200):
        if not breaker.is_open:
            break
        await asyncio.sleep(0.002)
    loop.cancel()
    assert not breaker.is_open
    assert order == ["probe", "probe", "probe", "hook while open"]


async def test_trip_is_idempotent_and_counts_openings() -> None:
    breaker = CircuitBreaker("mongodb", lambda: asyncio.sleep(0))
    breaker.trip("health probe failed")
    breaker.trip("again")
    assert breaker.opened_count == 1
