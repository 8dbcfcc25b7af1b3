"""Password hashing off the event loop with bounded concurrency (issue 15):
each argon2id hash takes 64 MiB, so at most `concurrency` run at once, at most
`max_waiting` more wait, and the rest are refused at once (503 Overloaded)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from parley.auth import passwords
from parley.errors import ServiceUnavailable
from parley.security.hashing import HashingPool


async def test_at_most_concurrency_hashes_run_at_once() -> None:
    pool = HashingPool(concurrency=2, max_waiting=10)
    running = 0
    peak = 0
    lock = threading.Lock()

    def work() -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return 1

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    tick = asyncio.create_task(ticker())
    results = await asyncio.gather(*(pool.run(work) for _ in range(8)))
    tick.cancel()
    assert results == [1] * 8
    assert peak == 2
    assert ticks > 20  # the event loop kept running while hashing
    pool.close()


async def test_beyond_the_queue_requests_are_refused_at_once() -> None:
    pool = HashingPool(concurrency=1, max_waiting=2)
    release = threading.Event()

    def blocked() -> None:
        release.wait(5)

    tasks = [asyncio.create_task(pool.run(blocked)) for _ in range(3)]
    await asyncio.sleep(0.05)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as refused:
        await pool.run(blocked)
    assert time.monotonic() - started < 0.1
    assert refused.value.code == "Overloaded"
    assert refused.value.headers()["Retry-After"]
    release.set()
    await asyncio.gather(*tasks)
    pool.close()


async def test_passwords_use_the_configured_pool() -> None:
    pool = HashingPool(concurrency=1, max_waiting=1)
    previous = passwords.use_pool(pool)
    try:
        stored = await passwords.hash_password("correct horse")
        assert await passwords.verify_password(stored, "correct horse")
        assert pool.completed == 2
    finally:
        passwords.use_pool(previous)
        pool.close()
