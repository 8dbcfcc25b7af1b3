"""Supervised background loops: a failure is counted and restarted, a loop
that keeps failing is reported, a healthy one is not."""

from __future__ import annotations

import asyncio

from parley.resilience import Metrics, Supervisor


async def test_a_failing_loop_is_restarted_and_counted() -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics, min_backoff=0, max_backoff=0)
    runs = 0
    steady = asyncio.Event()

    async def job() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise RuntimeError(f"boom {runs}")
        steady.set()
        await asyncio.Event().wait()  # runs until cancelled

    supervisor.spawn("replay-worker", job)
    await asyncio.wait_for(steady.wait(), 5)
    assert runs == 3
    assert metrics.worker_failures["replay-worker"] == 2
    assert supervisor.failing() == {}
    assert 'parley_worker_failures_total{worker="replay-worker"} 2' in metrics.render()
    await supervisor.stop()


async def test_a_loop_that_keeps_failing_is_reported() -> None:
    supervisor = Supervisor(Metrics(), min_backoff=0, max_backoff=0)
    attempts = 0

    async def job() -> None:
        nonlocal attempts
        attempts += 1
        raise ValueError("bad row")

    supervisor.spawn("dm-confirmer", job)
    while attempts < 4:
        await asyncio.sleep(0)
    assert supervisor.failing() == {"dm-confirmer": "ValueError: bad row"}
    await supervisor.stop()


async def test_a_loop_that_returns_is_started_again() -> None:
    supervisor = Supervisor(Metrics(), min_backoff=0, max_backoff=0)
    starts = 0

    async def job() -> None:
        nonlocal starts
        starts += 1

    supervisor.spawn("probe", job)
    while starts < 3:
        await asyncio.sleep(0)
    await supervisor.stop()
    assert starts >= 3


async def test_stop_cancels_every_loop() -> None:
    supervisor = Supervisor(Metrics())
    cancelled = asyncio.Event()

    async def job() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    supervisor.spawn("transport", job)
    await asyncio.sleep(0)
    await supervisor.stop()
    assert cancelled.is_set()
